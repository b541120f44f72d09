"""Admin actions on shipments and frozen shipments (PRODUCT §6 "Shipment"): cancel and fail from
any state but a final one, frozen or not; freeze and unfreeze (the admins' own freezes only: ACS
freezes and blocks need an override, PRODUCT §8); and a frozen shipment refuses every other move
with 409 SHIPMENT_FROZEN, changing nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from rodistaa.shipments.status import FINAL_STATUSES, ShipmentStatus
from tests.api.flows import Session, admin_session
from tests.api.freight_setup import Trip, active_fleet_truck, fleet_driver, seeded_trip
from tests.api.shipment_flows import (
    ACS_FREEZES,
    acs_block_shipment,
    acs_freeze,
    alternate,
    approve,
    assert_error,
    assign,
    audit_entries,
    block_rows,
    breakdown,
    freeze_rows,
    get,
    inbox,
    otp_row,
    post,
    reissue,
    shipment_row,
    start,
)
from tests.conftest import Harness

S = ShipmentStatus
OPEN_STATUSES = [s for s in S if s not in FINAL_STATUSES]


async def admin_post(
    h: Harness, admin: Session, shipment_id: str, action: str, reason: str | None = "Ops"
) -> httpx.Response:
    body = {"reason": reason} if reason is not None else None
    return await post(h, admin, f"/admin/shipments/{shipment_id}/{action}", body)


class TestCancelAndFail:
    @pytest.mark.parametrize(("action", "target"), [("cancel", "CANCELLED"), ("fail", "FAILED")])
    @pytest.mark.parametrize("status", OPEN_STATUSES)
    async def test_admin_ends_any_open_shipment(
        self, harness: Harness, action: str, target: str, status: ShipmentStatus
    ) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=status)
        response = await admin_post(harness, admin, trip.shipment_id, action, "Shipper went out of business")
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["cancelReason"]) == (
            target,
            "Shipper went out of business",
        )
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["cancelled_at"], row["cancelled_by"]) == (
            target,
            harness.clock.now(),
            admin.user_id,
        )
        [entry] = await audit_entries(harness, trip.shipment_id)
        assert (entry["action"], entry["data"]["from"], entry["data"]["to"]) == (
            f"shipment.{'cancelled' if action == 'cancel' else 'failed'}",
            status.value,
            target,
        )
        assert "business" not in str(entry["data"])
        assert len(await inbox(harness, trip.shipper.user_id)) == 1
        assert len(await inbox(harness, trip.operator.user_id)) == 1

    async def test_a_frozen_shipment_can_still_be_cancelled_and_its_driver_is_free(
        self, harness: Harness
    ) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        await acs_freeze(harness, trip.shipment_id)
        await acs_block_shipment(harness, trip.shipment_id)
        response = await admin_post(harness, admin, trip.shipment_id, "cancel")
        assert response.status_code == 200, response.text
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "CANCELLED"
        other = await seeded_trip(harness, status=S.ASSIGNED, operator=trip.operator)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        response = await assign(harness, trip.operator, other.shipment_id, trip.driver.user_id, truck)
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("action", ["cancel", "fail"])
    @pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
    async def test_final_shipments_stay_final(
        self, harness: Harness, action: str, status: ShipmentStatus
    ) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=status)
        before = await shipment_row(harness, trip.shipment_id)
        assert_error(await admin_post(harness, admin, trip.shipment_id, action), 409, "INVALID_STATE")
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await audit_entries(harness, trip.shipment_id) == []

    @pytest.mark.parametrize("action", ["cancel", "fail", "freeze", "unfreeze"])
    async def test_only_admins(self, harness: Harness, action: str) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        before = await shipment_row(harness, trip.shipment_id)
        for session in (trip.shipper, trip.operator, trip.driver):
            assert_error(await admin_post(harness, session, trip.shipment_id, action), 403, "FORBIDDEN")
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await freeze_rows(harness, trip.shipment_id) == []

    @pytest.mark.parametrize("action", ["cancel", "fail", "freeze"])
    @pytest.mark.parametrize(
        "body", [None, {}, {"reason": "  "}, {"reason": "x" * 257}, {"reason": "ok", "x": 1}]
    )
    async def test_a_reason_is_required(
        self, harness: Harness, action: str, body: dict[str, Any] | None
    ) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        response = await post(harness, admin, f"/admin/shipments/{trip.shipment_id}/{action}", body)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "IN_TRANSIT"

    @pytest.mark.parametrize("action", ["cancel", "fail", "freeze", "unfreeze"])
    async def test_unknown_shipment_is_404(self, harness: Harness, action: str) -> None:
        admin = await admin_session(harness)
        response = await admin_post(harness, admin, "SH-01ARZ3NDEKTSV4RRFFQ69G5FAV", action)
        assert_error(response, 404, "NOT_FOUND")


class TestFreezeAndUnfreeze:
    async def test_freeze_then_unfreeze_restores_the_stored_state(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.APPROVED)
        response = await admin_post(harness, admin, trip.shipment_id, "freeze", "KYC re-check")
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["workflowStatus"], body["frozenReason"]) == (
            "FROZEN",
            "APPROVED",
            "KYC re-check",
        )
        [row] = await freeze_rows(harness, trip.shipment_id)
        assert (row["rule_id"], row["event_id"], row["lifted_at"]) == (None, None, None)
        harness.clock.advance(seconds=10)
        response = await admin_post(harness, admin, trip.shipment_id, "unfreeze", None)
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["frozenReason"]) == ("APPROVED", None)
        [row] = await freeze_rows(harness, trip.shipment_id)
        assert (row["lifted_at"], row["lifted_by"]) == (harness.clock.now(), admin.user_id)
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "APPROVED"
        assert await audit_actions_of(harness, trip) == ["shipment.frozen", "shipment.unfrozen"]
        assert trip.driver is not None
        assert (await start(harness, trip.driver, trip.shipment_id)).status_code == 200

    async def test_unfreeze_lifts_the_admins_freezes_only(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        await acs_freeze(harness, trip.shipment_id, "GPS_SPOOF", "RF06_GPS_SPOOF_SIGNATURE")
        harness.clock.advance(seconds=1)
        await admin_post(harness, admin, trip.shipment_id, "freeze", "Review")
        await acs_block_shipment(harness, trip.shipment_id, "OTP_BRUTE_FORCE")
        inbox_before = await inbox(harness, trip.shipper.user_id)
        response = await admin_post(harness, admin, trip.shipment_id, "unfreeze", None)
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["frozenReason"]) == ("FROZEN", "GPS_SPOOF")
        lifted = {r["reason"]: r["lifted_at"] for r in await freeze_rows(harness, trip.shipment_id)}
        assert lifted == {"GPS_SPOOF": None, "Review": harness.clock.now()}
        assert [b["lifted_at"] for b in await block_rows(harness, "shipment", trip.shipment_id)] == [None]
        entry = (await audit_entries(harness, trip.shipment_id))[-1]
        assert entry["data"] == {"freezesLifted": 1, "workflowStatus": "IN_TRANSIT", "stillFrozen": True}
        # Still frozen: nobody is told it was lifted.
        assert await inbox(harness, trip.shipper.user_id) == inbox_before

    @pytest.mark.parametrize(("rule_id", "reason"), ACS_FREEZES)
    async def test_acs_freezes_alone_need_an_override(
        self, harness: Harness, rule_id: str, reason: str
    ) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        await acs_freeze(harness, trip.shipment_id, reason, rule_id)
        await acs_block_shipment(harness, trip.shipment_id, "OTP_BRUTE_FORCE")
        # An admin freeze that was already lifted does not count.
        await admin_post(harness, admin, trip.shipment_id, "freeze", "Review")
        assert (await admin_post(harness, admin, trip.shipment_id, "unfreeze", None)).status_code == 200
        freezes_before = await freeze_rows(harness, trip.shipment_id)
        entries_before = await audit_entries(harness, trip.shipment_id)
        response = await admin_post(harness, admin, trip.shipment_id, "unfreeze", None)
        assert_error(response, 409, "FREEZE_NEEDS_OVERRIDE")
        assert response.json()["details"] == {"reasons": sorted([reason, "OTP_BRUTE_FORCE"])}
        assert await freeze_rows(harness, trip.shipment_id) == freezes_before
        assert [b["lifted_at"] for b in await block_rows(harness, "shipment", trip.shipment_id)] == [None]
        assert await audit_entries(harness, trip.shipment_id) == entries_before
        shown = (await get(harness, admin, f"/shipments/{trip.shipment_id}")).json()
        assert (shown["status"], shown["frozenReason"]) == ("FROZEN", reason)

    async def test_unfreeze_without_a_freeze_is_409(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert_error(await admin_post(harness, admin, trip.shipment_id, "unfreeze", None), 409, "NOT_FROZEN")
        assert await audit_entries(harness, trip.shipment_id) == []

    @pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
    async def test_final_shipments_are_not_frozen(self, harness: Harness, status: ShipmentStatus) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=status)
        assert_error(await admin_post(harness, admin, trip.shipment_id, "freeze"), 409, "INVALID_STATE")
        assert await freeze_rows(harness, trip.shipment_id) == []


async def audit_actions_of(h: Harness, trip: Trip) -> list[str]:
    return [e["action"] for e in await audit_entries(h, trip.shipment_id)]


Move = Callable[[Harness, Trip], Awaitable[httpx.Response]]


async def _assign(h: Harness, trip: Trip) -> httpx.Response:
    driver = await fleet_driver(h, trip.operator.user_id)
    return await assign(
        h, trip.operator, trip.shipment_id, driver.user_id, await active_fleet_truck(h, trip.operator.user_id)
    )


async def _reject(h: Harness, trip: Trip) -> httpx.Response:
    return await post(h, trip.shipper, f"/shipments/{trip.shipment_id}/reject-driver")


async def _start(h: Harness, trip: Trip) -> httpx.Response:
    assert trip.driver is not None
    return await start(h, trip.driver, trip.shipment_id)


async def _breakdown(h: Harness, trip: Trip) -> httpx.Response:
    assert trip.driver is not None
    return await breakdown(h, trip.driver, trip.shipment_id)


async def _alternate(h: Harness, trip: Trip) -> httpx.Response:
    return await alternate(
        h, trip.operator, trip.shipment_id, truckId=await active_fleet_truck(h, trip.operator.user_id)
    )


FROZEN_MOVES: list[tuple[str, ShipmentStatus, Move]] = [
    ("assign", S.ASSIGNED, _assign),
    ("assign", S.APPROVED, _assign),
    ("approve", S.DRIVER_PENDING_APPROVAL, lambda h, t: approve(h, t.shipper, t.shipment_id)),
    ("reject", S.DRIVER_PENDING_APPROVAL, _reject),
    ("start", S.APPROVED, _start),
    ("breakdown", S.IN_TRANSIT, _breakdown),
    ("alternate", S.IN_TRANSIT, _alternate),
    ("reissue", S.IN_TRANSIT, lambda h, t: reissue(h, t.shipper, t.shipment_id)),
]


class TestFrozenShipmentsAreImmovable:
    @pytest.mark.parametrize("how", ["acs-freeze", "admin-freeze", "block"])
    @pytest.mark.parametrize(
        ("name", "status", "move"), FROZEN_MOVES, ids=[f"{m[0]}-{m[1].value}" for m in FROZEN_MOVES]
    )
    async def test_every_move_is_409_and_changes_nothing(
        self, harness: Harness, how: str, name: str, status: ShipmentStatus, move: Move
    ) -> None:
        trip = await seeded_trip(harness, status=status)
        if name == "alternate":
            assert trip.driver is not None
            assert (await breakdown(harness, trip.driver, trip.shipment_id)).status_code == 200
        if how == "acs-freeze":
            await acs_freeze(harness, trip.shipment_id)
        elif how == "admin-freeze":
            admin = await admin_session(harness)
            assert (await admin_post(harness, admin, trip.shipment_id, "freeze")).status_code == 200
        else:
            await acs_block_shipment(harness, trip.shipment_id, "FRAUD_REVIEW")
        before = await shipment_row(harness, trip.shipment_id)
        entries_before = await audit_entries(harness, trip.shipment_id)
        assert_error(await move(harness, trip), 409, "SHIPMENT_FROZEN")
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await audit_entries(harness, trip.shipment_id) == entries_before
        assert await otp_row(harness, trip.shipment_id) is None
        shown = (await get(harness, trip.shipper, f"/shipments/{trip.shipment_id}")).json()
        assert (shown["status"], shown["workflowStatus"]) == ("FROZEN", status.value)
