"""All SQL for bookings: the per-day id counter, inserts, reads through `readable(actor)` and
the cancellation claim."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, false, func, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.bookings.tables import bookings
from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.db.tables import booking_day_counters


class BookingStatus(StrEnum):
    OPEN = "OPEN"
    NEGOTIATION = "NEGOTIATION"
    FINALIZED = "FINALIZED"
    AUTO_FINALIZED = "AUTO_FINALIZED"
    CANCELLED = "CANCELLED"


# Taking bids: what operators may see, and what may still be cancelled.
OPEN_STATUSES = (BookingStatus.OPEN, BookingStatus.NEGOTIATION)


@dataclass(frozen=True)
class Place:
    address: str
    city: str
    state: str
    pincode: str
    lat: float
    lng: float


@dataclass(frozen=True)
class BookingRecord:
    id: str
    shipper_id: str
    pickup: Place
    drop: Place
    goods_type: str
    goods_weight: Decimal | None
    goods_packaging: str | None
    tonnage: Decimal
    distance_km: Decimal
    expected_price_paise: int
    price_min_paise: int
    price_max_paise: int
    pickup_date: date | None
    status: BookingStatus
    auto_finalize_at: datetime
    cancel_reason: str | None
    cancelled_by: str | None
    finalized_at: datetime | None
    created_at: datetime
    updated_at: datetime
    finalize_reason: str | None = None

    @classmethod
    def from_row(cls, row: RowMapping) -> BookingRecord:
        return cls(
            id=row["id"],
            shipper_id=row["shipper_id"],
            pickup=place_from_row(row, "pickup"),
            drop=place_from_row(row, "drop"),
            goods_type=row["goods_type"],
            goods_weight=_decimal(row["goods_weight"]),
            goods_packaging=row["goods_packaging"],
            tonnage=_required_decimal(row["tonnage"]),
            distance_km=_required_decimal(row["distance_km"]),
            expected_price_paise=row["expected_price_paise"],
            price_min_paise=row["price_min_paise"],
            price_max_paise=row["price_max_paise"],
            pickup_date=row["pickup_date"],
            status=BookingStatus(row["status"]),
            auto_finalize_at=row["auto_finalize_at"],
            cancel_reason=row["cancel_reason"],
            cancelled_by=row["cancelled_by"],
            finalized_at=row["finalized_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            finalize_reason=row["finalize_reason"],
        )

    def values(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "shipper_id": self.shipper_id,
            **place_values(self.pickup, "pickup"),
            **place_values(self.drop, "drop"),
            "goods_type": self.goods_type,
            "goods_weight": self.goods_weight,
            "goods_packaging": self.goods_packaging,
            "tonnage": self.tonnage,
            "distance_km": self.distance_km,
            "expected_price_paise": self.expected_price_paise,
            "price_min_paise": self.price_min_paise,
            "price_max_paise": self.price_max_paise,
            "pickup_date": self.pickup_date,
            "status": self.status.value,
            "auto_finalize_at": self.auto_finalize_at,
            "cancel_reason": self.cancel_reason,
            "cancelled_by": self.cancelled_by,
            "finalized_at": self.finalized_at,
            "finalize_reason": self.finalize_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def place_from_row(row: RowMapping, prefix: str) -> Place:
    """The `<prefix>_*` columns (bookings and shipments store places the same way)."""
    return Place(
        address=row[f"{prefix}_address"],
        city=row[f"{prefix}_city"],
        state=row[f"{prefix}_state"],
        pincode=row[f"{prefix}_pincode"],
        lat=row[f"{prefix}_lat"],
        lng=row[f"{prefix}_lng"],
    )


def place_values(place: Place, prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}_address": place.address,
        f"{prefix}_city": place.city,
        f"{prefix}_state": place.state,
        f"{prefix}_pincode": place.pincode,
        f"{prefix}_lat": place.lat,
        f"{prefix}_lng": place.lng,
    }


def _decimal(value: Any) -> Decimal | None:
    # SQLite hands NUMERIC back through a float; two places is what the column holds.
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


def _required_decimal(value: Any) -> Decimal:
    result = _decimal(value)
    assert result is not None  # NOT NULL column
    return result


def readable(actor: Actor) -> ColumnElement[bool]:
    """The bookings `actor` may see; every read goes through it (outside it: 404).

    * SHIPPER: their own bookings, in any state.
    * OPERATOR: every booking still taking bids (OPEN, NEGOTIATION), to find work.
    * ADMIN: every booking.
    * Anyone else: none (the routes refuse them with 403 before asking).
    """
    if actor.role is Role.ADMIN:
        return true()
    if actor.role is Role.SHIPPER:
        return bookings.c.shipper_id == actor.user_id
    if actor.role is Role.OPERATOR:
        return bookings.c.status.in_([s.value for s in OPEN_STATUSES])
    return false()


async def next_day_number(conn: AsyncConnection, day: str) -> int:
    """Claim the next number of `day`'s counter (1 for the day's first booking).

    One upsert, so two creators can never read the same value: on PostgreSQL the second
    waits on the counter row until the first commits; SQLite serialises writers. The caller
    commits it at once (a number is never given back: a booking that fails leaves a gap)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(booking_day_counters)
        .values(day=day, last_value=1)
        .on_conflict_do_update(
            index_elements=[booking_day_counters.c.day],
            set_={"last_value": booking_day_counters.c.last_value + 1},
        )
        .returning(booking_day_counters.c.last_value)
    )
    return int((await conn.execute(statement)).scalar_one())


async def insert_booking(conn: AsyncConnection, booking: BookingRecord) -> None:
    await conn.execute(bookings.insert().values(**booking.values()))


async def get_booking(
    conn: AsyncConnection, booking_id: str, *, visible: ColumnElement[bool], for_update: bool = False
) -> BookingRecord | None:
    query = select(bookings).where(bookings.c.id == booking_id, visible)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return BookingRecord.from_row(row) if row else None


async def list_bookings(
    conn: AsyncConnection,
    *,
    visible: ColumnElement[bool],
    status: BookingStatus | None,
    offset: int,
    limit: int,
) -> tuple[list[BookingRecord], int]:
    """Newest first. Ids of one instant sort by their day's counter: longer ids (10000 and up)
    are the later ones, which plain string order would put first."""
    conditions = [visible]
    if status is not None:
        conditions.append(bookings.c.status == status.value)
    total = (await conn.execute(select(func.count()).select_from(bookings).where(*conditions))).scalar_one()
    rows = (
        await conn.execute(
            select(bookings)
            .where(*conditions)
            .order_by(bookings.c.created_at.desc(), func.length(bookings.c.id).desc(), bookings.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).mappings()
    return [BookingRecord.from_row(r) for r in rows], int(total)


async def claim_cancellation(
    conn: AsyncConnection, booking_id: str, *, reason: str | None, cancelled_by: str, now: datetime
) -> BookingRecord | None:
    """Move the booking to CANCELLED if it is still taking bids; None if it no longer is.

    The status test is part of the UPDATE, so two concurrent cancellations (or a cancellation
    racing a finalization) cannot both succeed: the loser's UPDATE matches no row."""
    row = (
        (
            await conn.execute(
                update(bookings)
                .where(bookings.c.id == booking_id, bookings.c.status.in_([s.value for s in OPEN_STATUSES]))
                .values(
                    status=BookingStatus.CANCELLED.value,
                    cancel_reason=reason,
                    cancelled_by=cancelled_by,
                    updated_at=now,
                )
                .returning(*bookings.c)
            )
        )
        .mappings()
        .first()
    )
    return BookingRecord.from_row(row) if row else None
