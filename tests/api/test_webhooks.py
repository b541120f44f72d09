"""Webhook subscriptions over HTTP: registration (URL rules, the secret shown once and stored
sealed), the admin list, the delivery log and re-enable, with roles and audit entries."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from rodistaa.core.roles import Role
from rodistaa.security.envelope import DecryptionFailed
from rodistaa.security.kms import UnwrapError
from rodistaa.webhooks import vault
from tests.api.booking_flows import session_with_role
from tests.api.flows import admin_session
from tests.conftest import Harness
from tests.webhooks.flows import (
    REGISTER,
    audit_entries,
    register,
    subscription_row,
    subscription_rows,
)


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness


PARTNER_URL = "https://partner.example.com/hooks/rodistaa"


def assert_field_error(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    named = [f["field"] for f in body["details"]["fields"]]
    assert any(n == field or n.startswith(f"{field}.") for n in named), body


class TestRegister:
    async def test_admin_registers_and_gets_the_secret_once(self, h: Harness) -> None:
        admin = await admin_session(h)
        body = await register(h, admin, PARTNER_URL, ["booking.created", "acs.block", "booking.created"])
        assert body["url"] == PARTNER_URL
        assert body["events"] == ["booking.created", "acs.block"]
        assert body["active"] is True and body["status"] == "ACTIVE"
        assert body["consecutiveFailures"] == 0
        assert body["id"].startswith("WHK-")
        secret = body["secret"]
        assert len(secret) >= 43

        row = await subscription_row(h, body["id"])
        assert row["created_by"] == admin.user_id
        assert row["status"] == "ACTIVE"
        assert secret not in row["secret_ciphertext"]
        kms = h.app.state.services.kms
        assert await vault.open_secret(kms, body["id"], row["secret_ciphertext"]) == secret

        entries = await audit_entries(h, body["id"])
        assert [(e["action"], e["actor"]) for e in entries] == [("webhook.registered", admin.user_id)]
        assert entries[0]["data"] == {
            "urlSha256": hashlib.sha256(PARTNER_URL.encode()).hexdigest(),
            "scheme": "https",
            "events": ["booking.created", "acs.block"],
        }

        listed = await h.client.get("/v1/webhooks", headers=admin.headers)
        assert listed.status_code == 200
        assert [w["id"] for w in listed.json()["data"]] == [body["id"]]
        assert "secret" not in listed.json()["data"][0]

    async def test_a_sealed_secret_does_not_open_for_another_subscription(self, h: Harness) -> None:
        admin = await admin_session(h)
        first = await register(h, admin, PARTNER_URL, ["booking.created"])
        second = await register(h, admin, PARTNER_URL, ["booking.created"])
        assert first["secret"] != second["secret"]
        row = await subscription_row(h, first["id"])
        with pytest.raises((UnwrapError, DecryptionFailed)):
            await vault.open_secret(h.app.state.services.kms, second["id"], row["secret_ciphertext"])

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.OPERATOR])
    async def test_only_admins_register(self, h: Harness, role: Role) -> None:
        session = await session_with_role(h, role)
        response = await h.client.post(
            REGISTER, json={"url": PARTNER_URL, "events": ["booking.created"]}, headers=session.headers
        )
        assert response.status_code == 403
        assert response.json()["code"] == "FORBIDDEN"
        assert await subscription_rows(h) == []

    async def test_anonymous_is_401(self, h: Harness) -> None:
        response = await h.client.post(REGISTER, json={"url": PARTNER_URL, "events": ["booking.created"]})
        assert response.status_code == 401

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"url": PARTNER_URL, "events": []}, "events"),
            ({"url": PARTNER_URL, "events": ["booking.cancelled"]}, "events"),
            ({"url": PARTNER_URL}, "events"),
            ({"events": ["booking.created"]}, "url"),
            ({"url": "ftp://partner.example.com/x", "events": ["booking.created"]}, "url"),
            ({"url": "https://user:pw@partner.example.com/x", "events": ["booking.created"]}, "url"),
            ({"url": "https://partner.example.com/x#frag", "events": ["booking.created"]}, "url"),
            ({"url": "https:///nohost", "events": ["booking.created"]}, "url"),
            ({"url": "https://partner.example.com:99999/", "events": ["booking.created"]}, "url"),
            ({"url": "https://x.example/" + "a" * 2048, "events": ["booking.created"]}, "url"),
        ],
    )
    async def test_bad_input_is_400_naming_the_field(
        self, h: Harness, body: dict[str, Any], field: str
    ) -> None:
        admin = await admin_session(h)
        response = await h.client.post(REGISTER, json=body, headers=admin.headers)
        assert_field_error(response, field)
        assert await subscription_rows(h) == []

    async def test_http_and_loopback_are_accepted_in_test(self, h: Harness) -> None:
        admin = await admin_session(h)
        body = await register(h, admin, "http://127.0.0.1:8080/hook", ["booking.created"])
        assert body["url"] == "http://127.0.0.1:8080/hook"


class TestReadsAndEnable:
    async def test_list_and_log_are_admin_only(self, h: Harness) -> None:
        admin = await admin_session(h)
        webhook = await register(h, admin, PARTNER_URL, ["booking.created"])
        shipper = await session_with_role(h, Role.SHIPPER)
        for path in ("/v1/webhooks", f"/v1/webhooks/{webhook['id']}/deliveries"):
            response = await h.client.get(path, headers=shipper.headers)
            assert response.status_code == 403, path
        response = await h.client.post(f"/v1/webhooks/{webhook['id']}/enable", headers=shipper.headers)
        assert response.status_code == 403

    async def test_unknown_subscription_is_404(self, h: Harness) -> None:
        admin = await admin_session(h)
        missing = "WHK-01J00000000000000000000000"
        response = await h.client.get(f"/v1/webhooks/{missing}/deliveries", headers=admin.headers)
        assert response.status_code == 404
        response = await h.client.post(f"/v1/webhooks/{missing}/enable", headers=admin.headers)
        assert response.status_code == 404

    async def test_enabling_an_active_subscription_is_409_and_changes_nothing(self, h: Harness) -> None:
        admin = await admin_session(h)
        webhook = await register(h, admin, PARTNER_URL, ["booking.created"])
        before = await subscription_row(h, webhook["id"])
        h.clock.advance(minutes=5)
        response = await h.client.post(f"/v1/webhooks/{webhook['id']}/enable", headers=admin.headers)
        assert response.status_code == 409
        assert response.json()["code"] == "INVALID_STATE"
        assert await subscription_row(h, webhook["id"]) == before
        assert [e["action"] for e in await audit_entries(h, webhook["id"])] == ["webhook.registered"]

    async def test_list_filters_and_paginates(self, h: Harness) -> None:
        admin = await admin_session(h)
        ids = [(await register(h, admin, PARTNER_URL, ["booking.created"]))["id"] for _ in range(3)]
        page = await h.client.get("/v1/webhooks?pageSize=2&page=2", headers=admin.headers)
        assert page.status_code == 200
        assert page.json()["meta"] == {"page": 2, "pageSize": 2, "total": 3, "totalPages": 2}
        assert [w["id"] for w in page.json()["data"]] == [ids[0]]
        disabled = await h.client.get("/v1/webhooks?status=DISABLED", headers=admin.headers)
        assert disabled.json()["data"] == []
        bad = await h.client.get("/v1/webhooks?status=GONE", headers=admin.headers)
        assert bad.status_code == 400
