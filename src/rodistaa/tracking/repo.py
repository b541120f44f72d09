"""All SQL for tracking: GPS pings, the latest position of each shipment, silence alerts.

Who may read a track or an alert is the shipment's visibility (`shipments.repo.readable`): the
queries here join the shipment and take the caller's clause."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.core.ids import new_id
from rodistaa.db.metadata import UTCDateTime
from rodistaa.shipments.status import ShipmentStatus
from rodistaa.shipments.tables import shipments
from rodistaa.tracking.tables import gps_pings, shipment_positions, tracking_alerts


class _FromRow:
    """The records below are built from a row's columns of the same names (one copy of that
    mapping for the three of them)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @classmethod
    def from_row(cls, row: RowMapping) -> Self:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class PingDraft:
    """A fix as received, before it is stored."""

    lat: float
    lng: float
    speed_kmh: float | None
    heading: float | None
    accuracy_m: float | None
    mock_location: bool
    recorded_at: datetime


@dataclass(frozen=True)
class PingRecord(_FromRow):
    id: str
    shipment_id: str
    driver_id: str
    lat: float
    lng: float
    speed_kmh: float | None
    heading: float | None
    accuracy_m: float | None
    mock_location: bool
    recorded_at: datetime
    received_at: datetime


@dataclass(frozen=True)
class PositionRecord(_FromRow):
    shipment_id: str
    lat: float
    lng: float
    speed_kmh: float | None
    heading: float | None
    recorded_at: datetime
    received_at: datetime


@dataclass(frozen=True)
class AlertRecord(_FromRow):
    id: str
    shipment_id: str
    kind: str
    severity: str
    silent_since: datetime
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


def _insert(conn: AsyncConnection):  # type: ignore[no-untyped-def]
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


# --- pings -------------------------------------------------------------------------------------


async def insert_pings(
    conn: AsyncConnection, shipment_id: str, driver_id: str, drafts: Sequence[PingDraft], *, now: datetime
) -> list[PingRecord]:
    """Store the fixes; the ones whose time is already stored for the shipment are skipped by
    the unique (shipment_id, recorded_at) index, so a resent batch never doubles the track, even
    when two copies race. Returns the fixes actually stored, in time order."""
    if not drafts:
        return []
    rows = [
        {
            "id": new_id("GPS"),
            "shipment_id": shipment_id,
            "driver_id": driver_id,
            "lat": d.lat,
            "lng": d.lng,
            "speed_kmh": d.speed_kmh,
            "heading": d.heading,
            "accuracy_m": d.accuracy_m,
            "mock_location": d.mock_location,
            "recorded_at": d.recorded_at,
            "received_at": now,
        }
        for d in drafts
    ]
    # Executed with the rows as parameters, not `.values(rows)`: the statement then compiles
    # once and is cached, and SQLAlchemy still sends one multi-row INSERT (docs/performance.md).
    statement = (
        _insert(conn)(gps_pings)
        .on_conflict_do_nothing(index_elements=["shipment_id", "recorded_at"])
        .returning(*gps_pings.c)
    )
    stored = [PingRecord.from_row(r) for r in (await conn.execute(statement, rows)).mappings()]
    return sorted(stored, key=lambda p: p.recorded_at)


async def pings_at(
    conn: AsyncConnection, shipment_id: str, times: Iterable[datetime]
) -> dict[datetime, PingRecord]:
    """The shipment's stored fix at each of `times` that has one."""
    wanted = list(times)
    if not wanted:
        return {}
    rows = (
        await conn.execute(
            select(gps_pings).where(
                gps_pings.c.shipment_id == shipment_id, gps_pings.c.recorded_at.in_(wanted)
            )
        )
    ).mappings()
    return {ping.recorded_at: ping for ping in map(PingRecord.from_row, rows)}


async def track_around(
    conn: AsyncConnection, shipment_id: str, *, first: datetime, last: datetime, lookback: int
) -> list[PingRecord]:
    """The `lookback` fixes before `first` and every fix from `first` to `last`, in time order:
    what the deltas and the spoof heuristic of new fixes in [first, last] are computed from."""
    before = (
        await conn.execute(
            select(gps_pings)
            .where(gps_pings.c.shipment_id == shipment_id, gps_pings.c.recorded_at < first)
            .order_by(gps_pings.c.recorded_at.desc())
            .limit(lookback)
        )
    ).mappings()
    within = (
        await conn.execute(
            select(gps_pings)
            .where(
                gps_pings.c.shipment_id == shipment_id,
                gps_pings.c.recorded_at >= first,
                gps_pings.c.recorded_at <= last,
            )
            .order_by(gps_pings.c.recorded_at)
        )
    ).mappings()
    return [*reversed([PingRecord.from_row(r) for r in before]), *(PingRecord.from_row(r) for r in within)]


