"""What the shipment moves re-check at the last moment, inside their transaction:

* the claim itself refuses a frozen shipment (`claim_status(refuse_frozen_at=...)`): a freeze is
  a row of its own that the shipment's lock does not keep out, so one committed after a move's
  check must still stop it (409 SHIPMENT_FROZEN, nothing changed);
* a crew change judges the truck (the operator's, effectively ACTIVE) and the new driver
  (active, of the fleet) again right before the claim: one blocked or deactivated while ACS ran
  is refused (422), nothing changed.

"The freeze arrived after the check" is staged by blinding the moves' own freeze checks, so the
UPDATE's condition is the only thing that can refuse."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from rodistaa.acs.tables import acs_blocks, acs_events
from rodistaa.core.ids import new_id
from rodistaa.db.tables import users
from rodistaa.fleet.tables import trucks
from rodistaa.shipments import repo
from rodistaa.shipments.repo import ShipmentRecord
from rodistaa.shipments.service import ShipmentService
from rodistaa.shipments.status import ShipmentStatus, require_transition
from tests.api.flows import admin_session
from tests.api.freight_setup import Trip, active_fleet_truck, fleet_driver, seeded_trip
from tests.api.shipment_flows import (
    acs_block_shipment,
    acs_freeze,
    alternate,
    approve,
    assert_error,
    assign,
    audit_entries,
    breakdown,
    freeze_rows,
    inbox,
    otp_row,
    outbox_payloads,
    post,
    shipment_row,
    start,
)
from tests.conftest import Harness

S = ShipmentStatus


async def admin_freeze(h: Harness, shipment_id: str) -> None:
    admin = await admin_session(h)
    response = await post(h, admin, f"/admin/shipments/{shipment_id}/freeze", {"reason": "Review"})
    assert response.status_code == 200, response.text


HOLDS: dict[str, Callable[[Harness, str], Awaitable[None]]] = {
    "acs-freeze": acs_freeze,
    "admin-freeze": admin_freeze,
    "shipment-block": acs_block_shipment,
}


async def claim_approval(
    h: Harness, shipment_id: str, *, refuse_frozen_at: datetime | None
) -> ShipmentRecord | None:
    now = h.clock.now()
    async with h.app.state.services.db.transaction() as conn:
        return await repo.claim_status(
            conn,
            shipment_id,
            expected=[S.DRIVER_PENDING_APPROVAL],
            target=S.APPROVED,
            now=now,
            refuse_frozen_at=refuse_frozen_at,
            driver_approved_at=now,
        )


class TestClaimStatusRefusesFrozen:
    @pytest.mark.parametrize("hold", list(HOLDS))
    async def test_a_frozen_row_is_not_claimed_and_stays_as_it_was(self, harness: Harness, hold: str) -> None:
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        await HOLDS[hold](harness, trip.shipment_id)
        before = await shipment_row(harness, trip.shipment_id)
        harness.clock.advance(seconds=5)
        assert await claim_approval(harness, trip.shipment_id, refuse_frozen_at=harness.clock.now()) is None
        assert await shipment_row(harness, trip.shipment_id) == before

    async def test_without_it_a_frozen_row_is_claimed(self, harness: Harness) -> None:
        """The admin's path (cancel or fail a frozen shipment) and the callers outside this package."""
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        await acs_freeze(harness, trip.shipment_id)
        moved = await claim_approval(harness, trip.shipment_id, refuse_frozen_at=None)
        assert moved is not None and moved.status is S.APPROVED

    async def test_lifted_and_expired_holds_do_not_refuse(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.DRIVER_PENDING_APPROVAL)
        admin = await admin_session(harness)
        for action, body in (("freeze", {"reason": "Review"}), ("unfreeze", None)):
            response = await post(harness, admin, f"/admin/shipments/{trip.shipment_id}/{action}", body)
            assert response.status_code == 200, response.text
        await acs_block_shipment(harness, trip.shipment_id)
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(
                update(acs_blocks)
                .where(acs_blocks.c.entity_id == trip.shipment_id)
                .values(expires_at=harness.clock.now() + timedelta(minutes=1))
            )
        harness.clock.advance(minutes=1)  # the block expires exactly now: no longer active
        moved = await claim_approval(harness, trip.shipment_id, refuse_frozen_at=harness.clock.now())
        assert moved is not None and moved.status is S.APPROVED

    async def test_claim_crew_passes_it_on(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.ASSIGNED)
        driver = await fleet_driver(harness, trip.operator.user_id)
        await acs_freeze(harness, trip.shipment_id)
        before = await shipment_row(harness, trip.shipment_id)
        now = harness.clock.now()
        async with harness.app.state.services.db.transaction() as conn:
            moved = await repo.claim_crew(
                conn,
                trip.shipment_id,
                expected=[S.ASSIGNED],
                target=S.DRIVER_PENDING_APPROVAL,
                now=now,
                refuse_frozen_at=now,
                driver_id=driver.user_id,
            )
        assert moved is None
        assert await shipment_row(harness, trip.shipment_id) == before


