"""Breakdowns (PRODUCT §6 "Breakdown"): the driver or the operator reports one while IN_TRANSIT;
the operator moves the load to another ACTIVE truck of its fleet (ACS `shipment.assign`, RF02)
and optionally a new driver, who needs the shipper's approval and starts again. The shipment id
stays, the first start time and the unexpired OTP are kept, no fee is charged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from rodistaa.shipments.status import ShipmentStatus
from rodistaa.shipments.tables import delivery_otps
from tests.api.flows import admin_session
from tests.api.freight_setup import active_fleet_truck, fleet_driver, next_registration, seeded_trip
from tests.api.onboarding_setup import insert_truck
from tests.api.shipment_flows import (
    alternate,
    approve,
    assert_error,
    audit_entries,
    block_rows,
    breakdown,
    get,
    inbox,
    ledger_state,
    otp_row,
    outbox_payloads,
    post,
    shipment_row,
    start,
)
from tests.conftest import Harness

S = ShipmentStatus


class TestReportBreakdown:
    @pytest.mark.parametrize("reporter", ["driver", "operator"])
    async def test_driver_or_operator_reports_and_the_state_stays(
        self, harness: Harness, reporter: str
    ) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        session = trip.driver if reporter == "driver" else trip.operator
        response = await breakdown(harness, session, trip.shipment_id, "  Clutch failure near Surat  ")
        assert response.status_code == 200, response.text
        now = harness.clock.now()
        assert response.json()["breakdown"] == {
            "reason": "Clutch failure near Surat",
            "reportedAt": now.isoformat().replace("+00:00", "Z"),
        }
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["breakdown_reason"], row["breakdown_reported_at"]) == (
            "IN_TRANSIT",
            "Clutch failure near Surat",
            now,
        )
        [entry] = await audit_entries(harness, trip.shipment_id)
        assert (entry["action"], entry["data"]["reportedByRole"]) == (
            "shipment.breakdown_reported",
            reporter.upper(),
        )
        assert "Clutch" not in str(entry["data"])
        assert len(await inbox(harness, trip.shipper.user_id)) == 1
        other = trip.operator if reporter == "driver" else trip.driver
        assert len(await inbox(harness, other.user_id)) == 1
        assert await inbox(harness, session.user_id) == []

    async def test_the_reason_is_stored_and_shown_with_contact_details_masked(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        reason = "Axle broke, call me on +919876543210 or ravi.k@example.com"
        masked = "Axle broke, call me on +91******3210 or ***@***"
        response = await breakdown(harness, trip.driver, trip.shipment_id, reason)
        assert response.status_code == 200, response.text
        assert response.json()["breakdown"]["reason"] == masked
        assert (await shipment_row(harness, trip.shipment_id))["breakdown_reason"] == masked
        shown = await get(harness, trip.shipper, f"/shipments/{trip.shipment_id}")
        assert shown.json()["breakdown"]["reason"] == masked
        assert "9876543210" not in shown.text and "example.com" not in shown.text

    async def test_a_reason_that_grows_when_masked_is_cut_to_the_column(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        reason = " ".join(["9876543210"] * 23)  # 252 characters, 321 once masked
        response = await breakdown(harness, trip.driver, trip.shipment_id, reason)
        assert response.status_code == 200, response.text
        stored = (await shipment_row(harness, trip.shipment_id))["breakdown_reason"]
        assert len(stored) == 256 and stored.startswith("+91******3210 +91******3210")
        assert "9876543210" not in stored

    async def test_shipper_and_admin_may_not_report(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        for session in (trip.shipper, admin):
            assert_error(await breakdown(harness, session, trip.shipment_id), 403, "FORBIDDEN")
        other = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert other.driver is not None
        for session in (other.operator, other.driver):
            assert_error(await breakdown(harness, session, trip.shipment_id), 404, "NOT_FOUND")
        assert (await shipment_row(harness, trip.shipment_id))["breakdown_reported_at"] is None

    @pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 257}, None])
    async def test_bad_input_is_400(self, harness: Harness, body: dict[str, str] | None) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        response = await post(harness, trip.driver, f"/shipments/{trip.shipment_id}/breakdown", body)
        assert_error(response, 400, "VALIDATION_ERROR")

    @pytest.mark.parametrize("status", [s for s in S if s not in (S.IN_TRANSIT, S.ASSIGNED)])
    async def test_only_in_transit(self, harness: Harness, status: ShipmentStatus) -> None:
        trip = await seeded_trip(harness, status=status)
        assert trip.driver is not None
        before = await shipment_row(harness, trip.shipment_id)
        assert_error(await breakdown(harness, trip.driver, trip.shipment_id), 409, "INVALID_STATE")
        assert await shipment_row(harness, trip.shipment_id) == before

    async def test_a_second_report_is_refused(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        assert (await breakdown(harness, trip.driver, trip.shipment_id, "Flat tyre")).status_code == 200
        before = await shipment_row(harness, trip.shipment_id)
        response = await breakdown(harness, trip.operator, trip.shipment_id, "Engine")
        assert_error(response, 409, "BREAKDOWN_ALREADY_REPORTED")
        assert await shipment_row(harness, trip.shipment_id) == before


class TestAlternateTruck:
    async def test_same_driver_continues_on_the_new_truck_without_a_fee(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        await breakdown(harness, trip.driver, trip.shipment_id)
        ledger_before = await ledger_state(harness, trip.operator.user_id)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        response = await alternate(harness, trip.operator, trip.shipment_id, truckId=truck)
        assert response.status_code == 200, response.text
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["truck_id"], row["driver_id"]) == (
            "IN_TRANSIT",
            truck,
            trip.driver.user_id,
        )
        assert (row["breakdown_reason"], row["breakdown_reported_at"]) == (None, None)
        assert await ledger_state(harness, trip.operator.user_id) == ledger_before
        entry = (await audit_entries(harness, trip.shipment_id))[-1]
        assert (entry["action"], entry["data"]["previousTruckId"], entry["data"]["truckId"]) == (
            "shipment.alternate_truck_assigned",
            trip.truck_id,
            truck,
        )
        assert f"Shipment {trip.shipment_id} continues on alternate truck {truck}" in await inbox(
            harness, trip.shipper.user_id
        )
        # The crew did not change hands: no `shipment.assigned`.
        assert await outbox_payloads(harness, "shipment.assigned") == []

    async def test_a_new_driver_needs_approval_and_restarts_keeping_start_and_otp(
        self, harness: Harness
    ) -> None:
        trip = await seeded_trip(harness, status=S.APPROVED)
        assert trip.driver is not None
        started_at = harness.clock.now()
        assert (await start(harness, trip.driver, trip.shipment_id)).status_code == 200
        otp = await otp_row(harness, trip.shipment_id)
        harness.clock.advance(minutes=5)
        await breakdown(harness, trip.operator, trip.shipment_id)
        ledger_before = await ledger_state(harness, trip.operator.user_id)
        new_driver = await fleet_driver(harness, trip.operator.user_id)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        response = await alternate(
            harness, trip.operator, trip.shipment_id, truckId=truck, driverId=new_driver.user_id
        )
        assert response.status_code == 200, response.text
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["driver_id"], row["truck_id"], row["driver_approved_at"]) == (
            "DRIVER_PENDING_APPROVAL",
            new_driver.user_id,
            truck,
            None,
        )
        assert row["breakdown_reported_at"] is None
        assert f"You are no longer assigned to shipment {trip.shipment_id}" in await inbox(
            harness, trip.driver.user_id
        )
        assert await inbox(harness, trip.shipper.user_id) == [
            f"Shipment {trip.shipment_id} started; your delivery OTP is in the app",
            f"Breakdown reported for shipment {trip.shipment_id} (truck {trip.truck_id})",
            f"Shipment {trip.shipment_id} moves to truck {truck} with new driver {new_driver.user_id}: "
            "approve or reject the driver",
        ]
        assert await outbox_payloads(harness, "shipment.assigned") == [
            {
                "shipmentId": trip.shipment_id,
                "bookingId": trip.booking_id,
                "shipperId": trip.shipper.user_id,
                "operatorId": trip.operator.user_id,
                "driverId": new_driver.user_id,
                "truckId": truck,
            }
        ]
        assert_error(await start(harness, new_driver, trip.shipment_id), 409, "INVALID_STATE")
        assert (await approve(harness, trip.shipper, trip.shipment_id)).status_code == 200
        harness.clock.advance(minutes=5)
        restart = await start(harness, new_driver, trip.shipment_id)
        assert restart.status_code == 200, restart.text
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["started_at"]) == ("IN_TRANSIT", started_at)
        assert await otp_row(harness, trip.shipment_id) == otp
        assert (await audit_entries(harness, trip.shipment_id))[-1]["data"]["restart"] is True
        assert await ledger_state(harness, trip.operator.user_id) == ledger_before

    async def test_a_restart_after_the_otp_expired_issues_a_new_one(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.APPROVED)
        assert trip.driver is not None
        await start(harness, trip.driver, trip.shipment_id)
        await breakdown(harness, trip.driver, trip.shipment_id)
        new_driver = await fleet_driver(harness, trip.operator.user_id)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        await alternate(harness, trip.operator, trip.shipment_id, truckId=truck, driverId=new_driver.user_id)
        await approve(harness, trip.shipper, trip.shipment_id)
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(
                update(delivery_otps)
                .where(delivery_otps.c.shipment_id == trip.shipment_id)
                .values(expires_at=harness.clock.now())  # expired: valid strictly before
            )
        validity = harness.app.state.services.settings.delivery_otp_validity_s
        assert (await start(harness, new_driver, trip.shipment_id)).status_code == 200
        otp = await otp_row(harness, trip.shipment_id)
        assert otp is not None and (otp["issue_count"], otp["issued_at"]) == (2, harness.clock.now())
        assert otp["expires_at"] == harness.clock.now() + timedelta(seconds=validity)

    async def test_a_busy_new_driver_is_refused(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        busy = await seeded_trip(harness, status=S.APPROVED, operator=trip.operator)
        assert trip.driver is not None and busy.driver is not None
        await breakdown(harness, trip.driver, trip.shipment_id)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        before = await shipment_row(harness, trip.shipment_id)
        response = await alternate(
            harness, trip.operator, trip.shipment_id, truckId=truck, driverId=busy.driver.user_id
        )
        assert_error(response, 409, "DRIVER_BUSY")
        assert await shipment_row(harness, trip.shipment_id) == before

    async def test_without_a_reported_breakdown_it_is_refused(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        before = await shipment_row(harness, trip.shipment_id)
        assert_error(
            await alternate(harness, trip.operator, trip.shipment_id, truckId=truck),
            409,
            "NO_BREAKDOWN_REPORTED",
        )
        assert await shipment_row(harness, trip.shipment_id) == before

    @pytest.mark.parametrize("status", [s for s in S if s is not S.IN_TRANSIT])
    async def test_only_in_transit(self, harness: Harness, status: ShipmentStatus) -> None:
        trip = await seeded_trip(harness, status=status)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        before = await shipment_row(harness, trip.shipment_id)
        assert_error(
            await alternate(harness, trip.operator, trip.shipment_id, truckId=truck), 409, "INVALID_STATE"
        )
        assert await shipment_row(harness, trip.shipment_id) == before

    @pytest.mark.parametrize("truck_status", ["NEEDS_INSPECTION", "other-operator", "same"])
    async def test_the_truck_must_be_another_active_own_truck(
        self, harness: Harness, truck_status: str
    ) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None and trip.truck_id is not None
        await breakdown(harness, trip.driver, trip.shipment_id)
        if truck_status == "same":
            truck = trip.truck_id
        elif truck_status == "other-operator":
            truck = (await seeded_trip(harness, status=S.APPROVED)).truck_id or ""
        else:
            truck = await insert_truck(
                harness,
                trip.operator.user_id,
                registration=next_registration(),
                unit_id=None,
                status=truck_status,
            )
        before = await shipment_row(harness, trip.shipment_id)
        assert_error(
            await alternate(harness, trip.operator, trip.shipment_id, truckId=truck),
            422,
            "TRUCK_NOT_ELIGIBLE",
        )
        assert await shipment_row(harness, trip.shipment_id) == before

    async def test_rf02_blocks_an_alternate_truck_with_expired_documents(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        await breakdown(harness, trip.driver, trip.shipment_id)
        truck = await insert_truck(
            harness,
            trip.operator.user_id,
            registration=next_registration(),
            unit_id=None,
            status="EXPIRED_DOCS",
        )
        before = await shipment_row(harness, trip.shipment_id)
        assert_error(
            await alternate(harness, trip.operator, trip.shipment_id, truckId=truck),
            403,
            "TRUCK_DOCS_EXPIRED",
        )
        assert [b["reason"] for b in await block_rows(harness, "truck", truck)] == ["EXPIRED_DOCUMENTS"]
        assert await shipment_row(harness, trip.shipment_id) == before

    async def test_only_the_operator_may_assign_it(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        await breakdown(harness, trip.driver, trip.shipment_id)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        for session in (trip.shipper, trip.driver, admin):
            assert_error(await alternate(harness, session, trip.shipment_id, truckId=truck), 403, "FORBIDDEN")
        other = await seeded_trip(harness, status=S.ASSIGNED)
        assert_error(
            await alternate(harness, other.operator, trip.shipment_id, truckId=truck), 404, "NOT_FOUND"
        )

    @pytest.mark.parametrize("body", [{}, {"truckId": ""}, {"truckId": "TRK-1", "extra": True}])
    async def test_bad_input_is_400(self, harness: Harness, body: dict[str, object]) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        response = await post(harness, trip.operator, f"/shipments/{trip.shipment_id}/alternate-truck", body)
        assert_error(response, 400, "VALIDATION_ERROR")