async def list_pings(
    conn: AsyncConnection, shipment_id: str, *, since: datetime | None, limit: int
) -> list[PingRecord]:
    """Oldest first; `since` is exclusive, so a client polls with the last timestamp it has."""
    query = select(gps_pings).where(gps_pings.c.shipment_id == shipment_id)
    if since is not None:
        query = query.where(gps_pings.c.recorded_at > since)
    rows = (await conn.execute(query.order_by(gps_pings.c.recorded_at).limit(limit))).mappings()
    return [PingRecord.from_row(r) for r in rows]


# --- latest position ---------------------------------------------------------------------------


async def upsert_position(conn: AsyncConnection, ping: PingRecord) -> None:
    """Make `ping` the shipment's position unless a later fix is already there: a late batch
    (fixes older than the stored position) fills in the track but does not move the truck back."""
    values = {
        "shipment_id": ping.shipment_id,
        "lat": ping.lat,
        "lng": ping.lng,
        "speed_kmh": ping.speed_kmh,
        "heading": ping.heading,
        "recorded_at": ping.recorded_at,
        "received_at": ping.received_at,
    }
    await conn.execute(_upsert_position_statement(conn.dialect.name), values)


@functools.cache
def _upsert_position_statement(dialect_name: str) -> Any:
    """Built once per dialect and executed with the row as parameters: it runs on every ping."""
    statement = (pg_insert if dialect_name == "postgresql" else sqlite_insert)(shipment_positions)
    moved = [c.name for c in shipment_positions.c if c.name != "shipment_id"]
    return statement.on_conflict_do_update(
        index_elements=["shipment_id"],
        set_={name: statement.excluded[name] for name in moved},
        where=shipment_positions.c.recorded_at < statement.excluded.recorded_at,
    )


async def get_position(conn: AsyncConnection, shipment_id: str) -> PositionRecord | None:
    row = (
        (
            await conn.execute(
                select(shipment_positions).where(shipment_positions.c.shipment_id == shipment_id)
            )
        )
        .mappings()
        .first()
    )
    return PositionRecord.from_row(row) if row else None


# --- silence alerts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SilentShipment:
    shipment_id: str
    shipper_id: str
    operator_id: str
    silent_since: datetime


def _last_heard() -> ColumnElement[datetime]:
    # The last fix, or the start of the trip when there is none yet (updated_at only for a
    # shipment stored en route without a start time, which the state machine never produces).
    return func.coalesce(
        shipment_positions.c.recorded_at, shipments.c.started_at, shipments.c.updated_at, type_=UTCDateTime()
    )


async def silent_shipments(
    conn: AsyncConnection,
    *,
    statuses: Iterable[ShipmentStatus],
    silent_before: datetime,
    after_id: str,
    limit: int,
    only: str | None = None,
) -> list[SilentShipment]:
    """Shipments in `statuses` last heard of at or before `silent_before`, by id after
    `after_id` (`only`: just that shipment, if it qualifies)."""
    last_heard = _last_heard().label("silent_since")
    conditions = [
        shipments.c.status.in_([s.value for s in statuses]),
        _last_heard() <= silent_before,
        shipments.c.id > after_id,
    ]
    if only is not None:
        conditions.append(shipments.c.id == only)
    rows = (
        await conn.execute(
            select(shipments.c.id, shipments.c.shipper_id, shipments.c.operator_id, last_heard)
            .select_from(
                shipments.outerjoin(shipment_positions, shipment_positions.c.shipment_id == shipments.c.id)
            )
            .where(*conditions)
            .order_by(shipments.c.id)
            .limit(limit)
        )
    ).all()
    return [SilentShipment(r.id, r.shipper_id, r.operator_id, r.silent_since) for r in rows]


