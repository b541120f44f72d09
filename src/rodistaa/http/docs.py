"""Swagger UI (`/docs`) and ReDoc (`/redoc`) served from files bundled in the package.

The pages work with no network: every script and style sheet they load comes from `docs_assets/`
through `/docs/assets/{name}`, where `name` must be a key of `ASSET_TYPES` (a fixed allow-list,
never a path, so nothing else on disk can be reached). Neither page has an inline script (Swagger
UI is started by our `swagger-init.js`, ReDoc starts itself on its `<redoc spec-url>` element), so
both run under the strict policies `security_headers` gives these paths.

Asset URLs carry a digest of the file's content (`?v=`): an asset is cached for a year, and a
vendored file that is upgraded gets a new URL. The pages themselves are revalidated on every visit
(`no-cache`), so they always name the current digests.

`create_app` includes this router only when `Settings.docs_served`; otherwise these paths, like the
OpenAPI document, answer 404."""

from __future__ import annotations

import hashlib
from functools import cache
from html import escape
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, HTMLResponse

from rodistaa.core.errors import NotFound

SWAGGER_PATH = "/docs"
REDOC_PATH = "/redoc"
# Under SWAGGER_PATH, so the assets share its strict policy.
ASSETS_PATH = SWAGGER_PATH + "/assets"

ASSETS_DIR = Path(__file__).with_name("docs_assets")
# Everything that is served from ASSETS_DIR, with its media type (Starlette adds the charset).
ASSET_TYPES: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "swagger-init.js": "text/javascript",
    "redoc.standalone.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
PAGE_CACHE_CONTROL = "no-cache"

_SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{icon}">
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" type="image/png" href="{icon}">
</head>
<body>
<redoc spec-url="{openapi_url}"></redoc>
<script src="{bundle}"></script>
</body>
</html>
"""


@cache
def asset_digest(name: str) -> str:
    """A short digest of a bundled asset; read once per process (the files never change under it)."""
    return hashlib.sha256((ASSETS_DIR / name).read_bytes()).hexdigest()[:16]


def asset_url(name: str) -> str:
    return f"{ASSETS_PATH}/{name}?v={asset_digest(name)}"


def swagger_page(*, title: str, openapi_url: str) -> str:
    return _SWAGGER_PAGE.format(
        title=escape(title),
        openapi_url=escape(openapi_url),
        icon=asset_url("favicon-32x32.png"),
        css=asset_url("swagger-ui.css"),
        bundle=asset_url("swagger-ui-bundle.js"),
        init=asset_url("swagger-init.js"),
    )


def redoc_page(*, title: str, openapi_url: str) -> str:
    return _REDOC_PAGE.format(
        title=escape(title),
        openapi_url=escape(openapi_url),
        icon=asset_url("favicon-32x32.png"),
        bundle=asset_url("redoc.standalone.js"),
    )


def docs_router(*, title: str, openapi_url: str) -> APIRouter:
    """The two pages and their assets, public and outside the OpenAPI document."""
    router = APIRouter(include_in_schema=False)

    # Sync handlers: the first call reads the assets for their digests, off the event loop.
    @router.get(SWAGGER_PATH)
    def swagger_ui() -> HTMLResponse:
        page = swagger_page(title=title, openapi_url=openapi_url)
        return HTMLResponse(page, headers={"Cache-Control": PAGE_CACHE_CONTROL})

    @router.get(REDOC_PATH)
    def redoc() -> HTMLResponse:
        page = redoc_page(title=title, openapi_url=openapi_url)
        return HTMLResponse(page, headers={"Cache-Control": PAGE_CACHE_CONTROL})

    @router.get(ASSETS_PATH + "/{name}")
    async def asset(name: str) -> FileResponse:
        """Only the names in ASSET_TYPES ever reach the file system."""
        media_type = ASSET_TYPES.get(name)
        if media_type is None:
            raise NotFound()
        return FileResponse(
            ASSETS_DIR / name, media_type=media_type, headers={"Cache-Control": ASSET_CACHE_CONTROL}
        )

    return router
