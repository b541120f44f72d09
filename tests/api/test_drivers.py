"""Drivers: created by their operator with an encrypted licence, visible to that operator, the
driver and admins; the driver signs in with a login code like any user."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from rodistaa.core.ids import is_prefixed_ulid
from rodistaa.core.roles import Role
from rodistaa.db.tables import users
from rodistaa.drivers.tables import drivers
from rodistaa.fleet.status import business_date
from rodistaa.kyc.numbers import DocumentType, number_hash
from rodistaa.security.envelope import decrypt_text
from tests.api.flows import Session, admin_session, create_user_directly, sign_in, sign_up
from tests.api.onboarding_setup import operator_session
from tests.conftest import Harness

OPERATOR_MOBILE, OTHER_OPERATOR_MOBILE = "+919811000001", "+919811000002"
DRIVER_MOBILE = "+919822000001"
LICENCE = "MH1220110012345"


def expiry(h: Harness, days: int = 365) -> str:
    return (business_date(h.clock.now()) + timedelta(days=days)).isoformat()


def driver_body(h: Harness, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Ramesh Yadav",
        "mobile": DRIVER_MOBILE,
        "licenceNumber": LICENCE,
        "licenceExpiry": expiry(h),
    }
    body.update(overrides)
    return body


async def create_driver(h: Harness, operator: Session, **overrides: Any) -> dict[str, Any]:
    response = await h.client.post("/v1/drivers", json=driver_body(h, **overrides), headers=operator.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def driver_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(select(drivers))).mappings()]


async def user_count(h: Harness, role: Role) -> int:
    async with h.app.state.services.db.read() as conn:
        query = select(func.count()).select_from(users).where(users.c.role == role.value)
        return int((await conn.execute(query)).scalar_one())


class TestCreateDriver:
    async def test_operator_creates_a_driver_who_then_signs_in(self, harness: Harness) -> None:
        operator = await operator_session(harness, OPERATOR_MOBILE)
        body = await create_driver(
            harness, operator, mobile="98220 00001", licenceNumber="mh-12 2011 0012345"
        )
        assert is_prefixed_ulid(body["id"], "USR-DR")
        assert body == {
            "id": body["id"],
            "name": "Ramesh Yadav",
            "mobile": DRIVER_MOBILE,
            "mobileMasked": "+91******0001",
            "operatorId": operator.user_id,
            "status": "ACTIVE",
            "licenceMasked": "MH12*******2345",
            "licenceExpiry": expiry(harness),
            "createdAt": body["createdAt"],
        }
        services = harness.app.state.services
        async with services.db.read() as conn:
            user = (await conn.execute(select(users).where(users.c.id == body["id"]))).mappings().one()
            key = await services.data_keys.for_reading(conn, body["id"])
        assert (user["role"], user["mobile"], user["created_by"]) == (
            "DRIVER",
            DRIVER_MOBILE,
            operator.user_id,
        )
        [row] = await driver_rows(harness)
        assert (row["user_id"], row["operator_id"]) == (body["id"], operator.user_id)
        assert row["licence_masked"] == "MH12*******2345"
        assert row["licence_expiry"] == date.fromisoformat(expiry(harness))
        assert LICENCE not in row["licence_ciphertext"]
        aad = f"driver:{body['id']}:licence".encode()
        assert decrypt_text(key, row["licence_ciphertext"], aad) == LICENCE
        hmac_key = harness.settings.hmac_key.encode()
        assert row["licence_hash"] == number_hash(hmac_key, DocumentType.LICENSE, LICENCE)

        admin = await admin_session(harness)
        audit = await harness.client.get(
            "/v1/admin/audit",
            params={"action": "driver.created", "entityId": body["id"]},
            headers=admin.headers,
        )
        [entry] = audit.json()["data"]
        assert entry["performedBy"] == operator.user_id
        assert entry["metadata"] == {"role": "DRIVER", "operatorId": operator.user_id}

        driver = await sign_in(harness, DRIVER_MOBILE)
        me = await harness.client.get("/v1/users/me", headers=driver.headers)
        assert me.status_code == 200
        assert (me.json()["id"], me.json()["role"]) == (body["id"], "DRIVER")

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        response = await harness.client.post("/v1/drivers", json=driver_body(harness))
        assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.FRANCHISE_UNIT, Role.KYC_ADMIN, Role.DRIVER])
    async def test_other_roles_are_403(self, harness: Harness, role: Role) -> None:
        await create_user_directly(harness, "+919811000009", role)
        caller = await sign_in(harness, "+919811000009")
        response = await harness.client.post("/v1/drivers", json=driver_body(harness), headers=caller.headers)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert await driver_rows(harness) == []

    async def test_a_shipper_is_403(self, harness: Harness) -> None:
        shipper = await sign_up(harness, "+919811000009")
        response = await harness.client.post(
            "/v1/drivers", json=driver_body(harness), headers=shipper.headers
        )
        assert response.status_code == 403
        assert await user_count(harness, Role.DRIVER) == 0

    async def test_an_existing_phone_is_409_and_nothing_is_written(self, harness: Harness) -> None:
        operator = await operator_session(harness, OPERATOR_MOBILE)
        response = await harness.client.post(
            "/v1/drivers", json=driver_body(harness, mobile=OPERATOR_MOBILE), headers=operator.headers
        )
        assert (response.status_code, response.json()["code"]) == (409, "MOBILE_TAKEN")
        assert await driver_rows(harness) == [] and await user_count(harness, Role.DRIVER) == 0

    async def test_a_licence_already_used_is_409_and_no_account_is_left(self, harness: Harness) -> None:
        operator = await operator_session(harness, OPERATOR_MOBILE)
        other = await operator_session(harness, OTHER_OPERATOR_MOBILE)
        first = await create_driver(harness, operator)
        response = await harness.client.post(
            "/v1/drivers",
            json=driver_body(harness, mobile="+919822000002", licenceNumber="MH12 2011 0012345"),
            headers=other.headers,
        )
        assert (response.status_code, response.json()["code"]) == (409, "LICENCE_TAKEN")
        assert response.json()["details"]["field"] == "licenceNumber"
        assert [r["user_id"] for r in await driver_rows(harness)] == [first["id"]]
        assert await user_count(harness, Role.DRIVER) == 1

    async def test_concurrent_creations_with_one_licence_make_one_driver(self, harness: Harness) -> None:
        operator = await operator_session(harness, OPERATOR_MOBILE)
        responses = await asyncio.gather(
            *(
                harness.client.post(
                    "/v1/drivers",
                    json=driver_body(harness, mobile=f"+91982200001{i}"),
                    headers=operator.headers,
                )
                for i in range(4)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409, 409, 409], [r.text for r in responses]
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"LICENCE_TAKEN"}
        assert len(await driver_rows(harness)) == 1 and await user_count(harness, Role.DRIVER) == 1

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"mobile": "12345"}, "mobile"),
            ({"mobile": "+14155550123"}, "mobile"),
            ({"name": "  "}, "name"),
            ({"name": None}, "name"),
            ({"licenceNumber": "ABC123"}, "licenceNumber"),
            ({"licenceNumber": "MH1218110012345"}, "licenceNumber"),
            ({"licenceNumber": None}, "licenceNumber"),
            ({"licenceExpiry": "next year"}, "licenceExpiry"),
            ({"licenceExpiry": "2020-01-01"}, "licenceExpiry"),
            ({"badge": "gold"}, "badge"),
        ],
    )
    async def test_validation_names_the_field(
        self, harness: Harness, overrides: dict[str, Any], field: str
    ) -> None:
        operator = await operator_session(harness, OPERATOR_MOBILE)
        response = await harness.client.post(
            "/v1/drivers", json=driver_body(harness, **overrides), headers=operator.headers
        )
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR"), response.text
        assert response.json()["details"]["field"] == field
        assert await driver_rows(harness) == [] and await user_count(harness, Role.DRIVER) == 0

    async def test_a_licence_expiring_today_is_refused(self, harness: Harness) -> None:
        operator = await operator_session(harness, OPERATOR_MOBILE)
        response = await harness.client.post(
            "/v1/drivers",
            json=driver_body(harness, licenceExpiry=expiry(harness, 0)),
            headers=operator.headers,
        )
        assert (response.status_code, response.json()["details"]["field"]) == (400, "licenceExpiry")
        assert await driver_rows(harness) == []
        assert (
            await harness.client.post(
                "/v1/drivers",
                json=driver_body(harness, licenceExpiry=expiry(harness, 1)),
                headers=operator.headers,
            )
        ).status_code == 201


async def two_fleets(h: Harness) -> tuple[Session, Session, list[str], str]:
    """Operator A with two drivers and operator B with one: (A, B, A's driver ids, B's)."""
    operator = await operator_session(h, OPERATOR_MOBILE)
    other = await operator_session(h, OTHER_OPERATOR_MOBILE)
    mine = [
        (await create_driver(h, operator, mobile="+919822000001", licenceNumber="MH1220110012345"))["id"],
        (await create_driver(h, operator, mobile="+919822000002", licenceNumber="MH1220150054321"))["id"],
    ]
    theirs = (await create_driver(h, other, mobile="+919822000003", licenceNumber="KA0120190001234"))["id"]
    return operator, other, mine, theirs


class TestListDrivers:
    async def test_operators_list_their_fleet_and_admins_everyone_masked(self, harness: Harness) -> None:
        operator, other, mine, theirs = await two_fleets(harness)
        response = await harness.client.get("/v1/drivers", headers=operator.headers)
        assert response.status_code == 200
        body = response.json()
        assert sorted(d["id"] for d in body["data"]) == sorted(mine)
        assert body["meta"] == {"page": 1, "pageSize": 20, "total": 2, "totalPages": 1}
        assert {d["mobile"] for d in body["data"]} == {"+919822000001", "+919822000002"}
        theirs_listed = (await harness.client.get("/v1/drivers", headers=other.headers)).json()["data"]
        assert [d["id"] for d in theirs_listed] == [theirs]

        admin = await admin_session(harness)
        everyone = (await harness.client.get("/v1/drivers?pageSize=2", headers=admin.headers)).json()
        assert everyone["meta"] == {"page": 1, "pageSize": 2, "total": 3, "totalPages": 2}
        second = (await harness.client.get("/v1/drivers?pageSize=2&page=2", headers=admin.headers)).json()
        listed = everyone["data"] + second["data"]
        assert sorted(d["id"] for d in listed) == sorted([*mine, theirs])
        assert all("mobile" not in d and d["mobileMasked"].startswith("+91******") for d in listed)

    async def test_other_roles_are_403_and_anonymous_401(self, harness: Harness) -> None:
        operator = await operator_session(harness, OPERATOR_MOBILE)
        await create_driver(harness, operator)
        driver = await sign_in(harness, DRIVER_MOBILE)
        shipper = await sign_up(harness, "+919811000009")
        for caller in (driver, shipper):
            response = await harness.client.get("/v1/drivers", headers=caller.headers)
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert (await harness.client.get("/v1/drivers")).status_code == 401

    @pytest.mark.parametrize("query", ["page=0", "pageSize=101", "pageSize=x"])
    async def test_bad_paging_is_400(self, harness: Harness, query: str) -> None:
        operator = await operator_session(harness, OPERATOR_MOBILE)
        response = await harness.client.get(f"/v1/drivers?{query}", headers=operator.headers)
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")


class TestGetDriver:
    async def test_owner_driver_and_admin_read_it(self, harness: Harness) -> None:
        operator, _other, mine, _theirs = await two_fleets(harness)
        driver = await sign_in(harness, "+919822000001")
        admin = await admin_session(harness)
        for caller, full in ((operator, True), (driver, True), (admin, False)):
            response = await harness.client.get(f"/v1/drivers/{mine[0]}", headers=caller.headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["id"], body["operatorId"], body["licenceMasked"]) == (
                mine[0],
                operator.user_id,
                "MH12*******2345",
            )
            assert body["mobileMasked"] == "+91******0001"
            assert body.get("mobile") == ("+919822000001" if full else None)

    async def test_outsiders_get_404(self, harness: Harness) -> None:
        _operator, other, mine, _theirs = await two_fleets(harness)
        fellow_driver = await sign_in(harness, "+919822000002")
        for caller in (other, fellow_driver):
            response = await harness.client.get(f"/v1/drivers/{mine[0]}", headers=caller.headers)
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
        response = await harness.client.get("/v1/drivers/USR-DR-NOPE", headers=other.headers)
        assert response.status_code == 404

    async def test_other_roles_are_403_and_anonymous_401(self, harness: Harness) -> None:
        operator = await operator_session(harness, OPERATOR_MOBILE)
        driver_id = (await create_driver(harness, operator))["id"]
        shipper = await sign_up(harness, "+919811000009")
        await create_user_directly(harness, "+919811000008", Role.FRANCHISE_UNIT)
        unit = await sign_in(harness, "+919811000008")
        for caller in (shipper, unit):
            response = await harness.client.get(f"/v1/drivers/{driver_id}", headers=caller.headers)
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert (await harness.client.get(f"/v1/drivers/{driver_id}")).status_code == 401
