"""Error shapes, request ids, health, readiness and version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from rodistaa.db import migrate
from rodistaa.db.migrate import head_revision
from rodistaa.http.security_headers import API_CSP, REDOC_CSP, SWAGGER_CSP, content_security_policy
from tests.conftest import Harness, make_settings, running_app


class TestErrorShapes:
    async def test_unknown_route_is_json_404(self, harness: Harness) -> None:
        response = await harness.client.get("/v1/does-not-exist")
        assert response.status_code == 404
        assert response.json() == {"code": "NOT_FOUND", "message": "Resource not found"}

    async def test_wrong_method_is_json_405(self, harness: Harness) -> None:
        response = await harness.client.get("/v1/auth/login")
        assert response.status_code == 405
        assert response.json()["code"] == "METHOD_NOT_ALLOWED"
        assert "POST" in response.headers["allow"]

    async def test_validation_error_is_400_with_every_field(self, harness: Harness) -> None:
        response = await harness.client.post("/v1/auth/login", json={"mobile": 12, "otp": "12"})
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR"
        assert {f["field"] for f in body["details"]["fields"]} == {"mobile", "otp"}
        assert body["details"]["field"] in {"mobile", "otp"}

    async def test_malformed_json_is_400(self, harness: Harness) -> None:
        response = await harness.client.post(
            "/v1/auth/otp", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")

    async def test_unknown_fields_are_refused(self, harness: Harness) -> None:
        response = await harness.client.post(
            "/v1/auth/otp", json={"mobile": "+919876543210", "role": "ADMIN"}
        )
        assert response.status_code == 400
        assert response.json()["details"]["field"] == "role"

    async def test_crash_is_500_with_request_id_and_no_internals(self, harness: Harness) -> None:
        async def explode() -> None:
            raise RuntimeError("SELECT secret FROM users -- internal detail")

        harness.app.add_api_route("/explode", explode)
        response = await harness.client.get("/explode", headers={"X-Request-ID": "req-12345678"})
        assert response.status_code == 500
        body = response.json()
        assert body == {
            "code": "INTERNAL_ERROR",
            "message": "An unexpected error occurred",
            "details": {"requestId": "req-12345678"},
        }
        assert "SELECT" not in response.text and "Traceback" not in response.text

    async def test_storage_outage_is_503_not_500(self, harness: Harness) -> None:
        from rodistaa.storage.base import StorageError

        async def storage_down() -> None:
            raise StorageError("bucket unreachable: s3://internal-name")

        harness.app.add_api_route("/storage-down", storage_down)
        response = await harness.client.get("/storage-down")
        assert response.status_code == 503
        assert response.json() == {
            "code": "STORAGE_UNAVAILABLE",
            "message": "File storage is unavailable; try again later",
        }


class TestRequestId:
    async def test_generated_when_absent(self, harness: Harness) -> None:
        response = await harness.client.get("/health")
        assert len(response.headers["x-request-id"]) == 26

    async def test_echoed_when_valid(self, harness: Harness) -> None:
        response = await harness.client.get("/v1/nope", headers={"X-Request-ID": "client-abc-123"})
        assert response.headers["x-request-id"] == "client-abc-123"

    @pytest.mark.parametrize("bad", [b"short", b"has spaces in it", b"x" * 200, b"inject\xc3\xa9value"])
    async def test_replaced_when_unsafe(self, harness: Harness, bad: bytes) -> None:
        response = await harness.client.get("/health", headers={"X-Request-ID": bad})
        assert response.headers["x-request-id"].encode() != bad
        assert len(response.headers["x-request-id"]) == 26


class TestHealth:
    @pytest.mark.parametrize("path", ["/health", "/v1/health"])
    async def test_liveness(self, harness: Harness, path: str) -> None:
        response = await harness.client.get(path)
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        assert response.json()["timestamp"].endswith("Z")

    async def test_ready_when_migrated(self, harness: Harness) -> None:
        response = await harness.client.get("/ready")
        assert response.status_code == 200
        assert response.json()["checks"]["database"] == {"ok": True, "detail": "ok"}

    async def test_version(self, harness: Harness) -> None:
        body = (await harness.client.get("/version")).json()
        assert body["migrationHead"] == head_revision()
        assert body["version"]

    @staticmethod
    async def ready_at_revision(tmp_path: Path, revision: str) -> httpx.Response:
        url = f"sqlite+aiosqlite:///{tmp_path / 'db.db'}"
        # The lifespan needs the schema, so the database is migrated and then relabelled.
        await asyncio.to_thread(migrate.upgrade, url)  # alembic runs its own event loop
        async with running_app(make_settings(url)) as h:
            async with h.app.state.services.db.transaction() as conn:
                await conn.exec_driver_sql("UPDATE alembic_version SET version_num = ?", (revision,))
            return await h.client.get("/ready")

    async def test_not_ready_on_a_database_behind_this_release(self, tmp_path: Path) -> None:
        response = await self.ready_at_revision(tmp_path, "0008_overrides")
        assert response.status_code == 503
        body = response.json()
        assert body["code"] == "NOT_READY"
        assert body["details"]["checks"]["database"]["ok"] is False
        assert "migrations not at head" in body["details"]["checks"]["database"]["detail"]

    async def test_ready_on_a_database_a_newer_release_migrated(self, tmp_path: Path) -> None:
        """Migrations run before a rollout: the old pods must stay ready on the newer schema."""
        response = await self.ready_at_revision(tmp_path, "0099_from_the_next_release")
        assert response.status_code == 200
        check = response.json()["checks"]["database"]
        assert check["ok"] is True and "ahead of this release" in check["detail"]

    async def test_still_ready_when_redis_is_down_and_says_so(self, clean_database: str) -> None:
        """Rate limits degrade to per-instance counting without Redis; readiness must not pull
        every instance out of service for it."""
        async with running_app(make_settings(clean_database, redis_url="redis://127.0.0.1:1/0")) as h:
            response = await h.client.get("/ready")
        assert response.status_code == 200
        checks = response.json()["checks"]
        assert checks["redis"]["ok"] is False
        assert "rate limits per instance" in checks["redis"]["detail"]
        assert checks["database"]["ok"] is True


class TestCors:
    ORIGIN = "https://app.rodistaa.example"

    async def test_a_listed_origin_may_call_every_method_the_api_uses(self, clean_database: str) -> None:
        settings = make_settings(clean_database, cors_origins=[self.ORIGIN])
        async with running_app(settings) as h:
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                response = await h.client.options(
                    "/v1/franchise/targets",
                    headers={"Origin": self.ORIGIN, "Access-Control-Request-Method": method},
                )
                assert response.status_code == 200, (method, response.text)
                assert response.headers["access-control-allow-origin"] == self.ORIGIN

    async def test_another_origin_is_not_allowed(self, clean_database: str) -> None:
        settings = make_settings(clean_database, cors_origins=[self.ORIGIN])
        async with running_app(settings) as h:
            response = await h.client.options(
                "/v1/franchise/targets",
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
            )
            assert "access-control-allow-origin" not in response.headers


class TestSecurityHeaders:
    async def test_api_responses_are_not_sniffed_framed_or_rendered(self, harness: Harness) -> None:
        for response in (await harness.client.get("/health"), await harness.client.get("/v1/nowhere")):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
            assert "strict-transport-security" not in response.headers  # plain HTTP

    async def test_docs_pages_get_their_own_policy(self, harness: Harness) -> None:
        """Swagger UI's page and assets need nothing from elsewhere; only ReDoc's page is allowed
        inline styles and a blob worker (tests/http/test_docs_pages.py loads them)."""
        for path, policy in (
            ("/docs", SWAGGER_CSP),
            ("/docs/assets/swagger-ui.css", SWAGGER_CSP),
            ("/redoc", REDOC_CSP),
            ("/v1/openapi.json", API_CSP),
        ):
            response = await harness.client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-security-policy"] == policy.decode(), path
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["x-content-type-options"] == "nosniff"
        assert b"'unsafe-inline'" not in SWAGGER_CSP
        assert b"script-src 'self';" in REDOC_CSP

    def test_docs_paths_get_the_api_policy_when_the_docs_are_off(self) -> None:
        for path in ("/docs", "/docs/assets/swagger-ui.css", "/redoc"):
            assert content_security_policy(path, docs_enabled=False) == API_CSP
        assert content_security_policy("/docsearch", docs_enabled=True) == API_CSP
        assert content_security_policy("/redoc/x", docs_enabled=True) == API_CSP

    async def test_https_requests_get_hsts(self, harness: Harness) -> None:
        response = await harness.client.get("https://testserver/health")
        assert response.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