@pytest.fixture
def blind_freeze_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The moves' checks before the claim see no freeze: as if it was committed just after."""

    async def require_move(
        conn: Any, shipment: ShipmentRecord, target: ShipmentStatus, now: datetime, *, by_admin: bool = False
    ) -> None:
        require_transition(shipment.status, target, by_admin=by_admin)

    async def ensure_not_frozen(conn: Any, shipment: ShipmentRecord, now: datetime) -> ShipmentRecord:
        return shipment

    monkeypatch.setattr(ShipmentService, "_require_move", staticmethod(require_move))
    monkeypatch.setattr(ShipmentService, "_ensure_not_frozen", staticmethod(ensure_not_frozen))


Move = Callable[[Harness, Trip], Awaitable[httpx.Response]]


async def _assign(h: Harness, trip: Trip) -> httpx.Response:
    driver = await fleet_driver(h, trip.operator.user_id)
    truck = await active_fleet_truck(h, trip.operator.user_id)
    return await assign(h, trip.operator, trip.shipment_id, driver.user_id, truck)


async def _reject(h: Harness, trip: Trip) -> httpx.Response:
    return await post(h, trip.shipper, f"/shipments/{trip.shipment_id}/reject-driver")


async def _start(h: Harness, trip: Trip) -> httpx.Response:
    assert trip.driver is not None
    return await start(h, trip.driver, trip.shipment_id)


async def _breakdown(h: Harness, trip: Trip) -> httpx.Response:
    assert trip.driver is not None
    return await breakdown(h, trip.driver, trip.shipment_id)


async def _alternate_same_driver(h: Harness, trip: Trip) -> httpx.Response:
    truck = await active_fleet_truck(h, trip.operator.user_id)
    return await alternate(h, trip.operator, trip.shipment_id, truckId=truck)


async def _alternate_new_driver(h: Harness, trip: Trip) -> httpx.Response:
    driver = await fleet_driver(h, trip.operator.user_id)
    truck = await active_fleet_truck(h, trip.operator.user_id)
    return await alternate(h, trip.operator, trip.shipment_id, truckId=truck, driverId=driver.user_id)


LATE_FREEZE_MOVES: list[tuple[str, ShipmentStatus, Move]] = [
    ("assign", S.ASSIGNED, _assign),
    ("approve", S.DRIVER_PENDING_APPROVAL, lambda h, t: approve(h, t.shipper, t.shipment_id)),
    ("reject", S.DRIVER_PENDING_APPROVAL, _reject),
    ("start", S.APPROVED, _start),
    ("breakdown", S.IN_TRANSIT, _breakdown),
    ("alternate-same-driver", S.IN_TRANSIT, _alternate_same_driver),
    ("alternate-new-driver", S.IN_TRANSIT, _alternate_new_driver),
]


@pytest.mark.usefixtures("blind_freeze_checks")
class TestAFreezeAfterTheCheckStillStopsTheMove:
    @pytest.mark.parametrize(
        ("name", "status", "move"), LATE_FREEZE_MOVES, ids=[m[0] for m in LATE_FREEZE_MOVES]
    )
    async def test_409_shipment_frozen_and_nothing_changes(
        self, harness: Harness, name: str, status: ShipmentStatus, move: Move
    ) -> None:
        trip = await seeded_trip(harness, status=status)
        if name.startswith("alternate"):
            assert trip.driver is not None
            assert (await breakdown(harness, trip.driver, trip.shipment_id)).status_code == 200
        await acs_freeze(harness, trip.shipment_id, "GPS_SPOOF", "RF06_GPS_SPOOF_SIGNATURE")
        before = await shipment_row(harness, trip.shipment_id)
        entries_before = await audit_entries(harness, trip.shipment_id)
        inbox_before = await inbox(harness, trip.shipper.user_id)
        assert_error(await move(harness, trip), 409, "SHIPMENT_FROZEN")
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await audit_entries(harness, trip.shipment_id) == entries_before
        assert await inbox(harness, trip.shipper.user_id) == inbox_before
        assert await outbox_payloads(harness, "shipment.assigned") == []
        assert await otp_row(harness, trip.shipment_id) is None
        assert [r["lifted_at"] for r in await freeze_rows(harness, trip.shipment_id)] == [None]

    @pytest.mark.parametrize("name", ["assign", "start"])
    async def test_the_acs_event_sees_the_shipment_as_frozen(self, harness: Harness, name: str) -> None:
        status, move = (S.ASSIGNED, _assign) if name == "assign" else (S.APPROVED, _start)
        trip = await seeded_trip(harness, status=status)
        await acs_freeze(harness, trip.shipment_id)
        assert_error(await move(harness, trip), 409, "SHIPMENT_FROZEN")
        async with harness.app.state.services.db.read() as conn:
            contexts = (await conn.execute(select(acs_events.c.context))).scalars().all()
        shipments = [json.loads(c)["shipment"] for c in contexts if "shipment" in json.loads(c)]
        assert [(s["id"], s["status"]) for s in shipments] == [(trip.shipment_id, "FROZEN")]

    async def test_an_admin_still_ends_it(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        await acs_freeze(harness, trip.shipment_id)
        response = await post(
            harness, admin, f"/admin/shipments/{trip.shipment_id}/cancel", {"reason": "Fraud"}
        )
        assert response.status_code == 200, response.text
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "CANCELLED"


# --- truck and driver judged again in the transaction ---------------------------------------------


async def block(h: Harness, entity_type: str, entity_id: str) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            acs_blocks.insert().values(
                id=new_id("BLK"),
                entity_type=entity_type,
                entity_id=entity_id,
                reason="ADMIN_REVIEW",
                severity="high",
                source="ADMIN",
                rule_id=None,
                event_id=None,
                created_at=h.clock.now(),
            )
        )


