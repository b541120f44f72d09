"""Franchises (PRODUCT §9): the HQ → DISTRICT → UNIT tree, staff membership, a staff member's
own franchise, and the zone lookup trucks are assigned with."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from rodistaa.acs.audit.tables import audit_log
from rodistaa.core.roles import Role
from rodistaa.db.tables import users
from rodistaa.franchises import service as franchise_service
from rodistaa.franchises.tables import franchises
from tests.api.fleet_flows import (
    NAGPUR,
    PUNE,
    add_district,
    add_unit,
    assign_staff,
    create_franchise,
    franchise_tree,
    next_mobile,
    operator_session,
    staff_session,
)
from tests.api.flows import Session, admin_session, create_user_directly, sign_in
from tests.conftest import Harness

UNIT_ZONE = {"centre": PUNE, "radiusMeters": 20_000}


async def franchise_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(select(franchises))).mappings().all()]


async def audit_rows(h: Harness, action: str, actor: str) -> list[dict[str, Any]]:
    """The audit log is append-only and outlives each test: entries are told apart by actor."""
    async with h.app.state.services.db.read() as conn:
        query = (
            select(audit_log)
            .where(audit_log.c.action == action, audit_log.c.actor == actor)
            .order_by(audit_log.c.seq)
        )
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def user_franchise(h: Harness, user_id: str) -> str | None:
    async with h.app.state.services.db.read() as conn:
        value: str | None = (
            await conn.execute(select(users.c.franchise_id).where(users.c.id == user_id))
        ).scalar_one()
        return value


async def session_with_role(h: Harness, role: Role) -> Session:
    if role is Role.OPERATOR:
        return await operator_session(h)
    mobile = next_mobile()
    await create_user_directly(h, mobile, role)
    return await sign_in(h, mobile)


class TestCreateFranchise:
    async def test_admin_builds_the_tree(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        hq = await create_franchise(harness, admin, {"name": " Rodistaa HQ ", "kind": "HQ"})
        district = await add_district(harness, admin, hq["id"])
        unit = await add_unit(harness, admin, district["id"])
        assert hq["id"].startswith("FRN-") and hq["name"] == "Rodistaa HQ"
        assert (hq["parentId"], hq["zone"]) == (None, None)
        assert (district["kind"], district["parentId"], district["zone"]) == ("DISTRICT", hq["id"], None)
        assert (unit["kind"], unit["parentId"]) == ("UNIT", district["id"])
        assert unit["zone"] == {"centre": PUNE, "radiusMeters": 20_000}
        rows = {r["id"]: r for r in await franchise_rows(harness)}
        assert rows[unit["id"]]["centre_lat"] == PUNE["lat"] and rows[unit["id"]]["radius_m"] == 20_000
        assert rows[district["id"]]["parent_id"] == hq["id"] and rows[hq["id"]]["kind"] == "HQ"
        audits = await audit_rows(harness, "franchise.created", admin.user_id)
        assert [a["entity_id"] for a in audits] == [hq["id"], district["id"], unit["id"]]
        assert audits[2]["actor"] == admin.user_id

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        response = await harness.client.post("/v1/admin/franchises", json={"name": "HQ", "kind": "HQ"})
        assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")

    @pytest.mark.parametrize("role", [Role.OPERATOR, Role.FRANCHISE_DISTRICT, Role.KYC_ADMIN])
    async def test_other_roles_are_403_and_nothing_is_written(self, harness: Harness, role: Role) -> None:
        caller = await session_with_role(harness, role)
        response = await harness.client.post(
            "/v1/admin/franchises", json={"name": "HQ", "kind": "HQ"}, headers=caller.headers
        )
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert await franchise_rows(harness) == []

    async def test_a_second_hq_is_409(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        await create_franchise(harness, admin, {"name": "HQ", "kind": "HQ"})
        response = await harness.client.post(
            "/v1/admin/franchises", json={"name": "HQ 2", "kind": "HQ"}, headers=admin.headers
        )
        assert (response.status_code, response.json()["code"]) == (409, "CONFLICT")
        assert len(await franchise_rows(harness)) == 1

    async def test_concurrent_hq_creations_make_exactly_one(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        responses = await asyncio.gather(
            *(
                harness.client.post(
                    "/v1/admin/franchises", json={"name": f"HQ {i}", "kind": "HQ"}, headers=admin.headers
                )
                for i in range(4)
            )
        )
        assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
        assert [r["kind"] for r in await franchise_rows(harness)] == ["HQ"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": " ", "kind": "HQ"}, "name"),
            ({"name": "X", "kind": "REGION"}, "kind"),
            ({"name": "X", "kind": "HQ", "extra": 1}, "extra"),
            ({"name": "X", "kind": "HQ", "parentId": "FRN-X"}, "parentId"),
            ({"name": "X", "kind": "DISTRICT"}, "parentId"),
            ({"name": "X", "kind": "UNIT", "parentId": "DISTRICT"}, "zone"),
            ({"name": "X", "kind": "DISTRICT", "parentId": "HQ", "zone": UNIT_ZONE}, "zone"),
            (
                {
                    "name": "X",
                    "kind": "UNIT",
                    "parentId": "DISTRICT",
                    "zone": {**UNIT_ZONE, "radiusMeters": 0},
                },
                "zone.radiusMeters",
            ),
            (
                {
                    "name": "X",
                    "kind": "UNIT",
                    "parentId": "DISTRICT",
                    "zone": {**UNIT_ZONE, "centre": {"lat": 91, "lng": 0}},
                },
                "zone.centre.lat",
            ),
            ({"name": "X", "kind": "DISTRICT", "parentId": "FRN-UNKNOWN"}, "parentId"),
            ({"name": "X", "kind": "UNIT", "parentId": "HQ", "zone": UNIT_ZONE}, "parentId"),
            ({"name": "X", "kind": "DISTRICT", "parentId": "DISTRICT"}, "parentId"),
        ],
    )
    async def test_validation_names_the_field(
        self, harness: Harness, body: dict[str, Any], field: str
    ) -> None:
        admin = await admin_session(harness)
        hq = await create_franchise(harness, admin, {"name": "HQ", "kind": "HQ"})
        district = await add_district(harness, admin, hq["id"])
        ids = {"HQ": hq["id"], "DISTRICT": district["id"]}
        if body.get("parentId") in ids:
            body = {**body, "parentId": ids[body["parentId"]]}
        response = await harness.client.post("/v1/admin/franchises", json=body, headers=admin.headers)
        assert response.status_code == 400, response.text
        assert (response.json()["code"], response.json()["details"]["field"]) == ("VALIDATION_ERROR", field)
        assert len(await franchise_rows(harness)) == 2


class TestListFranchises:
    async def test_admin_lists_oldest_first_with_filters_and_pages(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        second = await add_unit(harness, admin, tree.district_id, centre=NAGPUR, name="Nagpur Unit")
        response = await harness.client.get("/v1/admin/franchises", headers=admin.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert [f["id"] for f in body["data"]] == [tree.hq_id, tree.district_id, tree.unit_id, second["id"]]
        assert body["meta"] == {"page": 1, "pageSize": 20, "total": 4, "totalPages": 1}
        units = await harness.client.get(
            "/v1/admin/franchises", params={"kind": "UNIT", "pageSize": 1, "page": 2}, headers=admin.headers
        )
        assert [f["id"] for f in units.json()["data"]] == [second["id"]]
        assert units.json()["meta"] == {"page": 2, "pageSize": 1, "total": 2, "totalPages": 2}
        children = await harness.client.get(
            "/v1/admin/franchises", params={"parentId": tree.hq_id}, headers=admin.headers
        )
        assert [f["id"] for f in children.json()["data"]] == [tree.district_id]

    async def test_anonymous_is_401_and_staff_are_403(self, harness: Harness) -> None:
        assert (await harness.client.get("/v1/admin/franchises")).status_code == 401
        staff = await session_with_role(harness, Role.FRANCHISE_UNIT)
        response = await harness.client.get("/v1/admin/franchises", headers=staff.headers)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")

    async def test_an_unknown_kind_is_400(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        response = await harness.client.get(
            "/v1/admin/franchises", params={"kind": "X"}, headers=admin.headers
        )
        assert (response.status_code, response.json()["details"]["field"]) == (400, "query.kind")


class TestAssignStaff:
    async def test_unit_and_district_staff_join_their_franchise(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        unit_user = await create_user_directly(harness, next_mobile(), Role.FRANCHISE_UNIT)
        district_user = await create_user_directly(harness, next_mobile(), Role.FRANCHISE_DISTRICT)
        response = await assign_staff(harness, admin, tree.unit_id, unit_user)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "userId": unit_user,
            "role": "FRANCHISE_UNIT",
            "franchiseId": tree.unit_id,
            "previousFranchiseId": None,
        }
        assert (await assign_staff(harness, admin, tree.district_id, district_user)).status_code == 200
        assert await user_franchise(harness, unit_user) == tree.unit_id
        assert await user_franchise(harness, district_user) == tree.district_id
        audits = await audit_rows(harness, "franchise.staff_assigned", admin.user_id)
        assert [(a["entity_id"], a["actor"]) for a in audits] == [
            (unit_user, admin.user_id),
            (district_user, admin.user_id),
        ]
        assert '"franchiseId":"' + tree.unit_id in audits[0]["data"]

    async def test_reassignment_moves_the_member(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        other = await add_unit(harness, admin, tree.district_id, centre=NAGPUR, name="Nagpur Unit")
        member = await create_user_directly(harness, next_mobile(), Role.FRANCHISE_UNIT)
        await assign_staff(harness, admin, tree.unit_id, member)
        response = await assign_staff(harness, admin, other["id"], member)
        assert response.json()["previousFranchiseId"] == tree.unit_id
        assert await user_franchise(harness, member) == other["id"]

    @pytest.mark.parametrize(
        ("role", "target"),
        [
            (Role.FRANCHISE_UNIT, "district"),
            (Role.FRANCHISE_DISTRICT, "unit"),
            (Role.FRANCHISE_UNIT, "hq"),
            (Role.OPERATOR, "unit"),
            (Role.ADMIN, "hq"),
        ],
    )
    async def test_a_role_that_does_not_fit_is_400_naming_user_id(
        self, harness: Harness, role: Role, target: str
    ) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        member = await create_user_directly(harness, next_mobile(), role)
        franchise_id = {"hq": tree.hq_id, "district": tree.district_id, "unit": tree.unit_id}[target]
        response = await assign_staff(harness, admin, franchise_id, member)
        assert response.status_code == 400, response.text
        assert response.json()["details"]["field"] == "userId"
        assert await user_franchise(harness, member) is None

    async def test_unknown_user_is_400_and_unknown_franchise_is_404(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        unknown_user = await assign_staff(harness, admin, tree.unit_id, "USR-FU-UNKNOWN")
        assert (unknown_user.status_code, unknown_user.json()["details"]["field"]) == (400, "userId")
        member = await create_user_directly(harness, next_mobile(), Role.FRANCHISE_UNIT)
        unknown_franchise = await assign_staff(harness, admin, "FRN-UNKNOWN", member)
        assert (unknown_franchise.status_code, unknown_franchise.json()["code"]) == (404, "NOT_FOUND")

    async def test_missing_user_id_is_400(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        response = await harness.client.post(
            f"/v1/admin/franchises/{tree.unit_id}/staff", json={}, headers=admin.headers
        )
        assert (response.status_code, response.json()["details"]["field"]) == (400, "userId")

    async def test_anonymous_is_401_and_non_admins_are_403(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        member = await create_user_directly(harness, next_mobile(), Role.FRANCHISE_UNIT)
        url = f"/v1/admin/franchises/{tree.unit_id}/staff"
        assert (await harness.client.post(url, json={"userId": member})).status_code == 401
        district = await staff_session(harness, admin, tree.district_id, Role.FRANCHISE_DISTRICT)
        response = await harness.client.post(url, json={"userId": member}, headers=district.headers)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert await user_franchise(harness, member) is None


class TestMyFranchise:
    async def test_unit_staff_see_their_unit(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        staff = await staff_session(harness, admin, tree.unit_id, Role.FRANCHISE_UNIT)
        response = await harness.client.get("/v1/franchise/me", headers=staff.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["id"], body["kind"], body["units"]) == (tree.unit_id, "UNIT", [])
        assert body["zone"] == {"centre": PUNE, "radiusMeters": 20_000}

    async def test_district_staff_see_their_units(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        other = await add_unit(harness, admin, tree.district_id, centre=NAGPUR, name="Nagpur Unit")
        staff = await staff_session(harness, admin, tree.district_id, Role.FRANCHISE_DISTRICT)
        body = (await harness.client.get("/v1/franchise/me", headers=staff.headers)).json()
        assert body["id"] == tree.district_id
        assert [u["id"] for u in body["units"]] == [other["id"], tree.unit_id]  # by name

    async def test_unassigned_staff_get_404(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        staff = await staff_session(harness, admin, None, Role.FRANCHISE_UNIT)
        response = await harness.client.get("/v1/franchise/me", headers=staff.headers)
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")

    @pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN])
    async def test_other_roles_are_403(self, harness: Harness, role: Role) -> None:
        caller = await session_with_role(harness, role)
        response = await harness.client.get("/v1/franchise/me", headers=caller.headers)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        assert (await harness.client.get("/v1/franchise/me")).status_code == 401


class TestUnitForPoint:
    async def test_the_zone_containing_the_point_wins_nearest_centre_first(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin, radius_m=20_000)
        # A wide zone centred 10 km east overlaps the Pune unit's.
        east = {"lat": PUNE["lat"], "lng": PUNE["lng"] + 0.0947}
        wide = await add_unit(harness, admin, tree.district_id, centre=east, radius_m=50_000, name="East")
        async with harness.app.state.services.db.read() as conn:
            at_pune = await franchise_service.unit_for_point(conn, PUNE["lat"], PUNE["lng"] + 0.01)
            at_east = await franchise_service.unit_for_point(conn, east["lat"], east["lng"] + 0.05)
            # 70 km west of Pune: 80 km from the wide zone's centre, inside neither.
            west = await franchise_service.unit_for_point(conn, PUNE["lat"], PUNE["lng"] - 0.663)
            far = await franchise_service.unit_for_point(conn, NAGPUR["lat"], NAGPUR["lng"])
        assert at_pune is not None and at_pune.id == tree.unit_id
        assert at_east is not None and at_east.id == wide["id"]
        assert (west, far) == (None, None)

    async def test_the_zone_edge_is_inside(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin, radius_m=1_000)
        async with harness.app.state.services.db.read() as conn:
            # 0.0089 degrees of latitude is about 990 m; 0.0091 about 1,012 m.
            inside = await franchise_service.unit_for_point(conn, PUNE["lat"] + 0.0089, PUNE["lng"])
            outside = await franchise_service.unit_for_point(conn, PUNE["lat"] + 0.0091, PUNE["lng"])
        assert inside is not None and inside.id == tree.unit_id
        assert outside is None
