"""Trucks (PRODUCT §5): registration with eligibility, the 10-truck limit (ACS RF12 and the locked
re-check), maintenance windows (RF22), visibility by role, and retirement."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, update

from rodistaa.acs.tables import notifications, outbox_events
from rodistaa.core.roles import Role
from rodistaa.fleet.tables import maintenance_windows, trucks
from rodistaa.fleet.vahan import derived_chassis
from rodistaa.security.envelope import decrypt_text
from tests.api.acs_setup import insert_block
from tests.api.fleet_flows import (
    NAGPUR,
    PUNE_SUBURB,
    active_truck,
    add_district,
    add_unit,
    create_truck,
    franchise_tree,
    next_mobile,
    operator_session,
    post_truck,
    staff_session,
    truck_body,
)
from tests.api.flows import Session, admin_session, create_user_directly, sign_in
from tests.conftest import Harness


async def truck_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [
            dict(r)
            for r in (await conn.execute(select(trucks).order_by(trucks.c.created_at))).mappings().all()
        ]


async def session_with_role(h: Harness, role: Role) -> Session:
    mobile = next_mobile()
    await create_user_directly(h, mobile, role)
    return await sign_in(h, mobile)


async def audit_api(h: Harness, admin: Session, **params: str) -> list[dict[str, Any]]:
    response = await h.client.get(
        "/v1/admin/audit", params={"pageSize": 100, **params}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def create_trucks(h: Harness, session: Session, count: int) -> list[dict[str, Any]]:
    return [await create_truck(h, session) for _ in range(count)]


class TestRegisterTruck:
    async def test_operator_registers_a_truck_in_the_unit_zone(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        operator = await operator_session(harness)
        chassis = "ma3-ewde 1s00 999888"
        response = await post_truck(
            harness, operator, truck_body("mh-12 ab 4321", chassisNumber=chassis, baseLocation=PUNE_SUBURB)
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["id"].startswith("TRK-MH12AB4321-")
        assert (body["registrationNumber"], body["operatorId"]) == ("MH12AB4321", operator.user_id)
        assert (body["status"], body["documents"], body["franchiseUnitId"]) == (
            "PENDING_INSPECTION",
            [],
            tree.unit_id,
        )
        assert body["chassisNumberMasked"] == "*************9888"
        assert (body["vehicleType"], body["bodyType"], body["tyres"], body["capacityTonnes"]) == (
            "HGV",
            "CONTAINER",
            10,
            16.5,
        )
        assert (body["modelYear"], body["emission"], body["permitType"]) == (2021, "BS6", "NATIONAL")
        assert body["baseLocation"] == PUNE_SUBURB and body["lastInspectedAt"] is None
        [row] = await truck_rows(harness)
        assert (row["id"], row["status"], row["franchise_unit_id"]) == (
            body["id"],
            "PENDING_INSPECTION",
            tree.unit_id,
        )
        assert row["chassis_hash"] == hashlib.sha256(b"MA3EWDE1S00999888").hexdigest()
        assert "999888" not in row["chassis_ciphertext"]
        services = harness.app.state.services
        async with services.db.read() as conn:
            key = await services.data_keys.for_reading(conn, operator.user_id)
        aad = f"truck:{body['id']}:chassis".encode()
        assert decrypt_text(key, row["chassis_ciphertext"], aad) == "MA3EWDE1S00999888"
        [entry] = await audit_api(harness, admin, action="truck.created", entityId=body["id"])
        assert (entry["entityId"], entry["performedBy"]) == (body["id"], operator.user_id)
        assert entry["metadata"]["chassisHash"] == row["chassis_hash"]

    async def test_a_truck_based_outside_every_zone_has_no_unit(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        await franchise_tree(harness, admin)
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator, baseLocation=NAGPUR)
        assert truck["franchiseUnitId"] is None
        assert (await truck_rows(harness))[0]["franchise_unit_id"] is None

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        response = await harness.client.post("/v1/trucks", json=truck_body())
        assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.ADMIN, Role.FRANCHISE_UNIT, Role.DRIVER])
    async def test_other_roles_are_403(self, harness: Harness, role: Role) -> None:
        caller = await session_with_role(harness, role)
        response = await post_truck(harness, caller, truck_body())
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert await truck_rows(harness) == []

    async def test_a_registration_already_registered_is_409_in_any_spelling(self, harness: Harness) -> None:
        first, second = await operator_session(harness), await operator_session(harness)
        await create_truck(harness, first, registration="MH12AB7777")
        response = await post_truck(harness, second, truck_body("mh 12-ab 7777"))
        assert (response.status_code, response.json()["code"]) == (409, "REGISTRATION_TAKEN")
        assert len(await truck_rows(harness)) == 1

    async def test_concurrent_registrations_of_one_number_make_one_truck(self, harness: Harness) -> None:
        operators = [await operator_session(harness) for _ in range(3)]
        responses = await asyncio.gather(
            *(post_truck(harness, op, truck_body("KA05MN1234")) for op in operators)
        )
        assert sorted(r.status_code for r in responses) == [201, 409, 409]
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"REGISTRATION_TAKEN"}
        assert len(await truck_rows(harness)) == 1

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"registrationNumber": "MH12AB123"}, "registrationNumber"),
            ({"registrationNumber": "12MHAB1234"}, "registrationNumber"),
            ({"vehicleType": "BUS"}, "vehicleType"),
            ({"bodyType": "TANKER"}, "bodyType"),
            ({"tyres": 8}, "tyres"),
            ({"capacityTonnes": 0}, "capacityTonnes"),
            ({"capacityTonnes": 12.345}, "capacityTonnes"),
            ({"modelYear": 1900}, "modelYear"),
            ({"emission": "BS5"}, "emission"),
            ({"permitType": "GLOBAL"}, "permitType"),
            ({"chassisNumber": "AB1"}, "chassisNumber"),
            ({"chassisNumber": "MA3EWDE1S0012345!"}, "chassisNumber"),
            ({"baseLocation": {"lat": 91, "lng": 73}}, "baseLocation.lat"),
            ({"baseLocation": {"lat": 18}}, "baseLocation.lng"),
            ({"colour": "red"}, "colour"),
        ],
    )
    async def test_validation_names_the_field(
        self, harness: Harness, overrides: dict[str, Any], field: str
    ) -> None:
        operator = await operator_session(harness)
        response = await post_truck(harness, operator, truck_body(**overrides))
        assert response.status_code == 400, response.text
        assert (response.json()["code"], response.json()["details"]["field"]) == ("VALIDATION_ERROR", field)
        assert await truck_rows(harness) == []

    async def test_a_missing_field_is_400(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        body = truck_body()
        del body["chassisNumber"]
        response = await post_truck(harness, operator, body)
        assert (response.status_code, response.json()["details"]["field"]) == (400, "chassisNumber")

    async def test_an_ineligible_truck_is_refused_with_every_reason(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        body = truck_body(vehicleType="MGV", modelYear=2015, emission="BS3", permitType="STATE")
        response = await post_truck(harness, operator, body)
        assert response.status_code == 400, response.text
        details = response.json()["details"]
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert [f["field"] for f in details["fields"]] == [
            "vehicleType",
            "modelYear",
            "emission",
            "permitType",
        ]
        assert details["field"] == "vehicleType"
        assert await truck_rows(harness) == []

    async def test_a_model_year_in_the_future_is_refused(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        year = harness.clock.now().year + 2
        response = await post_truck(harness, operator, truck_body(modelYear=year))
        assert (response.status_code, response.json()["details"]["field"]) == (400, "modelYear")


class TestTruckLimit:
    async def test_the_eleventh_truck_is_refused_by_rf12(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        operator = await operator_session(harness)
        await create_trucks(harness, operator, 10)
        response = await post_truck(harness, operator, truck_body())
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "MAX_TRUCKS_EXCEEDED"
        assert response.json()["details"]["ruleId"] == "RF12_OPERATOR_MAX_TRUCKS_LIMIT"
        assert len(await truck_rows(harness)) == 10
        async with harness.app.state.services.db.read() as conn:
            notes = (await conn.execute(select(notifications))).mappings().all()
        assert [(n["user_id"], n["rule_id"], n["message"]) for n in notes] == [
            (operator.user_id, "RF12_OPERATOR_MAX_TRUCKS_LIMIT", "Max trucks allowed: 10")
        ]
        event_id = response.json()["details"]["eventId"]
        hits = await audit_api(harness, admin, action="acs.rule_matched", entityId=event_id)
        assert [h["ruleId"] for h in hits] == ["RF12_OPERATOR_MAX_TRUCKS_LIMIT"]

    async def test_retired_trucks_do_not_count(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        fleet = await create_trucks(harness, operator, 10)
        retire = await harness.client.post(f"/v1/trucks/{fleet[0]['id']}/retire", headers=operator.headers)
        assert retire.status_code == 200, retire.text
        response = await post_truck(harness, operator, truck_body())
        assert response.status_code == 201, response.text

    async def test_concurrent_registrations_never_pass_the_limit(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        await create_trucks(harness, operator, 8)
        responses = await asyncio.gather(*(post_truck(harness, operator, truck_body()) for _ in range(5)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 201, 403, 403, 403], [r.text for r in responses]
        assert {r.json()["code"] for r in responses if r.status_code == 403} == {"MAX_TRUCKS_EXCEEDED"}
        assert len([r for r in await truck_rows(harness) if r["operator_id"] == operator.user_id]) == 10


class TestMaintenanceWindowRule:
    async def window(self, h: Harness, admin: Session, operator_id: str | None, hours: int = 2) -> None:
        now = h.clock.now()
        body = {
            "operatorId": operator_id,
            "startsAt": (now - timedelta(minutes=5)).isoformat(),
            "endsAt": (now + timedelta(hours=hours)).isoformat(),
            "reason": "Fleet audit",
        }
        response = await h.client.post("/v1/admin/maintenance-windows", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text

    async def test_rf22_refuses_registration_during_the_operators_window(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        operator, other = await operator_session(harness), await operator_session(harness)
        await self.window(harness, admin, operator.user_id)
        response = await post_truck(harness, operator, truck_body())
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "MAINTENANCE_WINDOW"
        assert response.json()["details"]["ruleId"] == "RF22_MAINTENANCE_WINDOW_BLOCK"
        assert await truck_rows(harness) == []
        async with harness.app.state.services.db.read() as conn:
            events = (await conn.execute(select(outbox_events.c.name, outbox_events.c.rule_id))).all()
        assert [tuple(e) for e in events] == [("ops.maintenance_block", "RF22_MAINTENANCE_WINDOW_BLOCK")]
        event_id = response.json()["details"]["eventId"]
        hits = await audit_api(harness, admin, action="acs.rule_matched", entityId=event_id)
        assert [h["ruleId"] for h in hits] == ["RF22_MAINTENANCE_WINDOW_BLOCK"]
        # Another operator is not in the window.
        assert (await post_truck(harness, other, truck_body())).status_code == 201

    async def test_a_platform_window_applies_to_everyone_until_it_ends(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        mobile = next_mobile()
        operator = await operator_session(harness, mobile)
        await self.window(harness, admin, None, hours=1)
        refused = await post_truck(harness, operator, truck_body())
        assert (refused.status_code, refused.json()["code"]) == (403, "MAINTENANCE_WINDOW")
        harness.clock.advance(hours=1, seconds=1)
        operator = await sign_in(harness, mobile)  # the earlier access token has expired
        assert (await post_truck(harness, operator, truck_body())).status_code == 201


class TestListTrucks:
    async def test_each_role_sees_its_own_trucks(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        nagpur = await add_unit(harness, admin, tree.district_id, centre=NAGPUR, name="Nagpur Unit")
        first, second = await operator_session(harness), await operator_session(harness)
        pune_truck = await create_truck(harness, first)
        nagpur_truck = await create_truck(harness, second, baseLocation=NAGPUR)
        other_district = await add_unit_in_new_district(harness, admin, tree.hq_id)
        unit_staff = await staff_session(harness, admin, tree.unit_id, Role.FRANCHISE_UNIT)
        nagpur_staff = await staff_session(harness, admin, nagpur["id"], Role.FRANCHISE_UNIT)
        district_staff = await staff_session(harness, admin, tree.district_id, Role.FRANCHISE_DISTRICT)
        outsider = await staff_session(harness, admin, other_district, Role.FRANCHISE_DISTRICT)
        unassigned = await staff_session(harness, admin, None, Role.FRANCHISE_UNIT)
        expected = {
            first: [pune_truck["id"]],
            second: [nagpur_truck["id"]],
            admin: [nagpur_truck["id"], pune_truck["id"]],
            unit_staff: [pune_truck["id"]],
            nagpur_staff: [nagpur_truck["id"]],
            district_staff: [nagpur_truck["id"], pune_truck["id"]],
            outsider: [],
            unassigned: [],
        }
        for session, ids in expected.items():
            response = await harness.client.get("/v1/trucks", headers=session.headers)
            assert response.status_code == 200, response.text
            assert [t["id"] for t in response.json()["data"]] == ids
            assert response.json()["meta"]["total"] == len(ids)

    async def test_only_the_owner_sees_the_masked_chassis(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        own = (await harness.client.get("/v1/trucks", headers=operator.headers)).json()["data"][0]
        assert own["chassisNumberMasked"] == "*" * 13 + derived_chassis(truck["registrationNumber"])[-4:]
        seen = (await harness.client.get("/v1/trucks", headers=admin.headers)).json()["data"][0]
        assert seen["chassisNumberMasked"] is None

    async def test_status_filter_and_pages(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        pending = [await create_truck(harness, operator) for _ in range(3)]
        active = await active_truck(harness, operator)
        response = await harness.client.get(
            "/v1/trucks",
            params={"status": "PENDING_INSPECTION", "pageSize": 2, "page": 2},
            headers=operator.headers,
        )
        assert response.status_code == 200, response.text
        assert [t["id"] for t in response.json()["data"]] == [pending[0]["id"]]  # newest first
        assert response.json()["meta"] == {"page": 2, "pageSize": 2, "total": 3, "totalPages": 2}
        only_active = await harness.client.get(
            "/v1/trucks", params={"status": "ACTIVE"}, headers=operator.headers
        )
        [listed] = only_active.json()["data"]
        assert listed["id"] == active["id"] and len(listed["documents"]) == 5

    async def test_a_blocked_truck_is_listed_as_blocked_at_once(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await active_truck(harness, operator)
        await insert_block(harness, "truck", truck["id"])
        blocked = await harness.client.get(
            "/v1/trucks", params={"status": "BLOCKED"}, headers=operator.headers
        )
        assert [t["id"] for t in blocked.json()["data"]] == [truck["id"]]
        active = await harness.client.get("/v1/trucks", params={"status": "ACTIVE"}, headers=operator.headers)
        assert active.json()["data"] == []

    async def test_an_unknown_status_is_400(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        response = await harness.client.get("/v1/trucks", params={"status": "OPEN"}, headers=operator.headers)
        assert (response.status_code, response.json()["details"]["field"]) == (400, "query.status")

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.DRIVER, Role.KYC_ADMIN])
    async def test_other_roles_are_403(self, harness: Harness, role: Role) -> None:
        caller = await session_with_role(harness, role)
        response = await harness.client.get("/v1/trucks", headers=caller.headers)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        assert (await harness.client.get("/v1/trucks")).status_code == 401


async def add_unit_in_new_district(h: Harness, admin: Session, hq_id: str) -> str:
    district = await add_district(h, admin, hq_id, name="Nashik District")
    await add_unit(h, admin, district["id"], centre={"lat": 19.99, "lng": 73.79}, name="Nashik Unit")
    return str(district["id"])


class TestGetTruck:
    async def test_owner_admin_and_zone_staff_see_the_truck(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        operator = await operator_session(harness)
        truck = await active_truck(harness, operator)
        unit_staff = await staff_session(harness, admin, tree.unit_id, Role.FRANCHISE_UNIT)
        own = await harness.client.get(f"/v1/trucks/{truck['id']}", headers=operator.headers)
        assert own.status_code == 200, own.text
        body = own.json()
        assert (body["id"], body["status"], body["chassisNumberMasked"][-4:]) == (
            truck["id"],
            "ACTIVE",
            derived_chassis(truck["registrationNumber"])[-4:],
        )
        assert sorted(d["type"] for d in body["documents"]) == ["FITNESS", "INSURANCE", "PERMIT", "PUC", "RC"]
        assert all(
            d["fileUrl"] == f"/v1/trucks/{truck['id']}/documents/{d['id']}/file" for d in body["documents"]
        )
        assert body["lastInspectedAt"] is not None
        for session in (admin, unit_staff):
            seen = await harness.client.get(f"/v1/trucks/{truck['id']}", headers=session.headers)
            assert seen.status_code == 200, seen.text
            assert seen.json()["chassisNumberMasked"] is None and seen.json()["status"] == "ACTIVE"

    async def test_another_operator_and_other_unit_staff_get_404(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        tree = await franchise_tree(harness, admin)
        nagpur = await add_unit(harness, admin, tree.district_id, centre=NAGPUR, name="Nagpur Unit")
        operator, other = await operator_session(harness), await operator_session(harness)
        truck = await create_truck(harness, operator)
        nagpur_staff = await staff_session(harness, admin, nagpur["id"], Role.FRANCHISE_UNIT)
        for session in (other, nagpur_staff):
            response = await harness.client.get(f"/v1/trucks/{truck['id']}", headers=session.headers)
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
        unknown = await harness.client.get("/v1/trucks/TRK-MH12AB0000-UNKNOWN", headers=operator.headers)
        assert unknown.status_code == 404

    async def test_shipper_is_403_and_anonymous_401(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        shipper = await session_with_role(harness, Role.SHIPPER)
        response = await harness.client.get(f"/v1/trucks/{truck['id']}", headers=shipper.headers)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert (await harness.client.get(f"/v1/trucks/{truck['id']}")).status_code == 401


class TestRetireTruck:
    async def test_owner_retires_a_truck(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        operator = await operator_session(harness)
        truck = await active_truck(harness, operator)
        response = await harness.client.post(f"/v1/trucks/{truck['id']}/retire", headers=operator.headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "INACTIVE"
        assert (await truck_rows(harness))[0]["status"] == "INACTIVE"
        [entry] = await audit_api(harness, admin, action="truck.retired", entityId=truck["id"])
        assert entry["entityId"] == truck["id"] and entry["metadata"]["from"] == "ACTIVE"

    async def test_a_retired_truck_cannot_be_retired_again(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        url = f"/v1/trucks/{truck['id']}/retire"
        responses = await asyncio.gather(
            *(harness.client.post(url, headers=operator.headers) for _ in range(3))
        )
        assert sorted(r.status_code for r in responses) == [200, 409, 409]
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"INVALID_STATE"}

    async def test_a_blocked_truck_cannot_be_retired(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        await insert_block(harness, "truck", truck["id"])
        response = await harness.client.post(f"/v1/trucks/{truck['id']}/retire", headers=operator.headers)
        assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")
        assert (await truck_rows(harness))[0]["status"] == "PENDING_INSPECTION"

    async def test_a_stored_blocked_status_also_refuses(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(update(trucks).where(trucks.c.id == truck["id"]).values(status="BLOCKED"))
        response = await harness.client.post(f"/v1/trucks/{truck['id']}/retire", headers=operator.headers)
        assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")

    async def test_admin_is_403_other_operator_404_shipper_403_anonymous_401(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        operator, other = await operator_session(harness), await operator_session(harness)
        truck = await create_truck(harness, operator)
        url = f"/v1/trucks/{truck['id']}/retire"
        shipper = await session_with_role(harness, Role.SHIPPER)
        assert (await harness.client.post(url, headers=admin.headers)).status_code == 403
        assert (await harness.client.post(url, headers=other.headers)).status_code == 404
        assert (await harness.client.post(url, headers=shipper.headers)).status_code == 403
        assert (await harness.client.post(url)).status_code == 401
        assert (await truck_rows(harness))[0]["status"] == "PENDING_INSPECTION"


class TestMaintenanceWindows:
    def window_body(self, h: Harness, **overrides: Any) -> dict[str, Any]:
        now = h.clock.now()
        body: dict[str, Any] = {
            "startsAt": (now + timedelta(hours=1)).isoformat(),
            "endsAt": (now + timedelta(hours=3)).isoformat(),
            "reason": "Quarterly fleet audit",
        }
        body.update(overrides)
        return body

    async def window_rows(self, h: Harness) -> list[dict[str, Any]]:
        async with h.app.state.services.db.read() as conn:
            return [dict(r) for r in (await conn.execute(select(maintenance_windows))).mappings().all()]

    async def test_admin_creates_and_lists_windows(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        operator = await operator_session(harness)
        ist = timezone(timedelta(hours=5, minutes=30))
        starts = (harness.clock.now() + timedelta(hours=1)).astimezone(ist)
        body = self.window_body(harness, operatorId=operator.user_id, startsAt=starts.isoformat())
        response = await harness.client.post(
            "/v1/admin/maintenance-windows", json=body, headers=admin.headers
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["id"].startswith("MNT-")
        assert (created["operatorId"], created["createdBy"], created["reason"]) == (
            operator.user_id,
            admin.user_id,
            "Quarterly fleet audit",
        )
        assert datetime.fromisoformat(created["startsAt"]) == starts and created["startsAt"].endswith("Z")
        platform = await harness.client.post(
            "/v1/admin/maintenance-windows", json=self.window_body(harness), headers=admin.headers
        )
        assert platform.status_code == 201 and platform.json()["operatorId"] is None
        [row] = [r for r in await self.window_rows(harness) if r["operator_id"] is not None]
        assert (row["id"], row["created_by"]) == (created["id"], admin.user_id)
        [entry] = await audit_api(harness, admin, action="maintenance_window.created", entityId=created["id"])
        assert entry["metadata"]["operatorId"] == operator.user_id
        listed = await harness.client.get("/v1/admin/maintenance-windows", headers=admin.headers)
        assert listed.status_code == 200 and listed.json()["meta"]["total"] == 2
        mine = await harness.client.get(
            "/v1/admin/maintenance-windows", params={"operatorId": operator.user_id}, headers=admin.headers
        )
        assert [w["id"] for w in mine.json()["data"]] == [created["id"]]

    async def test_anonymous_is_401_and_non_admins_403(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        url = "/v1/admin/maintenance-windows"
        assert (await harness.client.post(url, json=self.window_body(harness))).status_code == 401
        assert (await harness.client.get(url)).status_code == 401
        refused = await harness.client.post(url, json=self.window_body(harness), headers=operator.headers)
        assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
        assert (await harness.client.get(url, headers=operator.headers)).status_code == 403
        assert await self.window_rows(harness) == []

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"endsAt": "START"}, "endsAt"),
            ({"startsAt": "PAST2", "endsAt": "PAST1"}, "endsAt"),
            ({"startsAt": "2030-01-01T10:00:00"}, "startsAt"),
            # Once a 500: a time that cannot be converted to UTC.
            ({"endsAt": "9999-12-31T23:59:59-05:00"}, "endsAt"),
            ({"reason": "  "}, "reason"),
            ({"operatorId": "SHIPPER"}, "operatorId"),
            ({"operatorId": "USR-OP-UNKNOWN"}, "operatorId"),
        ],
    )
    async def test_validation_names_the_field(
        self, harness: Harness, overrides: dict[str, Any], field: str
    ) -> None:
        admin = await admin_session(harness)
        shipper = await session_with_role(harness, Role.SHIPPER)
        now = harness.clock.now()
        replacements = {
            "START": (now + timedelta(hours=1)).isoformat(),
            "PAST1": (now - timedelta(hours=1)).isoformat(),
            "PAST2": (now - timedelta(hours=2)).isoformat(),
            "SHIPPER": shipper.user_id,
        }
        body = self.window_body(harness, **{k: replacements.get(v, v) for k, v in overrides.items()})
        response = await harness.client.post(
            "/v1/admin/maintenance-windows", json=body, headers=admin.headers
        )
        assert response.status_code == 400, response.text
        assert (response.json()["code"], response.json()["details"]["field"]) == ("VALIDATION_ERROR", field)
        assert await self.window_rows(harness) == []
