"""All SQL for shipments and their delivery OTP. Every read a user makes goes through
`readable(actor)`: outside it the caller gets 404."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.enforcement import active_block_clause
from rodistaa.acs.tables import acs_blocks, acs_shipment_freezes
from rodistaa.bookings.repo import Place
from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.shipments.status import ShipmentStatus
from rodistaa.shipments.tables import shipments


@dataclass(frozen=True)
class ShipmentRecord:
    id: str
    booking_id: str
    bid_id: str
    shipper_id: str
    operator_id: str
    driver_id: str | None
    truck_id: str | None
    pickup: Place
    drop: Place
    goods_type: str
    tonnage: Decimal
    distance_km: Decimal
    agreed_price_paise: int
    status: ShipmentStatus
    breakdown_reason: str | None
    breakdown_reported_at: datetime | None
    driver_approved_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    cancelled_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> ShipmentRecord:
        return cls(
            id=row["id"],
            booking_id=row["booking_id"],
            bid_id=row["bid_id"],
            shipper_id=row["shipper_id"],
            operator_id=row["operator_id"],
            driver_id=row["driver_id"],
            truck_id=row["truck_id"],
            pickup=_place(row, "pickup"),
            drop=_place(row, "drop"),
            goods_type=row["goods_type"],
            tonnage=Decimal(row["tonnage"]).quantize(Decimal("0.01")),
            distance_km=Decimal(row["distance_km"]).quantize(Decimal("0.01")),
            agreed_price_paise=row["agreed_price_paise"],
            status=ShipmentStatus(row["status"]),
            breakdown_reason=row["breakdown_reason"],
            breakdown_reported_at=row["breakdown_reported_at"],
            driver_approved_at=row["driver_approved_at"],
            started_at=row["started_at"],
            completed_at=row["completed_at"],
            cancelled_at=row["cancelled_at"],
            cancel_reason=row["cancel_reason"],
            cancelled_by=row["cancelled_by"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def parties(self) -> frozenset[str]:
        """The users taking part: shipper, operator and (once assigned) driver."""
        return frozenset(p for p in (self.shipper_id, self.operator_id, self.driver_id) if p)


def _place(row: RowMapping, prefix: str) -> Place:
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


def readable(actor: Actor) -> ColumnElement[bool]:
    """The shipments `actor` may see (outside it: 404).

    * SHIPPER: their own; OPERATOR: the ones they won; DRIVER: the ones they are assigned to
      (a driver replaced before the start no longer sees the shipment); ADMIN: every one.
    * Anyone else: none (the routes refuse them with 403 before asking)."""
    if actor.role is Role.ADMIN:
        return true()
    if actor.role is Role.SHIPPER:
        return shipments.c.shipper_id == actor.user_id
    if actor.role is Role.OPERATOR:
        return shipments.c.operator_id == actor.user_id
    if actor.role is Role.DRIVER:
        return shipments.c.driver_id == actor.user_id
    return false()


async def insert_shipment(conn: AsyncConnection, values: dict[str, Any]) -> ShipmentRecord:
    row = (await conn.execute(shipments.insert().values(**values).returning(*shipments.c))).mappings().one()
    return ShipmentRecord.from_row(row)


async def get_shipment(
    conn: AsyncConnection,
    shipment_id: str,
    *,
    visible: ColumnElement[bool] | None = None,
    for_update: bool = False,
) -> ShipmentRecord | None:
    """The shipment if it exists and `visible` (default: no restriction, for jobs) allows it.
    `for_update` takes the row lock (PostgreSQL; SQLite serialises writers anyway)."""
    query = select(shipments).where(shipments.c.id == shipment_id)
    if visible is not None:
        query = query.where(visible)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return ShipmentRecord.from_row(row) if row else None


async def list_shipments(
    conn: AsyncConnection,
    *,
    visible: ColumnElement[bool],
    status: ShipmentStatus | None,
    offset: int,
    limit: int,
) -> tuple[list[ShipmentRecord], int]:
    """Newest first."""
    conditions = [visible]
    if status is not None:
        conditions.append(shipments.c.status == status.value)
    total = (await conn.execute(select(func.count()).select_from(shipments).where(*conditions))).scalar_one()
    rows = (
        await conn.execute(
            select(shipments)
            .where(*conditions)
            .order_by(shipments.c.created_at.desc(), shipments.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).mappings()
    return [ShipmentRecord.from_row(r) for r in rows], int(total)


async def claim_status(
    conn: AsyncConnection,
    shipment_id: str,
    *,
    expected: Iterable[ShipmentStatus],
    target: ShipmentStatus,
    now: datetime,
    **values: Any,
) -> ShipmentRecord | None:
    """Move the shipment to `target` (setting `values` too) if it is still in one of the
    `expected` states; None if it no longer is.

    The state test is part of the UPDATE, so of two concurrent moves from the same state only
    one matches a row: the loser sees None and answers 409 instead of overwriting the winner."""
    row = (
        (
            await conn.execute(
                update(shipments)
                .where(shipments.c.id == shipment_id, shipments.c.status.in_([s.value for s in expected]))
                .values(status=target.value, updated_at=now, **values)
                .returning(*shipments.c)
            )
        )
        .mappings()
        .first()
    )
    return ShipmentRecord.from_row(row) if row else None


def _active_freeze_clause(shipment_id: ColumnElement[str] | str) -> ColumnElement[bool]:
    return and_(acs_shipment_freezes.c.shipment_id == shipment_id, acs_shipment_freezes.c.lifted_at.is_(None))


def frozen_expr(now: datetime) -> ColumnElement[bool]:
    """True for a shipment row that is frozen (an active freeze or an active shipment block),
    usable inside queries on `shipments`."""
    return or_(
        select(acs_shipment_freezes.c.id).where(_active_freeze_clause(shipments.c.id)).exists(),
        select(acs_blocks.c.id).where(active_block_clause(("shipment",), shipments.c.id, now)).exists(),
    )


async def freeze_reason(conn: AsyncConnection, shipment_id: str, now: datetime) -> str | None:
    """Why the shipment is frozen (the oldest active freeze or shipment block), or None."""
    freeze = (
        await conn.execute(
            select(acs_shipment_freezes.c.reason, acs_shipment_freezes.c.created_at).where(
                _active_freeze_clause(shipment_id)
            )
        )
    ).all()
    block = (
        await conn.execute(
            select(acs_blocks.c.reason, acs_blocks.c.created_at).where(
                active_block_clause(("shipment",), shipment_id, now)
            )
        )
    ).all()
    reasons = sorted([*freeze, *block], key=lambda r: r.created_at)
    return str(reasons[0].reason) if reasons else None
