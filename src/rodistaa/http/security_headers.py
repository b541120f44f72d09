"""Response headers that make browsers treat API responses safely (issue 7, item 4, in part).

* `X-Content-Type-Options: nosniff`: a JSON body, or an uploaded file served back (PODs, KYC
  scans), is never sniffed into something executable.
* `Referrer-Policy: no-referrer`: URLs carry ids; they do not leak to other sites.
* `X-Frame-Options: DENY` and a `Content-Security-Policy` that allows nothing
  (`default-src 'none'; frame-ancestors 'none'`) on API responses: nothing the API returns is
  meant to be rendered or framed.
* While the docs are served, a policy of their own on the docs pages and their assets
  (`/docs`, `/docs/assets/…`, `/redoc`): scripts, styles, images and fetches from this origin
  only, no inline script, no plugins, forms or framing (`http/docs.py` bundles every asset).
  ReDoc's page alone gets two allowances it cannot render without: inline styles
  (styled-components inserts `<style>` elements) and a `blob:` worker (its search index).
  Verified in headless Chromium with no network: no violation on either page.
* `Strict-Transport-Security` on HTTPS requests only (as seen through the proxy's
  `X-Forwarded-Proto` when Uvicorn trusts it): browsers ignore it on plain HTTP anyway, and a
  developer's `http://127.0.0.1` must not be pinned to HTTPS.

A header a route set itself is kept (a file download chooses its own type and caching)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rodistaa.http.docs import REDOC_PATH, SWAGGER_PATH

HSTS = b"max-age=63072000; includeSubDomains"
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
_DOCS_CSP = (
    b"default-src 'none'; script-src 'self'; img-src 'self' data:; connect-src 'self'; "
    b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Swagger UI (/docs) and the assets under /docs/assets/.
SWAGGER_CSP = _DOCS_CSP + b"; style-src 'self'"
# ReDoc fails without inline styles (styled-components) and builds its search index in a blob worker.
REDOC_CSP = _DOCS_CSP + b"; style-src 'self' 'unsafe-inline'; worker-src blob:"

_ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def content_security_policy(path: str, *, docs_enabled: bool) -> bytes:
    if docs_enabled:
        if path == REDOC_PATH:
            return REDOC_CSP
        if path == SWAGGER_PATH or path.startswith(SWAGGER_PATH + "/"):
            return SWAGGER_CSP
    return API_CSP


def security_headers(scope: Scope, *, docs_enabled: bool) -> list[tuple[bytes, bytes]]:
    """The headers for a response to `scope` (before merging with the route's own)."""
    csp = content_security_policy(scope.get("path", ""), docs_enabled=docs_enabled)
    headers = [*_ALWAYS, (b"content-security-policy", csp)]
    if scope.get("scheme") == "https":
        headers.append((b"strict-transport-security", HSTS))
    return headers


class SecurityHeadersMiddleware:
    """`docs_enabled`: whether the docs pages are served; when they are not, their paths are
    404s like any other and get the API policy."""

    def __init__(self, app: ASGIApp, *, docs_enabled: bool) -> None:
        self.app = app
        self.docs_enabled = docs_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope, docs_enabled=self.docs_enabled)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
