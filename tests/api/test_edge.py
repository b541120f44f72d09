"""What is checked before a route sees a request (`rodistaa.http.edge`, issue 7 item 4): body
size limits per route class, the HTTPS redirect, and X-Forwarded-* believed only from the
configured proxies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from rodistaa.db.tables import users
from tests.api.flows import sign_up
from tests.api.freight_setup import next_mobile
from tests.conftest import Harness, make_settings, running_app

JSON_LIMIT = 2048
UPLOAD_LIMIT = 16_384


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_json_body_bytes": JSON_LIMIT, "max_upload_body_bytes": UPLOAD_LIMIT}


def assert_too_large(response: Any, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.json() == {
        "code": "PAYLOAD_TOO_LARGE",
        "message": "The request body is too large",
        "details": {"maxBytes": limit},
    }


class TestBodySize:
    async def test_declared_oversize_json_is_refused_and_nothing_is_written(self, harness: Harness) -> None:
        mobile = next_mobile()
        await harness.client.post("/v1/auth/otp", json={"mobile": mobile})
        code = harness.sms.last_code(mobile)
        login = await harness.client.post("/v1/auth/login", json={"mobile": mobile, "otp": code})
        token = login.json()["token"]
        body = {"name": "A" * (JSON_LIMIT + 1), "role": "SHIPPER"}
        response = await harness.client.post(
            "/v1/users/register", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert_too_large(response, JSON_LIMIT)
        async with harness.app.state.services.db.transaction() as conn:
            assert (await conn.execute(select(func.count()).select_from(users))).scalar_one() == 0

    async def test_streamed_body_without_length_is_cut_off(self, harness: Harness) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"mobile": "'
            for _ in range(10):
                yield b"9" * 512

        response = await harness.client.post(
            "/v1/auth/otp", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert_too_large(response, JSON_LIMIT)
        assert harness.sms.sent == []

    async def test_upload_routes_take_larger_bodies_up_to_their_own_limit(self, harness: Harness) -> None:
        session = await sign_up(harness, next_mobile())
        files = {"file": ("id.pdf", b"%PDF-1.4\n" + b"0" * 8000, "application/pdf")}
        data = {"documentType": "PAN", "documentNumber": "ABCDE1234F"}
        accepted = await harness.client.post(
            "/v1/kyc/upload", files=files, data=data, headers=session.headers
        )
        assert accepted.status_code == 201, accepted.text
        huge = {"file": ("id.pdf", b"%PDF-1.4\n" + b"0" * UPLOAD_LIMIT, "application/pdf")}
        refused = await harness.client.post("/v1/kyc/upload", files=huge, data=data, headers=session.headers)
        assert_too_large(refused, UPLOAD_LIMIT)

    async def test_small_bodies_pass(self, harness: Harness) -> None:
        response = await harness.client.post("/v1/auth/otp", json={"mobile": next_mobile()})
        assert response.status_code == 200


class TestHttpsAndProxies:
    async def test_force_https_redirects_with_308_except_health(self, clean_database: str) -> None:
        async with running_app(make_settings(clean_database, force_https=True)) as h:
            redirected = await h.client.post("/v1/auth/otp?x=1", json={"mobile": next_mobile()})
            assert redirected.status_code == 308
            assert redirected.headers["location"] == "https://testserver/v1/auth/otp?x=1"
            assert h.sms.sent == []
            assert (await h.client.get("/health")).status_code == 200
            secure = await h.client.get("/health", headers={"X-Forwarded-Proto": "https"})
            assert "strict-transport-security" not in secure.headers, "an untrusted peer's header"

    async def test_forwarded_proto_from_a_trusted_proxy_counts_as_https(self, clean_database: str) -> None:
        settings = make_settings(clean_database, force_https=True, trusted_proxies="127.0.0.1")
        async with running_app(settings) as h:
            response = await h.client.post(
                "/v1/auth/otp", json={"mobile": next_mobile()}, headers={"X-Forwarded-Proto": "https"}
            )
            assert response.status_code == 200
            assert response.headers["strict-transport-security"].startswith("max-age=")

    async def test_forwarded_for_is_believed_only_from_trusted_proxies(self, clean_database: str) -> None:
        """The per-address login budget (here 2) follows X-Forwarded-For behind a trusted proxy,
        and ignores it from anyone else (who could otherwise pick a fresh address per request)."""

        async def statuses(h: Harness) -> list[int]:
            return [
                (
                    await h.client.post(
                        "/v1/auth/otp",
                        json={"mobile": next_mobile()},
                        headers={"X-Forwarded-For": f"203.0.113.{i}"},
                    )
                ).status_code
                for i in range(3)
            ]

        trusted = make_settings(
            clean_database, trusted_proxies="127.0.0.1/8", rate_limit_auth_per_ip="2/hour"
        )
        async with running_app(trusted) as h:
            assert await statuses(h) == [200, 200, 200]
        untrusted = make_settings(clean_database, trusted_proxies="10.0.0.1", rate_limit_auth_per_ip="2/hour")
        async with running_app(untrusted) as h:
            assert await statuses(h) == [200, 200, 429]
