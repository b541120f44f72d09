"""The audit log over HTTP: identity acts are recorded without personal data, admins browse
and verify the chain, nobody else can."""

from __future__ import annotations

import pytest

from rodistaa.core.roles import Role
from tests.api.flows import admin_session, create_user_directly, sign_in, sign_up
from tests.conftest import Harness

MOBILE = "+919876543210"


async def audit_page(h: Harness, headers: dict[str, str], query: str = "") -> dict:
    response = await h.client.get(f"/v1/admin/audit{query}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


class TestIdentityIsAudited:
    async def test_registration_login_refresh_reuse_and_logout_are_entries(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE, device_id="phone-A")
        await harness.client.post("/v1/auth/logout", headers=session.headers)
        admin = await admin_session(harness)
        body = await audit_page(harness, admin.headers, f"?entityType=user&entityId={session.user_id}")
        actions = [entry["action"] for entry in body["data"]]
        assert actions == ["auth.logout", "user.registered"]  # newest first
        registered = body["data"][1]
        assert registered["performedBy"] == session.user_id
        assert registered["metadata"]["role"] == "SHIPPER"
        assert len(registered["metadata"]["deviceHash"]) == 64  # a hash, never the device id
        assert "phone-A" not in str(body) and MOBILE[3:] not in str(body)
        assert {
            "id",
            "entityType",
            "entityId",
            "action",
            "performedBy",
            "timestamp",
            "metadata",
        } <= registered.keys()
        assert registered["hash"] != registered["prevHash"]

    async def test_refresh_token_reuse_is_recorded(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        harness.clock.advance(seconds=31)
        await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        admin = await admin_session(harness)
        body = await audit_page(harness, admin.headers, "?action=auth.refresh_reuse_detected")
        assert [(e["entityId"], e["performedBy"]) for e in body["data"]] == [(session.user_id, "system:auth")]

    async def test_staff_creation_names_the_admin(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        response = await harness.client.post(
            "/v1/admin/users",
            json={"mobile": "9812345678", "name": "Unit", "role": "FRANCHISE_UNIT"},
            headers=admin.headers,
        )
        created = response.json()["id"]
        body = await audit_page(harness, admin.headers, f"?action=user.created&entityId={created}")
        assert [(e["performedBy"], e["metadata"]) for e in body["data"]] == [
            (admin.user_id, {"role": "FRANCHISE_UNIT"})
        ]


class TestBrowseAndVerify:
    async def test_pagination_and_filters(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        for i in range(3):
            await sign_up(harness, f"+91981234560{i}")
        body = await audit_page(harness, admin.headers, "?action=user.registered&pageSize=2")
        assert body["meta"]["pageSize"] == 2 and body["meta"]["total"] >= 3
        assert len(body["data"]) == 2 and body["data"][0]["seq"] > body["data"][1]["seq"]

    async def test_verify_runs_and_is_reported(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        await sign_up(harness, MOBILE)
        response = await harness.client.post("/v1/admin/audit/verify", headers=admin.headers)
        assert response.status_code == 200
        report = response.json()
        assert report["ok"] is True and report["count"] >= 2 and report["firstBadSeq"] is None
        last = await harness.client.get("/v1/admin/audit/verify", headers=admin.headers)
        assert last.status_code == 200
        assert last.json()["count"] == report["count"] and last.json()["ok"] is True

    @pytest.mark.parametrize("role", [Role.KYC_ADMIN, Role.OPERATOR, Role.FRANCHISE_DISTRICT])
    async def test_only_admins(self, harness: Harness, role: Role) -> None:
        await create_user_directly(harness, MOBILE, role)
        caller = await sign_in(harness, MOBILE)
        for method, path in [
            ("GET", "/v1/admin/audit"),
            ("GET", "/v1/admin/audit/verify"),
            ("POST", "/v1/admin/audit/verify"),
        ]:
            response = await harness.client.request(method, path, headers=caller.headers)
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        assert (await harness.client.get("/v1/admin/audit")).status_code == 401
        assert (await harness.client.post("/v1/admin/audit/verify")).status_code == 401
