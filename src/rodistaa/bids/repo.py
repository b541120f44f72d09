"""All SQL for bids: inserts guarded by the unique partial index, reads through
`readable(actor)`, and the status claims (modify, withdraw, reject on cancellation or
finalization; finalization's own claims live in `finalization.repo`).

Every state change is a conditional UPDATE on `status = 'ACTIVE'`: a bid that a concurrent
finalization accepted or rejected, or that its operator withdrew, can no longer be changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, exists, false, func, select, true, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.bids.tables import bids
from rodistaa.bookings.repo import OPEN_STATUSES, BookingRecord, BookingStatus
from rodistaa.bookings.tables import bookings
from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role


class BidStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    # Never produced: bids close with their booking (ACCEPTED or REJECTED at finalization,
    # REJECTED at cancellation), so none is left to expire. Kept because the contract's `Bid`
    # enum and the table's CHECK name it, and clients may filter on it.
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class BidRecord:
    id: str
    booking_id: str
    operator_id: str
    truck_id: str | None
    amount_paise: int
    fee_paise: int
    notes: str | None
    status: BidStatus
    modification_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> BidRecord:
        values = {name: row[name] for name in _FIELDS}
        values["status"] = BidStatus(row["status"])
        return cls(**values)

    def values(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in _FIELDS}
        values["status"] = self.status.value
        return values


_FIELDS = [c.name for c in bids.columns]


class ActiveBidExists(Exception):
    """The operator already holds an ACTIVE bid on the booking (the unique index said so)."""


def readable(actor: Actor) -> ColumnElement[bool]:
    """The bids `actor` may see; every read goes through it (outside it: 404).

    * ADMIN: every bid.
    * OPERATOR: their own bids only (sealed bidding: competitors' prices are never shown).
    * SHIPPER: every bid on their own bookings.
    * Anyone else: none.
    """
    if actor.role is Role.ADMIN:
        return true()
    if actor.role is Role.OPERATOR:
        return bids.c.operator_id == actor.user_id
    if actor.role is Role.SHIPPER:
        return exists().where(bookings.c.id == bids.c.booking_id, bookings.c.shipper_id == actor.user_id)
    return false()


async def lock_booking_taking_bids(conn: AsyncConnection, booking_id: str) -> BookingRecord | None:
    """The booking, row-locked, if it is still OPEN or in NEGOTIATION; None otherwise.

    Race prevented: a bid committing on a booking that a concurrent cancellation or
    finalization has just closed. Both of those lock the booking row first, so whichever
    transaction comes second waits here and then reads the other's outcome (PostgreSQL
    re-evaluates the status test on the newest row version; SQLite's write transaction is
    already exclusive)."""
    query = (
        select(bookings)
        .where(bookings.c.id == booking_id, bookings.c.status.in_([s.value for s in OPEN_STATUSES]))
        .with_for_update()
    )
    row = (await conn.execute(query)).mappings().first()
    return BookingRecord.from_row(row) if row else None


async def claim_negotiation(conn: AsyncConnection, booking_id: str, *, now: datetime) -> bool:
    """OPEN → NEGOTIATION on the first bid; False when the booking was no longer OPEN (a later
    bid: it is already in NEGOTIATION). Conditional, so it never moves a booking backwards."""
    result = await conn.execute(
        update(bookings)
        .where(bookings.c.id == booking_id, bookings.c.status == BookingStatus.OPEN.value)
        .values(status=BookingStatus.NEGOTIATION.value, updated_at=now)
    )
    return result.rowcount == 1


async def insert_bid(conn: AsyncConnection, bid: BidRecord) -> None:
    """Insert the bid. Raises `ActiveBidExists` when the unique partial index refuses it.

    The insert runs in a savepoint so the caller's transaction stays usable to tell a
    duplicate from any other integrity failure (which is re-raised)."""
    try:
        async with conn.begin_nested():
            await conn.execute(bids.insert().values(**bid.values()))
    except IntegrityError:
        if await has_active_bid(conn, bid.booking_id, bid.operator_id):
            raise ActiveBidExists() from None
        raise


async def has_active_bid(conn: AsyncConnection, booking_id: str, operator_id: str) -> bool:
    query = select(bids.c.id).where(
        bids.c.booking_id == booking_id,
        bids.c.operator_id == operator_id,
        bids.c.status == BidStatus.ACTIVE.value,
    )
    return (await conn.execute(query)).first() is not None


async def get_bid(conn: AsyncConnection, bid_id: str, *, visible: ColumnElement[bool]) -> BidRecord | None:
    row = (await conn.execute(select(bids).where(bids.c.id == bid_id, visible))).mappings().first()
    return BidRecord.from_row(row) if row else None


async def list_for_booking(
    conn: AsyncConnection, booking_id: str, *, visible: ColumnElement[bool], status: BidStatus | None
) -> list[BidRecord]:
    """PRODUCT §6 order: amount ASC, createdAt ASC, then id so equal bids keep one order."""
    conditions = [bids.c.booking_id == booking_id, visible]
    if status is not None:
        conditions.append(bids.c.status == status.value)
    query = select(bids).where(*conditions).order_by(bids.c.amount_paise, bids.c.created_at, bids.c.id)
    return [BidRecord.from_row(r) for r in (await conn.execute(query)).mappings().all()]


async def list_bids(
    conn: AsyncConnection,
    *,
    visible: ColumnElement[bool],
    status: BidStatus | None,
    offset: int,
    limit: int,
) -> tuple[list[BidRecord], int]:
    """Newest first (ids are ULIDs, so they break ties of one instant in creation order)."""
    conditions = [visible]
    if status is not None:
        conditions.append(bids.c.status == status.value)
    total = (await conn.execute(select(func.count()).select_from(bids).where(*conditions))).scalar_one()
    query = (
        select(bids)
        .where(*conditions)
        .order_by(bids.c.created_at.desc(), bids.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = (await conn.execute(query)).mappings().all()
    return [BidRecord.from_row(r) for r in rows], int(total)


async def claim_modification(
    conn: AsyncConnection, bid_id: str, operator_id: str, *, amount_paise: int, now: datetime
) -> BidRecord | None:
    """Set the new amount on the operator's ACTIVE bid and count the modification; None when
    the bid is no longer ACTIVE (accepted, rejected or withdrawn meanwhile)."""
    statement = (
        update(bids)
        .where(
            bids.c.id == bid_id, bids.c.operator_id == operator_id, bids.c.status == BidStatus.ACTIVE.value
        )
        .values(amount_paise=amount_paise, modification_count=bids.c.modification_count + 1, updated_at=now)
        .returning(*bids.c)
    )
    row = (await conn.execute(statement)).mappings().first()
    return BidRecord.from_row(row) if row else None


async def claim_withdrawal(
    conn: AsyncConnection, bid_id: str, operator_id: str, *, now: datetime
) -> BidRecord | None:
    """ACTIVE → WITHDRAWN for the operator's bid; None when it is no longer ACTIVE."""
    statement = (
        update(bids)
        .where(
            bids.c.id == bid_id, bids.c.operator_id == operator_id, bids.c.status == BidStatus.ACTIVE.value
        )
        .values(status=BidStatus.WITHDRAWN.value, updated_at=now)
        .returning(*bids.c)
    )
    row = (await conn.execute(statement)).mappings().first()
    return BidRecord.from_row(row) if row else None


async def reject_active_for_booking(
    conn: AsyncConnection, booking_id: str, *, now: datetime
) -> list[BidRecord]:
    """Every ACTIVE bid of the booking → REJECTED (cancellation, or the losers of a
    finalization); returns the rejected bids in the finalizer's candidate order (amount,
    createdAt, operatorId) so notifications and audit entries list them deterministically.
    Fees are never refunded (PRODUCT §6), so nothing else changes."""
    statement = (
        update(bids)
        .where(bids.c.booking_id == booking_id, bids.c.status == BidStatus.ACTIVE.value)
        .values(status=BidStatus.REJECTED.value, updated_at=now)
        .returning(*bids.c)
    )
    rows = (await conn.execute(statement)).mappings().all()
    return sorted(
        (BidRecord.from_row(r) for r in rows), key=lambda b: (b.amount_paise, b.created_at, b.operator_id)
    )
