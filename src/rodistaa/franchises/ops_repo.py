"""All SQL of franchise operations: per-unit counts for the dashboard and reports, and targets.

Every count takes the list of unit ids the caller may see and returns a map keyed by unit id
(units with nothing to count are absent), so the service can show a district its units one by
one and sum them for its totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.bids.tables import bids
from rodistaa.bookings.tables import bookings
from rodistaa.dashboard.periods import Window
from rodistaa.fleet.repo import effective_status_expr
from rodistaa.fleet.tables import trucks
from rodistaa.franchises.repo import METRES_PER_DEGREE_LAT_FLOOR, FranchiseRecord
from rodistaa.franchises.tables import franchise_targets, franchises
from rodistaa.inspections.tables import inspections

PENDING = "PENDING"
PASSED = "PASSED"
FAILED = "FAILED"
# Trucks waiting for a unit to inspect them: never inspected, or due again.
AWAITING_INSPECTION = ("PENDING_INSPECTION", "NEEDS_INSPECTION")


@dataclass(frozen=True)
class Completed:
    """Inspections a unit finished (ACS-refused submissions are REJECTED and not counted)."""

    passed: int = 0
    failed: int = 0

    @property
    def done(self) -> int:
        return self.passed + self.failed


@dataclass(frozen=True)
class TargetRecord:
    id: str
    unit_id: str
    period: str
    target_type: str
    target: int
    set_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> TargetRecord:
        return cls(
            id=row["id"],
            unit_id=row["unit_id"],
            period=row["period"],
            target_type=row["target_type"],
            target=row["target"],
            set_by=row["set_by"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class PickupPoint:
    """Where a booking is picked up, and the bidding fee paid on it (0 for a booking row)."""

    lat: float
    lng: float
    fee_paise: int = 0


# --- inspections and trucks --------------------------------------------------------------------


async def open_inspections(conn: AsyncConnection, unit_ids: Sequence[str]) -> dict[str, int]:
    """Inspections opened and not yet submitted, per unit."""
    query = (
        select(inspections.c.unit_franchise_id, func.count())
        .where(inspections.c.unit_franchise_id.in_(unit_ids), inspections.c.status == PENDING)
        .group_by(inspections.c.unit_franchise_id)
    )
    return {unit: int(n) for unit, n in (await conn.execute(query)).all()}


async def completed_inspections(
    conn: AsyncConnection, unit_ids: Sequence[str], window: Window
) -> dict[str, Completed]:
    """PASSED and FAILED inspections submitted inside the window, per unit."""
    query = (
        select(inspections.c.unit_franchise_id, inspections.c.status, func.count())
        .where(
            inspections.c.unit_franchise_id.in_(unit_ids),
            inspections.c.status.in_((PASSED, FAILED)),
            inspections.c.submitted_at >= window.start,
            inspections.c.submitted_at < window.end,
        )
        .group_by(inspections.c.unit_franchise_id, inspections.c.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for unit, status, n in (await conn.execute(query)).all():
        counts.setdefault(unit, {})[status] = int(n)
    return {unit: Completed(c.get(PASSED, 0), c.get(FAILED, 0)) for unit, c in counts.items()}


async def trucks_by_status(
    conn: AsyncConnection, unit_ids: Sequence[str], *, now: datetime
) -> dict[str, dict[str, int]]:
    """Trucks whose franchise unit is one of `unit_ids`, per unit and effective status (a truck
    with an active block counts as BLOCKED, as the fleet API shows it)."""
    status = effective_status_expr(now).label("status")
    query = (
        select(trucks.c.franchise_unit_id, status, func.count())
        .where(trucks.c.franchise_unit_id.in_(unit_ids))
        .group_by(trucks.c.franchise_unit_id, status)
    )
    counts: dict[str, dict[str, int]] = {}
    for unit, truck_status, n in (await conn.execute(query)).all():
        counts.setdefault(unit, {})[truck_status] = int(n)
    return counts


async def trucks_onboarded(conn: AsyncConnection, unit_ids: Sequence[str], window: Window) -> dict[str, int]:
    """Trucks created inside the window with the unit as their franchise unit."""
    query = (
        select(trucks.c.franchise_unit_id, func.count())
        .where(
            trucks.c.franchise_unit_id.in_(unit_ids),
            trucks.c.created_at >= window.start,
            trucks.c.created_at < window.end,
        )
        .group_by(trucks.c.franchise_unit_id)
    )
    return {unit: int(n) for unit, n in (await conn.execute(query)).all()}


# --- bookings and fees by pickup point ---------------------------------------------------------


def _near_any_zone(units: Sequence[FranchiseRecord]) -> list[object]:
    """A latitude band per zone: a cheap prefilter (the exact zone test is done in Python)."""
    clauses: list[object] = []
    for unit in units:
        if unit.centre_lat is None or unit.radius_m is None:
            continue
        half_band = unit.radius_m / METRES_PER_DEGREE_LAT_FLOOR
        clauses.append(
            and_(
                bookings.c.pickup_lat >= unit.centre_lat - half_band,
                bookings.c.pickup_lat <= unit.centre_lat + half_band,
            )
        )
    return clauses


async def bookings_created_near(
    conn: AsyncConnection, units: Sequence[FranchiseRecord], window: Window
) -> list[PickupPoint]:
    """Pickup points of bookings created inside the window that may lie in one of the zones."""
    near = _near_any_zone(units)
    if not near:
        return []
    query = select(bookings.c.pickup_lat, bookings.c.pickup_lng).where(
        or_(*near),  # type: ignore[arg-type]
        bookings.c.created_at >= window.start,
        bookings.c.created_at < window.end,
    )
    return [PickupPoint(lat, lng) for lat, lng in (await conn.execute(query)).all()]


async def bid_fees_near(
    conn: AsyncConnection, units: Sequence[FranchiseRecord], window: Window
) -> list[PickupPoint]:
    """Bidding fees of bids placed inside the window on bookings that may lie in the zones."""
    near = _near_any_zone(units)
    if not near:
        return []
    query = (
        select(bookings.c.pickup_lat, bookings.c.pickup_lng, bids.c.fee_paise)
        .select_from(bids.join(bookings, bookings.c.id == bids.c.booking_id))
        .where(
            or_(*near),  # type: ignore[arg-type]
            bids.c.created_at >= window.start,
            bids.c.created_at < window.end,
            bids.c.fee_paise > 0,
        )
    )
    return [PickupPoint(lat, lng, int(fee)) for lat, lng, fee in (await conn.execute(query)).all()]


async def all_units(conn: AsyncConnection) -> list[FranchiseRecord]:
    """Every unit: a booking belongs to the unit whose zone holds its pickup, whichever
    district that unit is in (the tree has a few hundred units at most)."""
    query = select(franchises).where(franchises.c.kind == "UNIT")
    return [FranchiseRecord.from_row(r) for r in (await conn.execute(query)).mappings().all()]


# --- targets -----------------------------------------------------------------------------------


async def lock_unit(conn: AsyncConnection, unit_id: str) -> None:
    """Serialise target changes of one unit (PostgreSQL row lock on the unit; SQLite's write
    transactions are already serial), so the audited previous value is the one replaced."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(franchises.c.id).where(franchises.c.id == unit_id).with_for_update())


