"""Response headers that make browsers treat API responses safely (issue 7, item 4, in part).

* `X-Content-Type-Options: nosniff`: a JSON body, or an uploaded file served back (PODs, KYC
  scans), is never sniffed into something executable.
* `Referrer-Policy: no-referrer`: URLs carry ids; they do not leak to other sites.
* `X-Frame-Options: DENY` and a `Content-Security-Policy` that allows nothing
  (`default-src 'none'; frame-ancestors 'none'`) on API responses: nothing the API returns is
  meant to be rendered or framed. The interactive docs pages (`/docs`, `/redoc`) are left without
  the CSP: they load their scripts and styles from a CDN until they are bundled (issue 7).
* `Strict-Transport-Security` on HTTPS requests only (as seen through the proxy's
  `X-Forwarded-Proto` when Uvicorn trusts it): browsers ignore it on plain HTTP anyway, and a
  developer's `http://127.0.0.1` must not be pinned to HTTPS.

A header a route set itself is kept (a file download chooses its own type and caching)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = b"max-age=63072000; includeSubDomains"
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
DOCS_PATHS = ("/docs", "/redoc")

_ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def _is_docs(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in DOCS_PATHS)


def security_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers for a response to `scope` (before merging with the route's own)."""
    headers = list(_ALWAYS)
    if not _is_docs(scope.get("path", "")):
        headers.append((b"content-security-policy", API_CSP))
    if scope.get("scheme") == "https":
        headers.append((b"strict-transport-security", HSTS))
    return headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