async def lock_alerts_of(conn: AsyncConnection, shipment_id: str) -> None:
    """Two concurrent job runs must not both find no recent alert and both raise one:
    PostgreSQL serialises them per shipment with a transaction-scoped advisory lock; SQLite's
    write transaction (BEGIN IMMEDIATE) already does."""
    if conn.dialect.name == "postgresql":
        key = func.hashtext(f"rodistaa:tracking:no-ping:{shipment_id}")
        await conn.execute(select(func.pg_advisory_xact_lock(key)))


async def recent_alert_exists(conn: AsyncConnection, shipment_id: str, kind: str, *, since: datetime) -> bool:
    """Whether an alert of `kind` is still fresh: unacknowledged and raised after `since`, or
    acknowledged after `since`."""
    query = select(func.count()).where(
        tracking_alerts.c.shipment_id == shipment_id,
        tracking_alerts.c.kind == kind,
        or_(
            and_(tracking_alerts.c.acknowledged_at.is_(None), tracking_alerts.c.created_at > since),
            tracking_alerts.c.acknowledged_at > since,
        ),
    )
    return bool((await conn.execute(query)).scalar_one())


async def episode_has_severity(
    conn: AsyncConnection, shipment_id: str, kind: str, *, silent_since: datetime, severity: str
) -> bool:
    """Whether an alert of `kind` and `severity` was raised for this silence (same start)."""
    query = select(func.count()).where(
        tracking_alerts.c.shipment_id == shipment_id,
        tracking_alerts.c.kind == kind,
        tracking_alerts.c.severity == severity,
        tracking_alerts.c.silent_since == silent_since,
    )
    return bool((await conn.execute(query)).scalar_one())


async def insert_alert(
    conn: AsyncConnection,
    shipment_id: str,
    *,
    kind: str,
    severity: str,
    silent_since: datetime,
    now: datetime,
) -> AlertRecord:
    values: dict[str, Any] = {
        "id": new_id("TAL"),
        "shipment_id": shipment_id,
        "kind": kind,
        "severity": severity,
        "silent_since": silent_since,
        "created_at": now,
        "acknowledged_at": None,
        "acknowledged_by": None,
    }
    await conn.execute(tracking_alerts.insert().values(values))
    return AlertRecord(**values)


async def list_alerts(
    conn: AsyncConnection,
    *,
    visible: ColumnElement[bool],
    unacknowledged: bool,
    shipment_id: str | None,
    offset: int,
    limit: int,
) -> tuple[list[AlertRecord], int]:
    """Newest first, only alerts of shipments `visible` to the caller."""
    conditions: list[ColumnElement[bool]] = [visible]
    if unacknowledged:
        conditions.append(tracking_alerts.c.acknowledged_at.is_(None))
    if shipment_id is not None:
        conditions.append(tracking_alerts.c.shipment_id == shipment_id)
    joined = tracking_alerts.join(shipments, shipments.c.id == tracking_alerts.c.shipment_id)
    total = (await conn.execute(select(func.count()).select_from(joined).where(*conditions))).scalar_one()
    rows = (
        await conn.execute(
            select(tracking_alerts)
            .select_from(joined)
            .where(*conditions)
            .order_by(tracking_alerts.c.created_at.desc(), tracking_alerts.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).mappings()
    return [AlertRecord.from_row(r) for r in rows], int(total)


async def get_alert(
    conn: AsyncConnection, alert_id: str, *, visible: ColumnElement[bool]
) -> AlertRecord | None:
    row = (
        (
            await conn.execute(
                select(tracking_alerts)
                .select_from(tracking_alerts.join(shipments, shipments.c.id == tracking_alerts.c.shipment_id))
                .where(tracking_alerts.c.id == alert_id, visible)
            )
        )
        .mappings()
        .first()
    )
    return AlertRecord.from_row(row) if row else None


async def claim_acknowledgement(
    conn: AsyncConnection, alert_id: str, *, acknowledged_by: str, now: datetime
) -> AlertRecord | None:
    """Acknowledge the alert if nobody has yet; None if somebody has. The test is part of the
    UPDATE, so of two concurrent acknowledgements exactly one succeeds."""
    row = (
        (
            await conn.execute(
                update(tracking_alerts)
                .where(tracking_alerts.c.id == alert_id, tracking_alerts.c.acknowledged_at.is_(None))
                .values(acknowledged_at=now, acknowledged_by=acknowledged_by)
                .returning(*tracking_alerts.c)
            )
        )
        .mappings()
        .first()
    )
    return AlertRecord.from_row(row) if row else None
