"""Swagger UI and ReDoc from bundled assets (http/docs.py): same-origin only, strict CSP, served
with no network, and hidden in production unless DOCS_ENABLED says otherwise."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from rodistaa.http.docs import ASSET_TYPES, ASSETS_DIR
from rodistaa.http.security_headers import API_CSP, REDOC_CSP, SWAGGER_CSP
from rodistaa.settings import Environment, Settings
from tests.conftest import Harness, make_settings, running_app

# Every URL a page makes the browser load by itself (scripts, style sheets, icons).
_LOADED_URL = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"')
DOCS_SURFACE = ("/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js", "/v1/openapi.json")
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}


async def load_page(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, dict[str, httpx.Response]]:
    """The page and every asset it references, fetched from the app itself (what a browser with
    no network can reach)."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    urls = _LOADED_URL.findall(page.text)
    assert urls, page.text
    return page, {url: await client.get(url) for url in urls}


def assert_served_asset(url: str, response: httpx.Response) -> None:
    assert url.startswith("/docs/assets/"), url  # same origin, no CDN
    assert response.status_code == 200, url
    suffix = "." + url.split("?")[0].rsplit(".", 1)[1]
    assert response.headers["content-type"] == TYPES[suffix], url
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"


class TestPages:
    async def test_swagger_ui_loads_only_bundled_assets_under_a_strict_policy(self, harness: Harness) -> None:
        page, assets = await load_page(harness.client, "/docs")

        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["content-security-policy"] == SWAGGER_CSP.decode()
        assert page.headers["cache-control"] == "no-cache"
        assert "://" not in page.text
        assert "<script>" not in page.text  # no inline script: script-src 'self' would refuse it
        assert 'data-openapi-url="/v1/openapi.json"' in page.text
        for url, response in assets.items():
            assert_served_asset(url, response)
        names = {url.split("?")[0].rsplit("/", 1)[1]: response for url, response in assets.items()}
        assert set(names) == {
            "swagger-ui-bundle.js",
            "swagger-ui.css",
            "swagger-init.js",
            "favicon-32x32.png",
        }
        assert len(names["swagger-ui-bundle.js"].content) > 100_000
        assert len(names["swagger-ui.css"].content) > 100_000
        # The starter reads the page's attribute and keeps Swagger's validator (an external
        # service) switched off.
        assert b"root.dataset.openapiUrl" in names["swagger-init.js"].content
        assert b"validatorUrl: null" in names["swagger-init.js"].content

    async def test_redoc_loads_only_bundled_assets_under_its_policy(self, harness: Harness) -> None:
        page, assets = await load_page(harness.client, "/redoc")

        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["content-security-policy"] == REDOC_CSP.decode()
        assert "://" not in page.text
        assert "<script>" not in page.text
        assert '<redoc spec-url="/v1/openapi.json"></redoc>' in page.text
        for url, response in assets.items():
            assert_served_asset(url, response)
        bundle = next(r for url, r in assets.items() if "/redoc.standalone.js?" in url)
        assert len(bundle.content) > 100_000
        # Upstream's bundle loads a logo from its CDN; the vendored copy is patched (README there).
        assert b"cdn.redoc.ly" not in bundle.content

    async def test_the_document_both_pages_read_is_served(self, harness: Harness) -> None:
        response = await harness.client.get("/v1/openapi.json")

        assert response.status_code == 200
        document = response.json()
        assert document["info"]["title"] == "Rodistaa Core API"
        assert "/v1/auth/otp" in document["paths"]
        assert not any(path.startswith(("/docs", "/redoc")) for path in document["paths"])

    async def test_asset_urls_carry_the_digest_of_what_they_serve(self, harness: Harness) -> None:
        """What makes the year-long cache safe: an upgraded file gets a new URL."""
        page = await harness.client.get("/docs")
        digests = dict(re.findall(r"/docs/assets/([\w.-]+)\?v=([0-9a-f]{16})", page.text))

        assert len(digests) == 4
        for name, digest in digests.items():
            response = await harness.client.get(f"/docs/assets/{name}")  # the file, with or without ?v=
            assert hashlib.sha256(response.content).hexdigest()[:16] == digest, name

    @pytest.mark.parametrize(
        "path",
        [
            "/docs/assets/nothing.js",
            "/docs/assets/swagger-ui-LICENSE.txt",  # on disk, but not on the allow-list
            "/docs/assets/..%2Fdocs.py",
            "/docs/assets/%2E%2E%2F%2E%2E%2Fsettings.py",
            "/docs/assets/",
        ],
    )
    async def test_nothing_outside_the_allow_list_is_served(self, harness: Harness, path: str) -> None:
        response = await harness.client.get(path)

        assert response.status_code == 404
        assert response.json() == {"code": "NOT_FOUND", "message": "Resource not found"}

    def test_every_allowed_asset_is_bundled(self) -> None:
        for name in ASSET_TYPES:
            assert (ASSETS_DIR / name).is_file(), name


class TestProduction:
    async def test_the_docs_and_the_document_are_hidden(self, clean_database: str) -> None:
        settings = make_settings(clean_database, env=Environment.PRODUCTION)
        async with running_app(settings) as h:
            for path in DOCS_SURFACE:
                response = await h.client.get(path)
                assert response.status_code == 404, path
                assert response.json()["code"] == "NOT_FOUND"
                assert response.headers["content-security-policy"] == API_CSP.decode()

    async def test_docs_enabled_serves_them_in_production(self, clean_database: str) -> None:
        settings = make_settings(clean_database, env=Environment.PRODUCTION, docs_enabled=True)
        async with running_app(settings) as h:
            for path in DOCS_SURFACE:
                assert (await h.client.get(path)).status_code == 200, path
            _page, assets = await load_page(h.client, "/redoc")
            for url, response in assets.items():
                assert_served_asset(url, response)

    async def test_docs_can_be_switched_off_anywhere(self, clean_database: str) -> None:
        settings = make_settings(clean_database, docs_enabled=False)
        async with running_app(settings) as h:
            for path in DOCS_SURFACE:
                assert (await h.client.get(path)).status_code == 404, path


@pytest.mark.parametrize(
    ("env", "variable", "served"),
    [
        ("development", None, True),
        ("test", None, True),
        ("production", None, False),
        ("production", "true", True),
        ("development", "false", False),
    ],
)
def test_docs_served_by_environment_unless_set(
    monkeypatch: pytest.MonkeyPatch, env: str, variable: str | None, served: bool
) -> None:
    monkeypatch.setenv("ENV", env)
    if variable is None:
        monkeypatch.delenv("DOCS_ENABLED", raising=False)
    else:
        monkeypatch.setenv("DOCS_ENABLED", variable)

    assert Settings(_env_file=None).docs_served is served  # type: ignore[call-arg]
