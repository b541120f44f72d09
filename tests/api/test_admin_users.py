"""Staff accounts created and listed by admins."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rodistaa.core.roles import Role
from rodistaa.db.tables import users
from tests.api.flows import admin_session, create_user_directly, sign_in, sign_up
from tests.conftest import Harness


async def user_rows(h: Harness) -> list[dict]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(select(users))).mappings().all()]


class TestCreateStaffUser:
    async def test_admin_creates_a_staff_user_who_can_log_in(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        response = await harness.client.post(
            "/v1/admin/users",
            json={
                "mobile": "9812345678",
                "name": "KYC Desk",
                "role": "KYC_ADMIN",
                "email": "kyc@rodistaa.in",
            },
            headers=admin.headers,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["id"].startswith("USR-KA-") and body["role"] == "KYC_ADMIN"
        assert body["mobileMasked"] == "+91******5678" and "mobile" not in body
        row = next(r for r in await user_rows(harness) if r["id"] == body["id"])
        assert row["created_by"] == admin.user_id and row["mobile"] == "+919812345678"
        staff = await sign_in(harness, "+919812345678")
        assert staff.user_id == body["id"]

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        response = await harness.client.post(
            "/v1/admin/users", json={"mobile": "9812345678", "name": "X", "role": "ADMIN"}
        )
        assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.KYC_ADMIN, Role.FRANCHISE_DISTRICT])
    async def test_other_roles_are_403_and_nothing_is_written(self, harness: Harness, role: Role) -> None:
        await create_user_directly(harness, "+919700000001", role)
        caller = await sign_in(harness, "+919700000001")
        response = await harness.client.post(
            "/v1/admin/users",
            json={"mobile": "9812345678", "name": "X", "role": "ADMIN"},
            headers=caller.headers,
        )
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert len(await user_rows(harness)) == 1

    async def test_existing_mobile_is_409(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        await sign_up(harness, "+919812345678")
        response = await harness.client.post(
            "/v1/admin/users",
            json={"mobile": "+919812345678", "name": "X", "role": "ADMIN"},
            headers=admin.headers,
        )
        assert (response.status_code, response.json()["code"]) == (409, "MOBILE_TAKEN")
        assert len(await user_rows(harness)) == 2

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"mobile": "12", "name": "X", "role": "ADMIN"}, "mobile"),
            ({"mobile": "9812345678", "name": " ", "role": "ADMIN"}, "name"),
            ({"mobile": "9812345678", "name": "X", "role": "SUPERUSER"}, "role"),
            ({"mobile": "9812345678", "name": "X", "role": "ADMIN", "email": "nope"}, "email"),
        ],
    )
    async def test_validation_names_the_field(self, harness: Harness, body: dict, field: str) -> None:
        admin = await admin_session(harness)
        response = await harness.client.post("/v1/admin/users", json=body, headers=admin.headers)
        assert response.status_code == 400
        assert response.json()["details"]["field"] == field
        assert len(await user_rows(harness)) == 1


class TestListUsers:
    async def test_paginated_and_filtered(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        for i in range(3):
            await create_user_directly(harness, f"+91970000000{i}", Role.FRANCHISE_UNIT)
        response = await harness.client.get("/v1/admin/users?pageSize=2&page=1", headers=admin.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["meta"] == {"page": 1, "pageSize": 2, "total": 4, "totalPages": 2}
        assert len(body["data"]) == 2
        second = (await harness.client.get("/v1/admin/users?pageSize=2&page=2", headers=admin.headers)).json()
        assert {u["id"] for u in body["data"]}.isdisjoint({u["id"] for u in second["data"]})
        units = (
            await harness.client.get("/v1/admin/users?role=FRANCHISE_UNIT", headers=admin.headers)
        ).json()
        assert units["meta"]["total"] == 3 and {u["role"] for u in units["data"]} == {"FRANCHISE_UNIT"}

    @pytest.mark.parametrize("query", ["page=0", "pageSize=101", "pageSize=0", "role=NOBODY"])
    async def test_bad_paging_is_400(self, harness: Harness, query: str) -> None:
        admin = await admin_session(harness)
        response = await harness.client.get(f"/v1/admin/users?{query}", headers=admin.headers)
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")

    async def test_non_admin_is_403(self, harness: Harness) -> None:
        shipper = await sign_up(harness, "+919812345678")
        response = await harness.client.get("/v1/admin/users", headers=shipper.headers)
        assert response.status_code == 403
