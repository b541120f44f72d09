"""The crew of a shipment (PRODUCT §6 "Shipment"): the operator assigns an ACTIVE truck of its
own and a driver of its fleet (ACS `shipment.assign`: RF02 blocks a truck with expired
documents), one active shipment per driver (a unique index: races too), the shipper approves or
rejects the driver, and the operator may change the crew until the start."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from rodistaa.acs.tables import tickets
from rodistaa.core.roles import Role, UserStatus
from rodistaa.db.tables import users
from rodistaa.shipments.status import ShipmentStatus
from tests.api.booking_flows import session_with_role
from tests.api.flows import admin_session
from tests.api.freight_setup import active_fleet_truck, fleet_driver, next_registration, seeded_trip
from tests.api.onboarding_setup import insert_truck
from tests.api.shipment_flows import (
    approve,
    assert_error,
    assign,
    audit_entries,
    block_rows,
    get,
    inbox,
    outbox_payloads,
    post,
    shipment_row,
)
from tests.conftest import Harness

S = ShipmentStatus
ASSIGNABLE = [S.ASSIGNED, S.DRIVER_PENDING_APPROVAL, S.APPROVED]
NOT_ASSIGNABLE = [s for s in S if s not in ASSIGNABLE]


async def crew(h: Harness, operator_id: str) -> tuple[str, str]:
    """A fresh (driver id, ACTIVE truck id) of the operator's fleet."""
    driver = await fleet_driver(h, operator_id)
    return driver.user_id, await active_fleet_truck(h, operator_id)


