"""All SQL for shipments and their delivery OTP. Every read a user makes goes through
`readable(actor)`: outside it the caller gets 404."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.enforcement import active_block_clause, person_blocked, person_suspended
from rodistaa.acs.tables import acs_blocks, acs_shipment_freezes
from rodistaa.bookings.repo import Place, place_from_row
from rodistaa.core.actor import Actor
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role, UserStatus
from rodistaa.db.metadata import UTCDateTime
from rodistaa.db.tables import users
from rodistaa.drivers.tables import drivers
from rodistaa.shipments.status import ShipmentStatus
from rodistaa.shipments.tables import DRIVER_BUSY_STATUSES, delivery_otps, shipments


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
            pickup=place_from_row(row, "pickup"),
            drop=place_from_row(row, "drop"),
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
    refuse_frozen_at: datetime | None = None,
    **values: Any,
) -> ShipmentRecord | None:
    """Move the shipment to `target` (setting `values` too) if it is still in one of the
    `expected` states; None if it no longer is.

    The state test is part of the UPDATE, so of two concurrent moves from the same state only
    one matches a row: the loser sees None and answers 409 instead of overwriting the winner.
    With `refuse_frozen_at` the UPDATE also matches no row while a freeze or shipment block is
    active at that time: a freeze committed after the caller's own check still stops the move
    (a freeze is a row of its own, so the shipment's row lock does not keep it out)."""
    conditions = [shipments.c.id == shipment_id, shipments.c.status.in_([s.value for s in expected])]
    if refuse_frozen_at is not None:
        conditions.append(~frozen_expr(refuse_frozen_at))
    row = (
        (
            await conn.execute(
                update(shipments)
                .where(*conditions)
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


class HoldKind(StrEnum):
    FREEZE = "freeze"  # acs_shipment_freezes: ACS's (rule_id set) or an admin's (rule_id NULL)
    BLOCK = "block"  # acs_blocks of entity type shipment (e.g. RF04's OTP_BRUTE_FORCE)


@dataclass(frozen=True)
class Hold:
    """One active freeze or shipment block: what makes a shipment FROZEN."""

    id: str
    shipment_id: str
    kind: HoldKind
    reason: str
    rule_id: str | None
    created_at: datetime

    @property
    def by_admin_freeze(self) -> bool:
        """An admin's freeze: the only hold an admin's unfreeze lifts (ACS's need an override)."""
        return self.kind is HoldKind.FREEZE and self.rule_id is None


@functools.cache
def _active_holds_query() -> CompoundSelect[Any]:
    """Built once (it runs on every ping and every shipment read) and executed with bound values."""
    ids: BindParameter[list[str]] = bindparam("ids", expanding=True)
    freezes = select(
        acs_shipment_freezes.c.id,
        acs_shipment_freezes.c.shipment_id,
        literal(HoldKind.FREEZE.value).label("kind"),
        acs_shipment_freezes.c.reason,
        acs_shipment_freezes.c.rule_id,
        acs_shipment_freezes.c.created_at,
    ).where(acs_shipment_freezes.c.shipment_id.in_(ids), acs_shipment_freezes.c.lifted_at.is_(None))
    now = bindparam("now", type_=UTCDateTime())
    blocks = select(
        acs_blocks.c.id,
        acs_blocks.c.entity_id,
        literal(HoldKind.BLOCK.value).label("kind"),
        acs_blocks.c.reason,
        acs_blocks.c.rule_id,
        acs_blocks.c.created_at,
    ).where(acs_blocks.c.entity_id.in_(ids), active_block_clause(("shipment",), acs_blocks.c.entity_id, now))
    return union_all(freezes, blocks)


async def active_holds(conn: AsyncConnection, shipment_ids: Collection[str], now: datetime) -> list[Hold]:
    """The active freezes and shipment blocks of `shipment_ids` in one query, oldest first (a
    freeze before a block of the same instant). The one source of every "is it frozen, and
    why" answer: the API status, the move checks, unfreeze and the OTP re-issue."""
    if not shipment_ids:
        return []
    rows = (await conn.execute(_active_holds_query(), {"ids": list(shipment_ids), "now": now})).all()
    holds = [Hold(r[0], r[1], HoldKind(r[2]), str(r[3]), r[4], r[5]) for r in rows]
    return sorted(holds, key=lambda h: (h.created_at, h.kind is not HoldKind.FREEZE, h.id))


async def freeze_reason(conn: AsyncConnection, shipment_id: str, now: datetime) -> str | None:
    """Why the shipment is frozen (the oldest active freeze or shipment block), or None."""
    holds = await active_holds(conn, [shipment_id], now)
    return holds[0].reason if holds else None


# --- used by the shipment use cases (assign, start, breakdown, admin) ---------------------------


class DriverAlreadyBusy(Exception):
    """`uq_shipments_busy_driver` refused the update: the driver has another active shipment."""


_BUSY_DRIVER_MARKERS = ("uq_shipments_busy_driver", "shipments.driver_id")


async def claim_crew(
    conn: AsyncConnection,
    shipment_id: str,
    *,
    expected: Iterable[ShipmentStatus],
    target: ShipmentStatus,
    now: datetime,
    refuse_frozen_at: datetime | None = None,
    **values: Any,
) -> ShipmentRecord | None:
    """`claim_status` for a move that puts a driver on the shipment. The busy-driver index is
    the guarantee of one active shipment per driver (a read before the update cannot stop two
    concurrent assignments); a savepoint keeps the caller's transaction usable after it refuses
    (PostgreSQL names the index, SQLite the column)."""
    try:
        async with conn.begin_nested():
            return await claim_status(
                conn,
                shipment_id,
                expected=expected,
                target=target,
                now=now,
                refuse_frozen_at=refuse_frozen_at,
                **values,
            )
    except IntegrityError as exc:
        if any(marker in str(exc.orig) for marker in _BUSY_DRIVER_MARKERS):
            raise DriverAlreadyBusy() from exc
        raise


def first_start(now: datetime) -> ColumnElement[datetime]:
    """`started_at` for a start: a restart after a breakdown keeps the first start time."""
    return func.coalesce(shipments.c.started_at, now)


@dataclass(frozen=True)
class DriverFacts:
    """A fleet driver as assignment judges it. `status` is the account's effective status: an
    active ACS or admin block shows as BLOCKED, a running suspension as SUSPENDED."""

    user_id: str
    operator_id: str
    status: str
    active_shipment_id: str | None


async def get_driver_facts(conn: AsyncConnection, driver_id: str, now: datetime) -> DriverFacts | None:
    """None when `driver_id` is no fleet driver at all."""
    effective = case(
        (person_blocked(users.c.id, now), literal(UserStatus.BLOCKED.value)),
        (person_suspended(users.c.id, now), literal(UserStatus.SUSPENDED.value)),
        else_=users.c.status,
    )
    active = (
        select(shipments.c.id)
        .where(shipments.c.driver_id == drivers.c.user_id, shipments.c.status.in_(DRIVER_BUSY_STATUSES))
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(drivers.c.user_id, drivers.c.operator_id, effective.label("status"), active.label("active"))
        .join(users, users.c.id == drivers.c.user_id)
        .where(drivers.c.user_id == driver_id)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return DriverFacts(row.user_id, row.operator_id, str(row.status), row.active)


async def lift_shipment_blocks(
    conn: AsyncConnection, shipment_id: str, *, reason: str, lifted_by: str, now: datetime
) -> int:
    """Lift the active blocks of the shipment given for `reason`; how many were lifted."""
    result = await conn.execute(
        update(acs_blocks)
        .where(active_block_clause(("shipment",), shipment_id, now), acs_blocks.c.reason == reason)
        .values(lifted_at=now, lifted_by=lifted_by)
    )
    return int(result.rowcount)


async def insert_freeze(conn: AsyncConnection, shipment_id: str, *, reason: str, now: datetime) -> str:
    """An admin's freeze: no rule and no ACS event behind it."""
    freeze_id = new_id("FRZ")
    await conn.execute(
        acs_shipment_freezes.insert().values(
            id=freeze_id, shipment_id=shipment_id, reason=reason, rule_id=None, event_id=None, created_at=now
        )
    )
    return freeze_id


async def lift_admin_freezes(
    conn: AsyncConnection, shipment_id: str, *, lifted_by: str, now: datetime
) -> int:
    """Lift the shipment's active admin freezes (no rule behind them); ACS's freezes and blocks
    are left alone (lifting those is an override approved by another admin, PRODUCT §8)."""
    result = await conn.execute(
        update(acs_shipment_freezes)
        .where(_active_freeze_clause(shipment_id), acs_shipment_freezes.c.rule_id.is_(None))
        .values(lifted_at=now, lifted_by=lifted_by)
    )
    return int(result.rowcount)


async def otp_issued(conn: AsyncConnection, shipment_ids: list[str]) -> set[str]:
    """The shipments among `shipment_ids` that have a delivery OTP row."""
    if not shipment_ids:
        return set()
    query = select(delivery_otps.c.shipment_id).where(delivery_otps.c.shipment_id.in_(shipment_ids))
    return set((await conn.execute(query)).scalars())
