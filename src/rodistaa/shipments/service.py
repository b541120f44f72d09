"""Shipment use cases (PRODUCT §6 "Shipment"): read, assign a crew, approve or reject the driver,
start (issuing the delivery OTP), show and re-issue the OTP, report a breakdown and assign an
alternate truck, and the admin's cancel, fail, freeze and unfreeze.

Every move asks `status.require_transition` (frozen shipments refuse everything but an admin
ending them) and is then claimed with a conditional UPDATE on the row, locked first so the
status recorded in the audit entry is the one that moved. Every move but an admin's also puts
"not frozen" into that UPDATE: a freeze is a row of its own that the shipment's lock does not
keep out, so one committed after the check still stops the move (409 SHIPMENT_FROZEN). Moves
that raise an ACS event (assign and alternate truck: `shipment.assign`; start: `shipment.start`)
check state and ownership on a read first, run ACS (which persists its own effects), and
re-check in the transaction: state, freeze, and for a crew change the truck (the operator's,
effectively ACTIVE) and the new driver (active, of the fleet, not busy) right before the claim.

Decisions where PRODUCT is silent:

* FROZEN is derived, never stored: the API shows `status: FROZEN` while an ACS or admin
  freeze, or a shipment block, is active, and `workflowStatus` (the stored state) always; the
  list's `status` filter matches the stored state. `frozenReason` (an ACS code such as
  GPS_SPOOF, or the admin's text) is shown to admins only: to the parties it is null, since
  it would tip off a suspect.
* One active shipment per driver is the database's partial unique index; a losing concurrent
  assignment answers 409 DRIVER_BUSY.
* The operator may change truck or driver until the start (from ASSIGNED,
  DRIVER_PENDING_APPROVAL or APPROVED); any change clears the approval and needs a fresh one.
* A breakdown may be reported by the assigned driver or the shipment's operator, once, while
  IN_TRANSIT; the alternate truck clears it. The same driver keeps driving (IN_TRANSIT); a new
  driver needs the shipper's approval and starts again, keeping the first start time and the
  unexpired delivery OTP. No fee is charged.
* The delivery OTP is stored hashed and encrypted under the shipper's data key; only the shipper
  can see it (every view audited, served `no-store`). Re-issuing lifts RF04's OTP_BRUTE_FORCE
  block of the shipment and nothing else: another freeze or block still refuses it.
* Admin freeze inserts a freeze without a rule; admin unfreeze lifts only those. ACS freezes
  (RF05/06/07, ...) and blocks stay: lifting them is an override approved by another admin
  (PRODUCT §8) or, for RF04's block, the OTP re-issue. Unfreezing a shipment that only ACS
  freezes or blocks hold is 409 FREEZE_NEEDS_OVERRIDE naming their reason codes.
* A crew assignment (assign, or an alternate truck with a new driver) writes the
  `shipment.assigned` outbox event (ids only) in its transaction.
* Cancelled and failed shipments both record `cancelled_at/by/reason` (the admin's reason).
* A shipper's reason for rejecting a driver reaches the operator's notification, and a
  breakdown reason is stored and shown, with personal data masked (`mask_text`); free text
  never enters the audit log or the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound
from rodistaa.core.roles import Role, UserStatus
from rodistaa.db.outbox import insert_outbox_event
from rodistaa.delivery import otp as delivery_otp
from rodistaa.delivery.otp import OtpState
from rodistaa.fleet import repo as fleet_repo
from rodistaa.fleet.facts import truck_names
from rodistaa.fleet.repo import TruckRecord
from rodistaa.fleet.status import TruckStatus
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.kyc.status import kyc_status
from rodistaa.notifications import repo as inbox
from rodistaa.security.pii import mask_text
from rodistaa.shipments import repo
from rodistaa.shipments.errors import (
    BreakdownAlreadyReported,
    DriverBusy,
    DriverNotEligible,
    FreezeNeedsOverride,
    NoBreakdownReported,
    NotAssignedDriver,
    NotDriverOrOperator,
    NotEnRoute,
    NotFrozen,
    NotInTransit,
    NotOperator,
    NotShipper,
    OtpNotIssued,
    ShipmentFinal,
    TruckNotEligible,
)
from rodistaa.shipments.facts import shipment_names
from rodistaa.shipments.repo import DriverAlreadyBusy, DriverFacts, Hold, HoldKind, ShipmentRecord, readable
from rodistaa.shipments.status import (
    EN_ROUTE_STATUSES,
    FINAL_STATUSES,
    FROZEN,
    NOT_STARTED_STATUSES,
    IllegalTransition,
    ShipmentFrozen,
    ShipmentStatus,
    require_transition,
)

# RF04's block of a shipment whose OTP was brute-forced: lifted when the shipper re-issues.
OTP_BRUTE_FORCE = "OTP_BRUTE_FORCE"
BREAKDOWN_REASON_MAX = 256  # shipments.breakdown_reason; masking can lengthen the text
SHIPMENT_ASSIGNED = "shipment.assigned"  # outbox event (PRODUCT §10)


@dataclass(frozen=True)
class ShipmentView:
    """A shipment as `actor` may see it: `frozen` for everyone, `frozen_reason` (the oldest
    hold's reason) for admins only, None for the parties."""

    shipment: ShipmentRecord
    frozen: bool
    frozen_reason: str | None
    otp_issued: bool


def shipment_view(
    actor: Actor, shipment: ShipmentRecord, holds: list[Hold], *, otp_issued: bool
) -> ShipmentView:
    reason = holds[0].reason if holds and actor.role is Role.ADMIN else None
    return ShipmentView(shipment, bool(holds), reason, otp_issued)


@dataclass(frozen=True)
class OtpView:
    code: str
    state: OtpState


# --- who may act ---------------------------------------------------------------------------------


def ensure_shipper(actor: Actor, shipment: ShipmentRecord) -> None:
    if actor.role is not Role.SHIPPER or actor.user_id != shipment.shipper_id:
        raise NotShipper()


def ensure_operator(actor: Actor, shipment: ShipmentRecord) -> None:
    if actor.role is not Role.OPERATOR or actor.user_id != shipment.operator_id:
        raise NotOperator()


def ensure_assigned_driver(actor: Actor, shipment: ShipmentRecord) -> None:
    if actor.role is not Role.DRIVER or actor.user_id != shipment.driver_id:
        raise NotAssignedDriver()


def ensure_driver_or_operator(actor: Actor, shipment: ShipmentRecord) -> None:
    is_driver = actor.role is Role.DRIVER and actor.user_id == shipment.driver_id
    is_operator = actor.role is Role.OPERATOR and actor.user_id == shipment.operator_id
    if not (is_driver or is_operator):
        raise NotDriverOrOperator()


# --- ACS names -------------------------------------------------------------------------------------


def driver_names(driver: DriverFacts, *, kyc: str) -> dict[str, Any]:
    """`driver` as the context contract names it."""
    return {
        "id": driver.user_id,
        "operatorId": driver.operator_id,
        "status": driver.status,
        "kycStatus": kyc,
        "activeShipmentId": driver.active_shipment_id,
    }


async def acs_shipment_names(
    conn: AsyncConnection, shipment: ShipmentRecord, now: datetime
) -> dict[str, Any]:
    """`shipment` for an ACS event, with status FROZEN while a hold is active. The moves here
    refuse a frozen shipment before ACS, so it is the stored state today; reading it keeps the
    context true whatever the order of the checks."""
    frozen = bool(await repo.active_holds(conn, [shipment.id], now))
    return shipment_names(shipment, status=FROZEN if frozen else None)


# --- notifications and events ---------------------------------------------------------------------


async def notify(conn: AsyncConnection, user_id: str | None, role: Role, message: str, now: datetime) -> None:
    if user_id is not None:
        await inbox.notify(conn, user_id=user_id, role=role, message=message, now=now)


def released_message(shipment_id: str) -> str:
    return f"You are no longer assigned to shipment {shipment_id}"


async def crew_assigned(
    conn: AsyncConnection,
    before: ShipmentRecord,
    moved: ShipmentRecord,
    now: datetime,
    *,
    shipper_message: str,
) -> None:
    """A driver was put on the shipment (assign, or an alternate truck with a new driver): the
    shipper must approve them, the driver waits for it, a driver taken off is told, and
    `shipment.assigned` goes to the outbox with ids only."""
    await notify(conn, moved.shipper_id, Role.SHIPPER, shipper_message, now)
    await notify(
        conn,
        moved.driver_id,
        Role.DRIVER,
        f"You are assigned to shipment {moved.id} with truck {moved.truck_id}; "
        "wait for the shipper's approval before starting",
        now,
    )
    if before.driver_id not in (None, moved.driver_id):
        await notify(conn, before.driver_id, Role.DRIVER, released_message(moved.id), now)
    payload = {
        "shipmentId": moved.id,
        "bookingId": moved.booking_id,
        "shipperId": moved.shipper_id,
        "operatorId": moved.operator_id,
        "driverId": moved.driver_id,
        "truckId": moved.truck_id,
    }
    await insert_outbox_event(conn, name=SHIPMENT_ASSIGNED, payload=payload, now=now)


async def notify_parties(
    conn: AsyncConnection, shipment: ShipmentRecord, message: str, now: datetime, *, skip: str | None = None
) -> None:
    """Tell the shipper, the operator and the driver (if any), except `skip` (the actor)."""
    for user_id, role in (
        (shipment.shipper_id, Role.SHIPPER),
        (shipment.operator_id, Role.OPERATOR),
        (shipment.driver_id, Role.DRIVER),
    ):
        if user_id != skip:
            await notify(conn, user_id, role, message, now)


async def audit(
    conn: AsyncConnection, actor: Actor, action: str, shipment_id: str, data: dict[str, Any], now: datetime
) -> None:
    await append(
        conn, AuditEntryDraft(actor.user_id, f"shipment.{action}", "shipment", shipment_id, data), now=now
    )


class ShipmentService:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.db
        self._clock = services.clock

    # --- reading ---------------------------------------------------------------------------------

    async def list_shipments(
        self, actor: Actor, *, status: ShipmentStatus | None, page: PageRequest
    ) -> tuple[list[ShipmentView], int]:
        """Newest first, through `readable(actor)`; `status` matches the stored state."""
        now = self._clock.now()
        async with self._db.read() as conn:
            records, total = await repo.list_shipments(
                conn, visible=readable(actor), status=status, offset=page.offset, limit=page.limit
            )
            ids = [r.id for r in records]
            holds: dict[str, list[Hold]] = {}
            for hold in await repo.active_holds(conn, ids, now):
                holds.setdefault(hold.shipment_id, []).append(hold)
            issued = await repo.otp_issued(conn, ids)
        views = [shipment_view(actor, r, holds.get(r.id, []), otp_issued=r.id in issued) for r in records]
        return views, total

    async def get_shipment(self, actor: Actor, shipment_id: str) -> ShipmentView:
        async with self._db.read() as conn:
            shipment = await self._visible(conn, actor, shipment_id)
            return await self._view(conn, actor, shipment, self._clock.now())

    # --- crew ------------------------------------------------------------------------------------

    async def assign(
        self, actor: Actor, shipment_id: str, *, driver_id: str, truck_id: str, ip: str | None
    ) -> ShipmentView:
        """The operator puts a truck and a driver on a shipment that has not started; the shipper
        must then approve the driver. 422 TRUCK_NOT_ELIGIBLE / DRIVER_NOT_ELIGIBLE, 409
        DRIVER_BUSY, ACS refusals (RF02: 403 TRUCK_DOCS_EXPIRED, the truck blocked). Truck and
        driver are judged again inside the transaction: a truck blocked or deactivated, or a
        driver blocked or moved, since the first look is refused there."""
        now = self._clock.now()
        target = ShipmentStatus.DRIVER_PENDING_APPROVAL
        async with self._db.read() as conn:
            shipment = await self._visible(conn, actor, shipment_id)
            ensure_operator(actor, shipment)
            await self._require_assignable(conn, shipment, now)
            truck = await self._own_truck(conn, shipment, truck_id, now)
            driver = await self._eligible_driver(conn, shipment, driver_id, now)
            names = {
                "shipment": await acs_shipment_names(conn, shipment, now),
                "truck": truck_names(truck),
                "driver": driver_names(driver, kyc=await kyc_status(conn, driver.user_id, Role.DRIVER)),
            }
            operator_kyc = await kyc_status(conn, actor.user_id, actor.role)
        event = new_event(
            "shipment.assign",
            actor_ctx(actor, kyc_status=operator_kyc, ip=ip),
            at=now,
            payload={"shipmentId": shipment.id, "driverId": driver.user_id, "truckId": truck.id},
        )
        await self._services.acs.enforce(event, ProvidedFacts(names=names))
        async with self._db.transaction() as conn:
            before = await self._visible(conn, actor, shipment_id, for_update=True)
            await self._require_assignable(conn, before, now)
            # ACTIVE is judged here, after ACS, so RF02 sees (and blocks) an EXPIRED_DOCS truck.
            await self._assignable_truck(conn, before, truck_id, now)
            await self._eligible_driver(conn, before, driver_id, now)
            moved = await self._claim_crew(
                conn,
                before,
                target,
                now,
                driver_id=driver.user_id,
                truck_id=truck.id,
                driver_approved_at=None,
            )
            await crew_assigned(
                conn,
                before,
                moved,
                now,
                shipper_message=f"Driver {moved.driver_id} with truck {moved.truck_id} assigned to "
                f"{moved.id}: approve or reject the driver",
            )
            data = {
                "from": before.status.value,
                "to": moved.status.value,
                "driverId": moved.driver_id,
                "truckId": moved.truck_id,
                "previousDriverId": before.driver_id,
                "previousTruckId": before.truck_id,
                "acsEventId": event.id,
            }
            await audit(conn, actor, "assigned", moved.id, data, now)
            return await self._view(conn, actor, moved, now)

    async def approve_driver(self, actor: Actor, shipment_id: str) -> ShipmentView:
        now = self._clock.now()
        target = ShipmentStatus.APPROVED
        async with self._db.transaction() as conn:
            before = await self._visible(conn, actor, shipment_id, for_update=True)
            ensure_shipper(actor, before)
            await self._require_move(conn, before, target, now)
            moved = await self._claim(conn, before, target, now, driver_approved_at=now)
            message = f"Driver {moved.driver_id} approved for shipment {moved.id}"
            await notify(conn, moved.operator_id, Role.OPERATOR, message, now)
            await notify(
                conn,
                moved.driver_id,
                Role.DRIVER,
                f"You are approved for shipment {moved.id}: you may start",
                now,
            )
            data = {"from": before.status.value, "to": moved.status.value, "driverId": moved.driver_id}
            await audit(conn, actor, "driver_approved", moved.id, data, now)
            return await self._view(conn, actor, moved, now)

    async def reject_driver(self, actor: Actor, shipment_id: str, *, reason: str | None) -> ShipmentView:
        """Back to ASSIGNED without driver or truck; the operator assigns again."""
        now = self._clock.now()
        target = ShipmentStatus.ASSIGNED
        async with self._db.transaction() as conn:
            before = await self._visible(conn, actor, shipment_id, for_update=True)
            ensure_shipper(actor, before)
            await self._require_move(conn, before, target, now)
            moved = await self._claim(
                conn, before, target, now, driver_id=None, truck_id=None, driver_approved_at=None
            )
            message = (
                f"The shipper rejected driver {before.driver_id} for shipment {moved.id}; assign another"
            )
            if reason:
                message += f". Reason: {mask_text(reason)}"
            await notify(conn, moved.operator_id, Role.OPERATOR, message, now)
            await notify(conn, before.driver_id, Role.DRIVER, released_message(moved.id), now)
            data = {
                "from": before.status.value,
                "to": moved.status.value,
                "rejectedDriverId": before.driver_id,
                "releasedTruckId": before.truck_id,
                "reasonGiven": reason is not None,
            }
            await audit(conn, actor, "driver_rejected", moved.id, data, now)
            return await self._view(conn, actor, moved, now)

    # --- the trip --------------------------------------------------------------------------------

    async def start(self, actor: Actor, shipment_id: str, *, ip: str | None) -> ShipmentView:
        """The approved driver starts (RF01: their KYC must be VERIFIED). The delivery OTP is
        issued in the same transaction unless an unconsumed, unexpired one exists (a restart
        after a breakdown keeps it)."""
        now = self._clock.now()
        target = ShipmentStatus.IN_TRANSIT
        async with self._db.read() as conn:
            shipment = await self._visible(conn, actor, shipment_id)
            ensure_assigned_driver(actor, shipment)
            await self._require_move(conn, shipment, target, now)
            if shipment.status is not ShipmentStatus.APPROVED:
                raise IllegalTransition(details={"from": shipment.status.value, "to": target.value})
            kyc = await kyc_status(conn, actor.user_id, Role.DRIVER)
            driver = await repo.get_driver_facts(conn, actor.user_id, now)
            names: dict[str, Any] = {"shipment": await acs_shipment_names(conn, shipment, now)}
        if driver is not None:
            names["driver"] = driver_names(driver, kyc=kyc)
        event = new_event(
            "shipment.start",
            actor_ctx(actor, kyc_status=kyc, ip=ip),
            at=now,
            payload={"shipmentId": shipment.id},
        )
        await self._services.acs.enforce(event, ProvidedFacts(names=names))
        async with self._db.transaction() as conn:
            before = await self._visible(conn, actor, shipment_id, for_update=True)
            ensure_assigned_driver(actor, before)
            await self._require_move(conn, before, target, now)
            if before.status is not ShipmentStatus.APPROVED:
                raise IllegalTransition(details={"from": before.status.value, "to": target.value})
            moved = await self._claim(conn, before, target, now, started_at=repo.first_start(now))
            otp = await delivery_otp.get_state(conn, moved.id, for_update=True)
            issue = otp is None or otp.consumed_at is not None or otp.expired(now)
            if issue:
                otp = await delivery_otp.issue(
                    conn, self._services, shipment_id=moved.id, shipper_id=moved.shipper_id, now=now
                )
            await notify(
                conn,
                moved.shipper_id,
                Role.SHIPPER,
                f"Shipment {moved.id} started; your delivery OTP is in the app",
                now,
            )
            data = {
                "from": before.status.value,
                "to": moved.status.value,
                "driverId": moved.driver_id,
                "truckId": moved.truck_id,
                "restart": before.started_at is not None,
                "otpIssued": issue,
                "acsEventId": event.id,
            }
            await audit(conn, actor, "started", moved.id, data, now)
            return await self._view(conn, actor, moved, now)

    async def reveal_otp(self, actor: Actor, shipment_id: str) -> OtpView:
        """The code, to the shipment's shipper only; each view is audited (without the code)."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            shipment = await self._visible(conn, actor, shipment_id)
            ensure_shipper(actor, shipment)
            state = await delivery_otp.get_state(conn, shipment.id)
            if state is None:
                raise OtpNotIssued()
            code = await delivery_otp.reveal(conn, self._services, state, shipper_id=shipment.shipper_id)
            data = {"issueCount": state.issue_count, "attempts": state.attempts, "locked": state.locked}
            await audit(conn, actor, "otp_viewed", shipment.id, data, now)
        return OtpView(code, state)

    async def reissue_otp(self, actor: Actor, shipment_id: str) -> OtpView:
        """A new code (the old one stops working, attempts restart, a lock is released) and
        RF04's OTP_BRUTE_FORCE block of the shipment lifted. Any other freeze or block refuses
        (409 SHIPMENT_FROZEN); only IN_TRANSIT and OTP_PENDING shipments have an OTP to replace."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            shipment = await self._visible(conn, actor, shipment_id, for_update=True)
            ensure_shipper(actor, shipment)
            holds = await repo.active_holds(conn, [shipment.id], now)
            if any(not (h.kind is HoldKind.BLOCK and h.reason == OTP_BRUTE_FORCE) for h in holds):
                raise ShipmentFrozen()
            if shipment.status not in EN_ROUTE_STATUSES:
                raise NotEnRoute()
            state = await delivery_otp.issue(
                conn, self._services, shipment_id=shipment.id, shipper_id=shipment.shipper_id, now=now
            )
            lifted = await repo.lift_shipment_blocks(
                conn, shipment.id, reason=OTP_BRUTE_FORCE, lifted_by=actor.user_id, now=now
            )
            code = await delivery_otp.reveal(conn, self._services, state, shipper_id=shipment.shipper_id)
            await notify(
                conn,
                shipment.driver_id,
                Role.DRIVER,
                f"A new delivery OTP was issued for shipment {shipment.id}; the earlier one no longer works",
                now,
            )
            data = {"status": shipment.status.value, "issueCount": state.issue_count, "blocksLifted": lifted}
            await audit(conn, actor, "otp_reissued", shipment.id, data, now)
        return OtpView(code, state)

    async def report_breakdown(self, actor: Actor, shipment_id: str, *, reason: str) -> ShipmentView:
        """The assigned driver or the operator reports a breakdown of an IN_TRANSIT shipment;
        the state stays, the operator then assigns an alternate truck. The reason is stored (and
        shown to every party) with phone numbers and other personal data masked."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            before = await self._visible(conn, actor, shipment_id, for_update=True)
            ensure_driver_or_operator(actor, before)
            await self._ensure_not_frozen(conn, before, now)
            if before.status is not ShipmentStatus.IN_TRANSIT:
                raise NotInTransit()
            if before.breakdown_reported_at is not None:
                raise BreakdownAlreadyReported()
            masked = mask_text(reason)[:BREAKDOWN_REASON_MAX]
            moved = await self._claim(
                conn, before, before.status, now, breakdown_reason=masked, breakdown_reported_at=now
            )
            message = f"Breakdown reported for shipment {moved.id} (truck {moved.truck_id})"
            if actor.role is Role.DRIVER:
                message += "; assign an alternate truck"
            await notify_parties(conn, moved, message, now, skip=actor.user_id)
            data = {
                "status": moved.status.value,
                "reportedByRole": actor.role.value,
                "driverId": moved.driver_id,
                "truckId": moved.truck_id,
            }
            await audit(conn, actor, "breakdown_reported", moved.id, data, now)
            return await self._view(conn, actor, moved, now)

    async def assign_alternate_truck(
        self, actor: Actor, shipment_id: str, *, truck_id: str, driver_id: str | None, ip: str | None
    ) -> ShipmentView:
        """After a reported breakdown the operator moves the load to another of its ACTIVE
        trucks (ACS `shipment.assign`, so RF02 applies). Same driver: the trip goes on
        (IN_TRANSIT). A new driver: DRIVER_PENDING_APPROVAL, approved and started again. The
        truck, and a new driver, are judged again inside the transaction like `assign`'s."""
        now = self._clock.now()
        async with self._db.read() as conn:
            shipment = await self._visible(conn, actor, shipment_id)
            ensure_operator(actor, shipment)
            self._ensure_broken_down(await self._ensure_not_frozen(conn, shipment, now))
            truck = await self._own_truck(conn, shipment, truck_id, now)
            if truck.id == shipment.truck_id:
                raise TruckNotEligible("The alternate truck must be another truck than the broken-down one")
            new_driver = driver_id is not None and driver_id != shipment.driver_id
            if new_driver:
                assert driver_id is not None
                driver: DriverFacts | None = await self._eligible_driver(conn, shipment, driver_id, now)
            else:
                assert shipment.driver_id is not None  # IN_TRANSIT always has a driver
                driver = await repo.get_driver_facts(conn, shipment.driver_id, now)
            names: dict[str, Any] = {
                "shipment": await acs_shipment_names(conn, shipment, now),
                "truck": truck_names(truck),
            }
            if driver is not None:
                names["driver"] = driver_names(
                    driver, kyc=await kyc_status(conn, driver.user_id, Role.DRIVER)
                )
            operator_kyc = await kyc_status(conn, actor.user_id, actor.role)
        event = new_event(
            "shipment.assign",
            actor_ctx(actor, kyc_status=operator_kyc, ip=ip),
            at=now,
            payload={
                "shipmentId": shipment.id,
                "truckId": truck.id,
                "driverId": driver.user_id if driver else None,
            },
        )
        await self._services.acs.enforce(event, ProvidedFacts(names=names))
        async with self._db.transaction() as conn:
            before = await self._visible(conn, actor, shipment_id, for_update=True)
            self._ensure_broken_down(await self._ensure_not_frozen(conn, before, now))
            await self._assignable_truck(conn, before, truck.id, now)
            cleared: dict[str, Any] = {
                "truck_id": truck.id,
                "breakdown_reason": None,
                "breakdown_reported_at": None,
            }
            if new_driver and driver is not None:
                target = ShipmentStatus.DRIVER_PENDING_APPROVAL
                await self._require_move(conn, before, target, now)
                await self._eligible_driver(conn, before, driver.user_id, now)
                moved = await self._claim_crew(
                    conn, before, target, now, driver_id=driver.user_id, driver_approved_at=None, **cleared
                )
                await crew_assigned(
                    conn,
                    before,
                    moved,
                    now,
                    shipper_message=f"Shipment {moved.id} moves to truck {moved.truck_id} with new driver "
                    f"{moved.driver_id}: approve or reject the driver",
                )
            else:
                moved = await self._claim(conn, before, before.status, now, **cleared)
                message = f"Shipment {moved.id} continues on alternate truck {moved.truck_id}"
                await notify(conn, moved.shipper_id, Role.SHIPPER, message, now)
                await notify(conn, moved.driver_id, Role.DRIVER, message, now)
            data = {
                "from": before.status.value,
                "to": moved.status.value,
                "truckId": moved.truck_id,
                "previousTruckId": before.truck_id,
                "driverId": moved.driver_id,
                "previousDriverId": before.driver_id,
                "acsEventId": event.id,
            }
            await audit(conn, actor, "alternate_truck_assigned", moved.id, data, now)
            return await self._view(conn, actor, moved, now)

    # --- admin -------------------------------------------------------------------------------------

    async def end(
        self, actor: Actor, shipment_id: str, *, target: ShipmentStatus, reason: str
    ) -> ShipmentView:
        """An admin cancels or fails a shipment in any state but a final one, frozen or not."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            before = await self._visible(conn, actor, shipment_id, for_update=True)
            await self._require_move(conn, before, target, now, by_admin=True)
            moved = await self._claim(
                conn,
                before,
                target,
                now,
                by_admin=True,
                cancelled_at=now,
                cancelled_by=actor.user_id,
                cancel_reason=reason,
            )
            word = "cancelled" if target is ShipmentStatus.CANCELLED else "marked failed"
            await notify_parties(conn, moved, f"Shipment {moved.id} was {word} by Rodistaa", now)
            data = {"from": before.status.value, "to": moved.status.value, "driverId": moved.driver_id}
            action = "cancelled" if target is ShipmentStatus.CANCELLED else "failed"
            await audit(conn, actor, action, moved.id, data, now)
            return await self._view(conn, actor, moved, now)

    async def freeze(self, actor: Actor, shipment_id: str, *, reason: str) -> ShipmentView:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            shipment = await self._visible(conn, actor, shipment_id, for_update=True)
            if shipment.status in FINAL_STATUSES:
                raise ShipmentFinal()
            freeze_id = await repo.insert_freeze(conn, shipment.id, reason=reason, now=now)
            await notify_parties(conn, shipment, f"Shipment {shipment.id} is frozen for review", now)
            data = {"freezeId": freeze_id, "workflowStatus": shipment.status.value}
            await audit(conn, actor, "frozen", shipment.id, data, now)
            return await self._view(conn, actor, shipment, now)

    async def unfreeze(self, actor: Actor, shipment_id: str) -> ShipmentView:
        """Lifts the admins' freezes only; ACS freezes and blocks still show FROZEN. With none
        to lift: 409 FREEZE_NEEDS_OVERRIDE while ACS holds remain, 409 NOT_FROZEN otherwise."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            shipment = await self._visible(conn, actor, shipment_id, for_update=True)
            holds = await repo.active_holds(conn, [shipment.id], now)
            if not any(h.by_admin_freeze for h in holds):
                if holds:
                    raise FreezeNeedsOverride(details={"reasons": sorted({h.reason for h in holds})})
                raise NotFrozen()
            lifted = await repo.lift_admin_freezes(conn, shipment.id, lifted_by=actor.user_id, now=now)
            view = await self._view(conn, actor, shipment, now)
            if not view.frozen:
                await notify_parties(conn, shipment, f"Shipment {shipment.id} is no longer frozen", now)
            data = {
                "freezesLifted": lifted,
                "workflowStatus": shipment.status.value,
                "stillFrozen": view.frozen,
            }
            await audit(conn, actor, "unfrozen", shipment.id, data, now)
            return view

    # --- helpers -----------------------------------------------------------------------------------

    @staticmethod
    async def _visible(
        conn: AsyncConnection, actor: Actor, shipment_id: str, *, for_update: bool = False
    ) -> ShipmentRecord:
        shipment = await repo.get_shipment(conn, shipment_id, visible=readable(actor), for_update=for_update)
        if shipment is None:
            raise NotFound()
        return shipment

    @staticmethod
    async def _view(
        conn: AsyncConnection, actor: Actor, shipment: ShipmentRecord, now: datetime
    ) -> ShipmentView:
        holds = await repo.active_holds(conn, [shipment.id], now)
        return shipment_view(
            actor, shipment, holds, otp_issued=bool(await repo.otp_issued(conn, [shipment.id]))
        )

    @staticmethod
    async def _frozen(conn: AsyncConnection, shipment: ShipmentRecord, now: datetime) -> bool:
        return bool(await repo.active_holds(conn, [shipment.id], now))

    @staticmethod
    async def _require_move(
        conn: AsyncConnection,
        shipment: ShipmentRecord,
        target: ShipmentStatus,
        now: datetime,
        *,
        by_admin: bool = False,
    ) -> None:
        frozen = await ShipmentService._frozen(conn, shipment, now)
        require_transition(shipment.status, target, frozen=frozen, by_admin=by_admin)

    @classmethod
    async def _require_assignable(
        cls, conn: AsyncConnection, shipment: ShipmentRecord, now: datetime
    ) -> None:
        """Assign is the change of crew before the start; after it, a crew change goes through
        a breakdown (the machine's IN_TRANSIT -> DRIVER_PENDING_APPROVAL is that path only)."""
        target = ShipmentStatus.DRIVER_PENDING_APPROVAL
        await cls._require_move(conn, shipment, target, now)
        if shipment.status not in NOT_STARTED_STATUSES:
            raise IllegalTransition(details={"from": shipment.status.value, "to": target.value})

    @staticmethod
    async def _ensure_not_frozen(
        conn: AsyncConnection, shipment: ShipmentRecord, now: datetime
    ) -> ShipmentRecord:
        """For changes that keep the state (breakdown, truck swap): a frozen shipment refuses."""
        if await ShipmentService._frozen(conn, shipment, now):
            raise ShipmentFrozen()
        return shipment

    @staticmethod
    def _ensure_broken_down(shipment: ShipmentRecord) -> None:
        if shipment.status is not ShipmentStatus.IN_TRANSIT:
            raise NotInTransit()
        if shipment.breakdown_reported_at is None:
            raise NoBreakdownReported()

    @classmethod
    async def _claim(
        cls,
        conn: AsyncConnection,
        before: ShipmentRecord,
        target: ShipmentStatus,
        now: datetime,
        *,
        by_admin: bool = False,
        **values: Any,
    ) -> ShipmentRecord:
        """The conditional update from the state read under the row lock; unless `by_admin`
        (ending a shipment, frozen or not) it also refuses a shipment frozen by now."""
        moved = await repo.claim_status(
            conn,
            before.id,
            expected=[before.status],
            target=target,
            now=now,
            refuse_frozen_at=None if by_admin else now,
            **values,
        )
        if moved is None:
            raise await cls._refusal(conn, before, target, now, by_admin=by_admin)
        return moved

    @classmethod
    async def _claim_crew(
        cls,
        conn: AsyncConnection,
        before: ShipmentRecord,
        target: ShipmentStatus,
        now: datetime,
        **values: Any,
    ) -> ShipmentRecord:
        try:
            moved = await repo.claim_crew(
                conn,
                before.id,
                expected=[before.status],
                target=target,
                now=now,
                refuse_frozen_at=now,
                **values,
            )
        except DriverAlreadyBusy as exc:
            raise DriverBusy() from exc
        if moved is None:
            raise await cls._refusal(conn, before, target, now)
        return moved

    @classmethod
    async def _refusal(
        cls,
        conn: AsyncConnection,
        before: ShipmentRecord,
        target: ShipmentStatus,
        now: datetime,
        *,
        by_admin: bool = False,
    ) -> Exception:
        """Why a claim matched no row: a freeze that arrived after the check (SHIPMENT_FROZEN),
        else a concurrent move that got there first (INVALID_STATE)."""
        if not by_admin and await cls._frozen(conn, before, now):
            return ShipmentFrozen()
        return IllegalTransition(details={"from": before.status.value, "to": target.value})

    @staticmethod
    async def _own_truck(
        conn: AsyncConnection, shipment: ShipmentRecord, truck_id: str, now: datetime
    ) -> TruckRecord:
        """The truck if it belongs to the shipment's operator (another operator's truck is as
        ineligible as a missing one: 422, never a hint that it exists). ACTIVE is checked after
        ACS (`_assignable_truck`), so RF02 can act on an EXPIRED_DOCS truck."""
        truck = await fleet_repo.get_truck(conn, truck_id, now=now)
        if truck is None or truck.operator_id != shipment.operator_id:
            raise TruckNotEligible()
        return truck

    @classmethod
    async def _assignable_truck(
        cls, conn: AsyncConnection, shipment: ShipmentRecord, truck_id: str, now: datetime
    ) -> TruckRecord:
        """The operator's truck, effectively ACTIVE (a block shows as BLOCKED), read in the
        claiming transaction."""
        truck = await cls._own_truck(conn, shipment, truck_id, now)
        if truck.effective_status is not TruckStatus.ACTIVE:
            raise TruckNotEligible()
        return truck

    @staticmethod
    async def _eligible_driver(
        conn: AsyncConnection, shipment: ShipmentRecord, driver_id: str, now: datetime
    ) -> DriverFacts:
        """A driver of the operator's fleet whose account is active and who has no other active
        shipment (checked here for a clear answer; the unique index decides races)."""
        driver = await repo.get_driver_facts(conn, driver_id, now)
        if driver is None or driver.operator_id != shipment.operator_id or driver.status != UserStatus.ACTIVE:
            raise DriverNotEligible()
        if driver.active_shipment_id not in (None, shipment.id):
            raise DriverBusy()
        return driver