async def deactivate_truck(h: Harness, truck_id: str) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(update(trucks).where(trucks.c.id == truck_id).values(status="INACTIVE"))


async def deactivate_user(h: Harness, user_id: str) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(update(users).where(users.c.id == user_id).values(status="INACTIVE"))


# What happens to the truck or the driver while ACS judges the assignment, and the answer.
CHANGES: dict[str, tuple[Callable[[Harness, str, str], Awaitable[None]], str]] = {
    "truck-blocked": (lambda h, truck, driver: block(h, "truck", truck), "TRUCK_NOT_ELIGIBLE"),
    "truck-deactivated": (lambda h, truck, driver: deactivate_truck(h, truck), "TRUCK_NOT_ELIGIBLE"),
    "driver-blocked": (lambda h, truck, driver: block(h, "driver", driver), "DRIVER_NOT_ELIGIBLE"),
    "driver-deactivated": (lambda h, truck, driver: deactivate_user(h, driver), "DRIVER_NOT_ELIGIBLE"),
}


def change_after_acs(
    h: Harness, monkeypatch: pytest.MonkeyPatch, change: str, truck_id: str, driver_id: str
) -> None:
    """Run `change` right after ACS allowed the assignment, before the service's transaction."""
    acs = h.app.state.services.acs
    enforce = acs.enforce
    apply_change, _ = CHANGES[change]

    async def enforce_then_change(*args: Any, **kwargs: Any) -> Any:
        result = await enforce(*args, **kwargs)
        await apply_change(h, truck_id, driver_id)
        return result

    monkeypatch.setattr(acs, "enforce", enforce_then_change)


class TestTheCrewIsJudgedAgainInTheTransaction:
    @pytest.mark.parametrize("change", list(CHANGES))
    async def test_assign(self, harness: Harness, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
        trip = await seeded_trip(harness, status=S.ASSIGNED)
        driver = await fleet_driver(harness, trip.operator.user_id)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        change_after_acs(harness, monkeypatch, change, truck, driver.user_id)
        before = await shipment_row(harness, trip.shipment_id)
        response = await assign(harness, trip.operator, trip.shipment_id, driver.user_id, truck)
        assert_error(response, 422, CHANGES[change][1])
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await audit_entries(harness, trip.shipment_id) == []
        assert await outbox_payloads(harness, "shipment.assigned") == []
        assert await inbox(harness, trip.shipper.user_id) == []

    @pytest.mark.parametrize("change", list(CHANGES))
    async def test_alternate_truck_with_a_new_driver(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch, change: str
    ) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        assert (await breakdown(harness, trip.driver, trip.shipment_id)).status_code == 200
        driver = await fleet_driver(harness, trip.operator.user_id)
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        change_after_acs(harness, monkeypatch, change, truck, driver.user_id)
        before = await shipment_row(harness, trip.shipment_id)
        entries_before = await audit_entries(harness, trip.shipment_id)
        response = await alternate(
            harness, trip.operator, trip.shipment_id, truckId=truck, driverId=driver.user_id
        )
        assert_error(response, 422, CHANGES[change][1])
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await audit_entries(harness, trip.shipment_id) == entries_before
        assert await outbox_payloads(harness, "shipment.assigned") == []

    @pytest.mark.parametrize("change", ["truck-blocked", "truck-deactivated"])
    async def test_alternate_truck_with_the_same_driver(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch, change: str
    ) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        assert (await breakdown(harness, trip.driver, trip.shipment_id)).status_code == 200
        truck = await active_fleet_truck(harness, trip.operator.user_id)
        change_after_acs(harness, monkeypatch, change, truck, trip.driver.user_id)
        before = await shipment_row(harness, trip.shipment_id)
        response = await alternate(harness, trip.operator, trip.shipment_id, truckId=truck)
        assert_error(response, 422, "TRUCK_NOT_ELIGIBLE")
        assert await shipment_row(harness, trip.shipment_id) == before