async def get_target(
    conn: AsyncConnection, unit_id: str, period: str, target_type: str
) -> TargetRecord | None:
    query = select(franchise_targets).where(
        franchise_targets.c.unit_id == unit_id,
        franchise_targets.c.period == period,
        franchise_targets.c.target_type == target_type,
    )
    row = (await conn.execute(query)).mappings().first()
    return TargetRecord.from_row(row) if row else None


async def upsert_target(conn: AsyncConnection, record: TargetRecord) -> TargetRecord:
    """Insert, or overwrite the target of the same (unit, period, type); returns the stored row."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(franchise_targets).values(
        id=record.id,
        unit_id=record.unit_id,
        period=record.period,
        target_type=record.target_type,
        target=record.target,
        set_by=record.set_by,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[
            franchise_targets.c.unit_id,
            franchise_targets.c.period,
            franchise_targets.c.target_type,
        ],
        set_={"target": record.target, "set_by": record.set_by, "updated_at": record.updated_at},
    )
    await conn.execute(statement)
    stored = await get_target(conn, record.unit_id, record.period, record.target_type)
    assert stored is not None  # just written in this transaction
    return stored


async def targets_of(conn: AsyncConnection, unit_ids: Sequence[str], period: str) -> list[TargetRecord]:
    query = (
        select(franchise_targets)
        .where(franchise_targets.c.unit_id.in_(unit_ids), franchise_targets.c.period == period)
        .order_by(franchise_targets.c.unit_id, franchise_targets.c.target_type)
    )
    return [TargetRecord.from_row(r) for r in (await conn.execute(query)).mappings().all()]
