"""What the service checks about a request before any route sees it (issue 7, item 4):

* **Body size**: JSON routes accept at most `MAX_JSON_BODY_BYTES`, the file-upload routes
  `MAX_UPLOAD_BODY_BYTES` (each also checks its own file limit). A declared `Content-Length` above
  the limit is refused at once; a chunked body is counted as it streams and cut off when it
  passes the limit, so no body larger than the limit is ever held in memory.
* **HTTPS**: with `FORCE_HTTPS`, a plain-HTTP request gets a 308 to the same URL on https
  (method and body preserved), except the health probes and `/metrics`, which load balancers
  and Prometheus call over plain HTTP inside the network.
  The scheme is the one `X-Forwarded-Proto` gave when the proxy is trusted (`TRUSTED_PROXIES`,
  applied by Uvicorn's proxy-headers middleware outside this one).
"""

from __future__ import annotations

import re

from starlette.datastructures import URL
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rodistaa.http.errors import error_response

# Routes that take multipart files; every other route takes JSON (or nothing).
UPLOAD_PATHS = (
    re.compile(r"^/v1/kyc/upload$"),
    re.compile(r"^/v1/trucks/[^/]+/documents$"),
    re.compile(r"^/v1/inspections/[^/]+/photos$"),
    re.compile(r"^/v1/pod/upload$"),
)
TOO_LARGE_MESSAGE = "The request body is too large"
# Probed and scraped over plain HTTP inside the cluster (`/metrics` has its own token).
PLAIN_HTTP_PATHS = ("/health", "/ready", "/v1/health", "/metrics")


class BodyTooLarge(StarletteHTTPException):
    """Raised inside `receive` once a streamed body passes the limit. An HTTPException, so that
    FastAPI's body parsing lets it through to the error handlers instead of answering 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, TOO_LARGE_MESSAGE)
        self.details = {"maxBytes": limit}


def body_limit_for(path: str, *, json_bytes: int, upload_bytes: int) -> int:
    return upload_bytes if any(p.match(path) for p in UPLOAD_PATHS) else json_bytes


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, json_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.json_bytes = json_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(scope["path"], json_bytes=self.json_bytes, upload_bytes=self.upload_bytes)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if response_started:  # too late for a 413; the connection is dropped by the server
                raise
            await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(
            413,
            "PAYLOAD_TOO_LARGE",
            TOO_LARGE_MESSAGE,
            details={"maxBytes": limit},
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class HttpsRedirectMiddleware:
    """308 to https for plain-HTTP requests (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") == "https" or scope["path"] in PLAIN_HTTP_PATHS:
            await self.app(scope, receive, send)
            return
        url = URL(scope=scope).replace(scheme="https")
        if url.port == 80:
            url = url.replace(port=None)
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", str(url).encode("latin-1")), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})
