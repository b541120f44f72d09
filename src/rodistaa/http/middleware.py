"""ASGI middleware: request id (accepted or generated, echoed), one access line per request and
the request metrics (`http_requests_total`, `http_request_duration_seconds`) from the same
measurement, so logs and metrics never disagree about a request."""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from rodistaa.http.context import set_request_id
from rodistaa.ops.metrics import observe_request

access_log = structlog.get_logger("rodistaa.access")

# A client-supplied id is echoed into logs and headers, so only a safe, short shape is kept.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.match(candidate) else None
    return None


def route_template(scope: Scope) -> str:
    """`/v1/bookings/{bookingId}` for `/v1/bookings/RID-20261129-0001`.

    Rebuilt from the path parameters because routers included with a prefix keep their own,
    unprefixed path. Unmatched requests share one label so random URLs can't explode the
    cardinality of logs and metrics."""
    if scope.get("route") is None:
        return "<unmatched>"
    by_value = {str(value): name for name, value in scope.get("path_params", {}).items()}
    segments = scope["path"].split("/")
    return "/".join(f"{{{by_value[s]}}}" if s in by_value else s for s in segments)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Per-request state (the user id, the rate-limit budget) must not leak between requests:
        # Uvicorn gives each request a copy of the lifespan state, other servers may not.
        scope["state"] = dict(scope.get("state") or {})
        request_id = _incoming_request_id(scope) or str(ULID())
        set_request_id(request_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500}

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            duration_s = time.perf_counter() - started
            route = route_template(scope)
            observe_request(scope["method"], route, status_holder["status"], duration_s)
            state = scope.get("state") or {}
            access_log.info(
                "request",
                method=scope["method"],
                route=route,
                status=status_holder["status"],
                duration_ms=round(duration_s * 1000, 2),
                user_id=state.get("user_id"),
                api_key_id=state.get("api_key_id"),
            )