class TestAssign:
    async def test_operator_assigns_a_truck_and_a_driver(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.ASSIGNED)
        driver_id, truck_id = await crew(harness, trip.operator.user_id)
        response = await assign(harness, trip.operator, trip.shipment_id, driver_id, truck_id)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["driverId"], body["truckId"]) == (
            "DRIVER_PENDING_APPROVAL",
            driver_id,
            truck_id,
        )
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["driver_id"], row["truck_id"]) == (
            "DRIVER_PENDING_APPROVAL",
            driver_id,
            truck_id,
        )
        assert row["driver_approved_at"] is None
        [entry] = await audit_entries(harness, trip.shipment_id)
        assert (entry["action"], entry["actor"]) == ("shipment.assigned", trip.operator.user_id)
        assert entry["data"]["from"] == "ASSIGNED" and entry["data"]["driverId"] == driver_id
        assert await inbox(harness, trip.shipper.user_id) == [
            f"Driver {driver_id} with truck {truck_id} assigned to {trip.shipment_id}: "
            "approve or reject the driver"
        ]
        [message] = await inbox(harness, driver_id)
        assert trip.shipment_id in message
        assert await outbox_payloads(harness, "shipment.assigned") == [
            {
                "shipmentId": trip.shipment_id,
                "bookingId": trip.booking_id,
                "shipperId": trip.shipper.user_id,
                "operatorId": trip.operator.user_id,
                "driverId": driver_id,
                "truckId": truck_id,
            }
        ]

    async def test_changing_the_driver_before_the_start_needs_a_fresh_approval(
        self, harness: Harness
    ) -> None:
        trip = await seeded_trip(harness, status=S.APPROVED)
        assert trip.driver is not None and trip.truck_id is not None
        new_driver = await fleet_driver(harness, trip.operator.user_id)
        response = await assign(harness, trip.operator, trip.shipment_id, new_driver.user_id, trip.truck_id)
        assert response.status_code == 200, response.text
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["driver_id"], row["driver_approved_at"]) == (
            "DRIVER_PENDING_APPROVAL",
            new_driver.user_id,
            None,
        )
        assert await inbox(harness, trip.driver.user_id) == [
            f"You are no longer assigned to shipment {trip.shipment_id}"
        ]
        assert_error(await get(harness, trip.driver, f"/shipments/{trip.shipment_id}"), 404, "NOT_FOUND")
        assert (await get(harness, new_driver, f"/shipments/{trip.shipment_id}")).status_code == 200
        # The freed driver can take another shipment of the fleet at once.
        other = await seeded_trip(harness, status=S.ASSIGNED, operator=trip.operator)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        assert (
            await assign(harness, trip.operator, other.shipment_id, trip.driver.user_id, truck)
        ).status_code == 200

    async def test_reassigning_the_same_driver_is_allowed(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        assert trip.driver is not None
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        response = await assign(harness, trip.operator, trip.shipment_id, trip.driver.user_id, truck)
        assert response.status_code == 200, response.text
        assert (await shipment_row(harness, trip.shipment_id))["truck_id"] == truck

    async def test_wrong_roles_are_forbidden_and_other_operators_get_404(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        assert trip.driver is not None and trip.truck_id is not None
        before = await shipment_row(harness, trip.shipment_id)
        driver_id = trip.driver.user_id
        for session in (trip.shipper, trip.driver, admin, await session_with_role(harness, Role.KYC_ADMIN)):
            response = await assign(harness, session, trip.shipment_id, driver_id, trip.truck_id)
            assert_error(response, 403, "FORBIDDEN")
        other = await seeded_trip(harness, status=S.ASSIGNED)
        response = await assign(harness, other.operator, trip.shipment_id, driver_id, trip.truck_id)
        assert_error(response, 404, "NOT_FOUND")
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await audit_entries(harness, trip.shipment_id) == []

    @pytest.mark.parametrize(
        "body",
        [{}, {"driverId": "USR-DR-1"}, {"truckId": "TRK-1"}, {"driverId": "", "truckId": "TRK-1"}, None],
    )
    async def test_bad_input_is_400(self, harness: Harness, body: dict[str, str] | None) -> None:
        trip = await seeded_trip(harness, status=S.ASSIGNED)
        response = await post(harness, trip.operator, f"/shipments/{trip.shipment_id}/assign", body)
        assert_error(response, 400, "VALIDATION_ERROR")

    async def test_extra_fields_are_400(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.ASSIGNED)
        driver_id, truck_id = await crew(harness, trip.operator.user_id)
        body = {"driverId": driver_id, "truckId": truck_id, "status": "APPROVED"}
        response = await post(harness, trip.operator, f"/shipments/{trip.shipment_id}/assign", body)
        assert_error(response, 400, "VALIDATION_ERROR")

    @pytest.mark.parametrize("truck_status", ["PENDING_INSPECTION", "NEEDS_INSPECTION", "INACTIVE"])
    async def test_a_truck_that_is_not_active_is_refused(self, harness: Harness, truck_status: str) -> None:
        trip = await seeded_trip(harness, status=S.ASSIGNED)
        driver = await fleet_driver(harness, trip.operator.user_id)
        truck = await insert_truck(
            harness,
            trip.operator.user_id,
            registration=next_registration(),
            unit_id=None,
            status=truck_status,
        )
        before = await shipment_row(harness, trip.shipment_id)
        response = await assign(harness, trip.operator, trip.shipment_id, driver.user_id, truck)
        assert_error(response, 422, "TRUCK_NOT_ELIGIBLE")
        assert await shipment_row(harness, trip.shipment_id) == before

    async def test_another_operators_truck_or_an_unknown_one_is_refused_alike(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.ASSIGNED)
        other = await seeded_trip(harness, status=S.APPROVED)
        driver = await fleet_driver(harness, trip.operator.user_id)
        assert other.truck_id is not None
        for truck_id in (other.truck_id, "TRK-KA01AB1234-01ARZ3NDEKTSV4RRFFQ69G5FAV"):
            response = await assign(harness, trip.operator, trip.shipment_id, driver.user_id, truck_id)
            assert_error(response, 422, "TRUCK_NOT_ELIGIBLE")
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "ASSIGNED"

    async def test_a_truck_with_expired_documents_is_blocked_by_rf02(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.ASSIGNED)
        driver = await fleet_driver(harness, trip.operator.user_id)
        truck = await insert_truck(
            harness,
            trip.operator.user_id,
            registration=next_registration(),
            unit_id=None,
            status="EXPIRED_DOCS",
        )
        response = await assign(harness, trip.operator, trip.shipment_id, driver.user_id, truck)
        assert_error(response, 403, "TRUCK_DOCS_EXPIRED")
        assert response.json()["details"]["ruleId"] == "RF02_TRUCK_DOCS_EXPIRED"
        [block] = await block_rows(harness, "truck", truck)
        assert (block["reason"], block["lifted_at"]) == ("EXPIRED_DOCUMENTS", None)
        async with harness.app.state.services.db.read() as conn:
            refs = (
                await conn.execute(
                    select(tickets.c.refs).where(tickets.c.rule_id == "RF02_TRUCK_DOCS_EXPIRED")
                )
            ).all()
        assert [truck in r.refs for r in refs] == [True]
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["driver_id"], row["truck_id"]) == ("ASSIGNED", None, None)
        # Blocked now: the same truck is no longer eligible at all.
        response = await assign(harness, trip.operator, trip.shipment_id, driver.user_id, truck)
        assert_error(response, 422, "TRUCK_NOT_ELIGIBLE")

    async def test_a_driver_outside_the_fleet_is_refused(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.ASSIGNED)
        other = await seeded_trip(harness, status=S.ASSIGNED)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        outsider = await fleet_driver(harness, other.operator.user_id)
        for driver_id in (outsider.user_id, trip.shipper.user_id, trip.operator.user_id, "USR-DR-NOPE"):
            response = await assign(harness, trip.operator, trip.shipment_id, driver_id, truck)
            assert_error(response, 422, "DRIVER_NOT_ELIGIBLE")
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "ASSIGNED"

    @pytest.mark.parametrize("user_status", [UserStatus.INACTIVE, UserStatus.BLOCKED, UserStatus.SUSPENDED])
    async def test_a_driver_whose_account_is_not_active_is_refused(
        self, harness: Harness, user_status: UserStatus
    ) -> None:
        trip = await seeded_trip(harness, status=S.ASSIGNED)
        driver_id, truck_id = await crew(harness, trip.operator.user_id)
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(update(users).where(users.c.id == driver_id).values(status=user_status.value))
        response = await assign(harness, trip.operator, trip.shipment_id, driver_id, truck_id)
        assert_error(response, 422, "DRIVER_NOT_ELIGIBLE")

    async def test_a_busy_driver_is_refused(self, harness: Harness) -> None:
        busy = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert busy.driver is not None
        trip = await seeded_trip(harness, status=S.ASSIGNED, operator=busy.operator)
        truck = await active_fleet_truck(harness, busy.operator.user_id)
        response = await assign(harness, busy.operator, trip.shipment_id, busy.driver.user_id, truck)
        assert_error(response, 409, "DRIVER_BUSY")
        assert (await shipment_row(harness, trip.shipment_id))["driver_id"] is None

    @pytest.mark.parametrize("status", NOT_ASSIGNABLE)
    async def test_after_the_start_assign_is_refused(self, harness: Harness, status: ShipmentStatus) -> None:
        trip = await seeded_trip(harness, status=status)
        driver_id, truck_id = await crew(harness, trip.operator.user_id)
        before = await shipment_row(harness, trip.shipment_id)
        response = await assign(harness, trip.operator, trip.shipment_id, driver_id, truck_id)
        assert_error(response, 409, "INVALID_STATE")
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await audit_entries(harness, trip.shipment_id) == []

    async def test_one_driver_assigned_concurrently_to_two_shipments_wins_once(
        self, harness: Harness
    ) -> None:
        first = await seeded_trip(harness, status=S.ASSIGNED)
        second = await seeded_trip(harness, status=S.ASSIGNED, operator=first.operator)
        driver = await fleet_driver(harness, first.operator.user_id)
        trucks = [await active_fleet_truck(harness, first.operator.user_id) for _ in range(2)]
        responses = await asyncio.gather(
            assign(harness, first.operator, first.shipment_id, driver.user_id, trucks[0]),
            assign(harness, first.operator, second.shipment_id, driver.user_id, trucks[1]),
        )
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        [loser] = [r for r in responses if r.status_code == 409]
        assert_error(loser, 409, "DRIVER_BUSY")
        rows = [await shipment_row(harness, t.shipment_id) for t in (first, second)]
        assert sorted((r["status"], r["driver_id"]) for r in rows) == [
            ("ASSIGNED", None),
            ("DRIVER_PENDING_APPROVAL", driver.user_id),
        ]
        entries = [e for t in (first, second) for e in await audit_entries(harness, t.shipment_id)]
        assert [e["action"] for e in entries] == ["shipment.assigned"]
        [event] = await outbox_payloads(harness, "shipment.assigned")
        assert (event["shipmentId"], event["driverId"]) == (entries[0]["entity_id"], driver.user_id)


class TestApproveDriver:
    async def test_the_shipper_approves(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        assert trip.driver is not None
        response = await approve(harness, trip.shipper, trip.shipment_id)
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["driverApprovedAt"]) == (
            "APPROVED",
            harness.clock.now().isoformat().replace("+00:00", "Z"),
        )
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["driver_approved_at"]) == ("APPROVED", harness.clock.now())
        [entry] = await audit_entries(harness, trip.shipment_id)
        assert (entry["action"], entry["data"]) == (
            "shipment.driver_approved",
            {"from": "DRIVER_PENDING_APPROVAL", "to": "APPROVED", "driverId": trip.driver.user_id},
        )
        assert await inbox(harness, trip.operator.user_id) == [
            f"Driver {trip.driver.user_id} approved for shipment {trip.shipment_id}"
        ]
        assert await inbox(harness, trip.driver.user_id) == [
            f"You are approved for shipment {trip.shipment_id}: you may start"
        ]

    async def test_only_the_shipper_may_approve(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        assert trip.driver is not None
        for session in (trip.operator, trip.driver, admin):
            assert_error(await approve(harness, session, trip.shipment_id), 403, "FORBIDDEN")
        other = await seeded_trip(harness, status=S.ASSIGNED)
        assert_error(await approve(harness, other.shipper, trip.shipment_id), 404, "NOT_FOUND")
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "DRIVER_PENDING_APPROVAL"

    @pytest.mark.parametrize("status", [s for s in S if s is not S.DRIVER_PENDING_APPROVAL])
    async def test_illegal_states_are_409_and_change_nothing(
        self, harness: Harness, status: ShipmentStatus
    ) -> None:
        trip = await seeded_trip(harness, status=status)
        before = await shipment_row(harness, trip.shipment_id)
        assert_error(await approve(harness, trip.shipper, trip.shipment_id), 409, "INVALID_STATE")
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await audit_entries(harness, trip.shipment_id) == []

    async def test_ten_concurrent_approvals_succeed_once(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        responses = await asyncio.gather(
            *(approve(harness, trip.shipper, trip.shipment_id) for _ in range(10))
        )
        assert sorted(r.status_code for r in responses) == [200] + [409] * 9, [r.text for r in responses]
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"INVALID_STATE"}
        assert [e["action"] for e in await audit_entries(harness, trip.shipment_id)] == [
            "shipment.driver_approved"
        ]
        assert len(await inbox(harness, trip.operator.user_id)) == 1


class TestRejectDriver:
    async def test_the_shipper_rejects_and_the_crew_is_released(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        assert trip.driver is not None
        body = {"reason": "Driver unreachable on +919876543210"}
        response = await post(harness, trip.shipper, f"/shipments/{trip.shipment_id}/reject-driver", body)
        assert response.status_code == 200, response.text
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["driver_id"], row["truck_id"], row["driver_approved_at"]) == (
            "ASSIGNED",
            None,
            None,
            None,
        )
        [message] = await inbox(harness, trip.operator.user_id)
        assert message.startswith(
            f"The shipper rejected driver {trip.driver.user_id} for shipment {trip.shipment_id}"
        )
        assert "Driver unreachable on" in message and "9876543210" not in message
        [entry] = await audit_entries(harness, trip.shipment_id)
        assert (entry["action"], entry["data"]["reasonGiven"], entry["data"]["rejectedDriverId"]) == (
            "shipment.driver_rejected",
            True,
            trip.driver.user_id,
        )
        assert "unreachable" not in str(entry["data"])
        # Released: the driver may be assigned elsewhere, and the operator assigns again.
        driver_id, truck_id = await crew(harness, trip.operator.user_id)
        assert (
            await assign(harness, trip.operator, trip.shipment_id, driver_id, truck_id)
        ).status_code == 200

    async def test_the_reason_is_optional(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        response = await post(harness, trip.shipper, f"/shipments/{trip.shipment_id}/reject-driver")
        assert response.status_code == 200, response.text
        [entry] = await audit_entries(harness, trip.shipment_id)
        assert entry["data"]["reasonGiven"] is False

    @pytest.mark.parametrize("body", [{"reason": "x" * 257}, {"reason": "ok", "extra": 1}, {"reason": 5}])
    async def test_bad_input_is_400(self, harness: Harness, body: dict[str, object]) -> None:
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        response = await post(harness, trip.shipper, f"/shipments/{trip.shipment_id}/reject-driver", body)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "DRIVER_PENDING_APPROVAL"

    async def test_only_the_shipper_may_reject(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        assert trip.driver is not None
        for session in (trip.operator, trip.driver, admin):
            response = await post(harness, session, f"/shipments/{trip.shipment_id}/reject-driver")
            assert_error(response, 403, "FORBIDDEN")
        other = await seeded_trip(harness, status=S.ASSIGNED)
        response = await post(harness, other.shipper, f"/shipments/{trip.shipment_id}/reject-driver")
        assert_error(response, 404, "NOT_FOUND")

    @pytest.mark.parametrize("status", [s for s in S if s is not S.DRIVER_PENDING_APPROVAL])
    async def test_illegal_states_are_409_and_change_nothing(
        self, harness: Harness, status: ShipmentStatus
    ) -> None:
        trip = await seeded_trip(harness, status=status)
        before = await shipment_row(harness, trip.shipment_id)
        response = await post(harness, trip.shipper, f"/shipments/{trip.shipment_id}/reject-driver")
        assert_error(response, 409, "INVALID_STATE")
        assert await shipment_row(harness, trip.shipment_id) == before
