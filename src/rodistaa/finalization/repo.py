"""All SQL of finalization: the candidates, the operator's standing for RF14, the claims of
the winning transaction (booking, winner bid), the admin's reason, the shipment row, the
per-booking evaluation lock and the auto-finalize job's due list. Single bids and bookings are
read with `bids.repo.get_bid` and `bookings.repo.get_booking`; the losing bids are rejected
with `bids.repo.reject_active_for_booking`.

Every state change here is a conditional UPDATE whose WHERE repeats the state it leaves, so of
two concurrent finalizations of one booking only one matches the booking row; the loser sees
None and its transaction rolls back (PostgreSQL makes the second UPDATE wait for the first to
commit and then re-checks the condition; SQLite serialises writers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.enforcement import active_suspension, is_blocked
from rodistaa.bids.repo import BidRecord, BidStatus
from rodistaa.bids.tables import bids
from rodistaa.bookings.repo import OPEN_STATUSES, BookingRecord, BookingStatus, place_values
from rodistaa.bookings.tables import bookings
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.db.engine import Database
from rodistaa.db.tables import users
from rodistaa.kyc.status import kyc_status
from rodistaa.ledger.service import balance_paise
from rodistaa.shipments import repo as shipments_repo
from rodistaa.shipments.repo import ShipmentRecord
from rodistaa.shipments.status import ShipmentStatus

_OPEN = [s.value for s in OPEN_STATUSES]


@dataclass(frozen=True)
class OperatorStanding:
    """What RF14 re-checks about a winning operator at finalization."""

    status: str  # ACTIVE, INACTIVE, BLOCKED or SUSPENDED
    kyc_status: str
    ledger_balance_paise: int

    @property
    def may_win(self) -> bool:
        """RF14's condition, negated: what the winning transaction re-checks itself after ACS
        allowed the winner (its standing may have changed in between)."""
        return self.status == "ACTIVE" and self.kyc_status == "VERIFIED" and self.ledger_balance_paise >= 0


async def active_candidates(conn: AsyncConnection, booking_id: str) -> list[BidRecord]:
    """The booking's ACTIVE bids in the finalizer's order (PRODUCT §6): lowest amount first,
    then the earliest, then the lexically smaller operator id (one ACTIVE bid per operator, so
    the order is total)."""
    rows = (
        await conn.execute(
            select(bids)
            .where(bids.c.booking_id == booking_id, bids.c.status == BidStatus.ACTIVE.value)
            .order_by(bids.c.amount_paise, bids.c.created_at, bids.c.operator_id)
        )
    ).mappings()
    return [BidRecord.from_row(r) for r in rows]


async def operator_standing(conn: AsyncConnection, operator_id: str, *, now: datetime) -> OperatorStanding:
    """The user row's status, overridden by an active ACS/admin block (BLOCKED) or suspension
    (SUSPENDED) even while the row still says ACTIVE; a missing row counts as INACTIVE."""
    status = (await conn.execute(select(users.c.status).where(users.c.id == operator_id))).scalar()
    effective = str(status) if status is not None else "INACTIVE"
    if effective == "ACTIVE":
        if await is_blocked(conn, "operator", operator_id, now):
            effective = "BLOCKED"
        elif await active_suspension(conn, operator_id, now) is not None:
            effective = "SUSPENDED"
    return OperatorStanding(
        status=effective,
        kyc_status=await kyc_status(conn, operator_id, Role.OPERATOR),
        ledger_balance_paise=await balance_paise(conn, operator_id),
    )


async def claim_booking_for_finalization(
    conn: AsyncConnection,
    booking_id: str,
    *,
    target: BookingStatus,
    finalize_reason: str | None,
    now: datetime,
) -> BookingRecord | None:
    """OPEN/NEGOTIATION -> `target` (FINALIZED or AUTO_FINALIZED), with the admin's reason
    (None otherwise); None if the booking had left those states. This claim is what makes a
    booking finalized exactly once: of any number of concurrent accepts, admin finalizations
    and job runs, one UPDATE matches the row."""
    row = (
        (
            await conn.execute(
                update(bookings)
                .where(bookings.c.id == booking_id, bookings.c.status.in_(_OPEN))
                .values(
                    status=target.value, finalized_at=now, finalize_reason=finalize_reason, updated_at=now
                )
                .returning(*bookings.c)
            )
        )
        .mappings()
        .first()
    )
    return BookingRecord.from_row(row) if row else None


async def claim_winning_bid(
    conn: AsyncConnection, bid_id: str, *, booking_id: str, amount_paise: int, now: datetime
) -> BidRecord | None:
    """ACTIVE -> ACCEPTED, only at `amount_paise`, the amount the finalizer read (and the
    shipper saw); None if the bid is no longer ACTIVE (withdrawn concurrently) or its amount
    changed (the operator modified it meanwhile): a price nobody accepted never becomes the
    agreed one."""
    row = (
        (
            await conn.execute(
                update(bids)
                .where(
                    bids.c.id == bid_id,
                    bids.c.booking_id == booking_id,
                    bids.c.status == BidStatus.ACTIVE.value,
                    bids.c.amount_paise == amount_paise,
                )
                .values(status=BidStatus.ACCEPTED.value, updated_at=now)
                .returning(*bids.c)
            )
        )
        .mappings()
        .first()
    )
    return BidRecord.from_row(row) if row else None


async def record_finalize_reason(conn: AsyncConnection, booking_id: str, reason: str) -> None:
    """The admin's reason on a booking an admin finalization cancelled (no valid candidate);
    a finalized booking gets it with its claim."""
    await conn.execute(update(bookings).where(bookings.c.id == booking_id).values(finalize_reason=reason))


# Bookings whose candidates this process is evaluating (SQLite only; see `evaluation_lock`).
_EVALUATING: set[str] = set()


@asynccontextmanager
async def evaluation_lock(db: Database, booking_id: str) -> AsyncIterator[bool]:
    """Yields whether this caller may evaluate the booking's candidates now; False while
    another evaluation of the booking runs (it will finalize or cancel the booking).

    Race prevented: two overlapping evaluations (job runs, an admin finalizing by candidate
    order) both asking ACS about the same ineligible candidate, so RF14 raises two tickets and
    RF15 records the tie twice; the conditional claims alone keep one winner but not one
    decision. The evaluation spans several transactions (ACS writes its decisions in its own),
    so no transaction-scoped lock covers it:

    * PostgreSQL: a session-level advisory lock keyed per booking, taken without waiting on a
      connection of its own (autocommit: no transaction is held open) and released when the
      evaluation ends, or by the server if the connection is lost.
    * SQLite: serial write transactions do not serialise a sequence of them (six concurrent
      runs raised six tickets), and SQLite has no advisory locks. An embedded database is one
      process's, so a per-process set of the bookings being evaluated does the same job.
    """
    if db.is_sqlite:
        if booking_id in _EVALUATING:
            yield False
            return
        _EVALUATING.add(booking_id)
        try:
            yield True
        finally:
            _EVALUATING.discard(booking_id)
        return
    key = func.hashtext(f"rodistaa:finalization:candidates:{booking_id}")
    async with db.engine.connect() as raw:
        conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
        acquired = bool((await conn.execute(select(func.pg_try_advisory_lock(key)))).scalar_one())
        try:
            yield acquired
        finally:
            if acquired:
                await conn.execute(select(func.pg_advisory_unlock(key)))


async def insert_shipment(
    conn: AsyncConnection, booking: BookingRecord, bid: BidRecord, *, now: datetime
) -> ShipmentRecord:
    """The trip the finalized booking becomes: ASSIGNED, route, goods and size copied from the
    booking, the agreed price from the winning bid. The unique `booking_id` and `bid_id`
    columns are a second guard: a booking can never get two shipments."""
    return await shipments_repo.insert_shipment(
        conn,
        {
            "id": new_id("SH"),
            "booking_id": booking.id,
            "bid_id": bid.id,
            "shipper_id": booking.shipper_id,
            "operator_id": bid.operator_id,
            "driver_id": None,
            "truck_id": None,
            **place_values(booking.pickup, "pickup"),
            **place_values(booking.drop, "drop"),
            "goods_type": booking.goods_type,
            "tonnage": booking.tonnage,
            "distance_km": booking.distance_km,
            "agreed_price_paise": bid.amount_paise,
            "status": ShipmentStatus.ASSIGNED.value,
            "created_at": now,
            "updated_at": now,
        },
    )


@dataclass(frozen=True)
class DueBooking:
    id: str
    auto_finalize_at: datetime


async def due_bookings(
    conn: AsyncConnection, *, now: datetime, after: DueBooking | None, limit: int
) -> list[DueBooking]:
    """Bookings still taking bids whose deadline has passed, oldest deadline first, read as a
    keyset page after `after`: a booking that failed stays due, and the cursor (not the
    changing set) guarantees the job still terminates and never examines one twice in a run."""
    conditions = [bookings.c.status.in_(_OPEN), bookings.c.auto_finalize_at <= now]
    if after is not None:
        conditions.append(
            or_(
                bookings.c.auto_finalize_at > after.auto_finalize_at,
                and_(bookings.c.auto_finalize_at == after.auto_finalize_at, bookings.c.id > after.id),
            )
        )
    rows = await conn.execute(
        select(bookings.c.id, bookings.c.auto_finalize_at)
        .where(*conditions)
        .order_by(bookings.c.auto_finalize_at, bookings.c.id)
        .limit(limit)
    )
    return [DueBooking(r.id, r.auto_finalize_at) for r in rows]
