"""All SQL for inspections, their photos, and the inspection's effect on the truck.

Every read of an inspection goes through `readable(actor)`: outside it the caller gets 404.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, false, func, select, true, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.db.tables import users
from rodistaa.fleet import repo as fleet_repo
from rodistaa.fleet.repo import TruckRecord
from rodistaa.fleet.tables import trucks
from rodistaa.franchises.tables import franchises
from rodistaa.inspections.tables import inspection_photos, inspections

PENDING = "PENDING"


@dataclass(frozen=True)
class PhotoRecord:
    id: str
    inspection_id: str
    storage_key: str
    content_type: str
    size_bytes: int
    sha256: str
    taken_lat: float | None
    taken_lng: float | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> PhotoRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class InspectionRecord:
    id: str
    truck_id: str
    unit_franchise_id: str
    inspector_id: str
    status: str
    geo_lat: float | None
    geo_lng: float | None
    geo_accuracy_m: float | None
    checklist: dict[str, bool] | None
    notes: str | None
    rejection_code: str | None
    created_at: datetime
    submitted_at: datetime | None
    photos: tuple[PhotoRecord, ...] = ()

    @classmethod
    def from_row(cls, row: RowMapping, photos: Iterable[PhotoRecord] = ()) -> InspectionRecord:
        checklist = json.loads(row["checklist"]) or None  # "{}" until the inspector fills it in
        return cls(
            id=row["id"],
            truck_id=row["truck_id"],
            unit_franchise_id=row["unit_franchise_id"],
            inspector_id=row["inspector_id"],
            status=row["status"],
            geo_lat=row["geo_lat"],
            geo_lng=row["geo_lng"],
            geo_accuracy_m=row["geo_accuracy_m"],
            checklist=checklist,
            notes=row["notes"],
            rejection_code=row["rejection_code"],
            created_at=row["created_at"],
            submitted_at=row["submitted_at"],
            photos=tuple(photos),
        )


@dataclass(frozen=True)
class UnitRecord:
    id: str
    centre_lat: float | None
    centre_lng: float | None
    radius_m: int | None


@dataclass(frozen=True)
class Geo:
    lat: float
    lng: float
    accuracy: float | None


# --- visibility --------------------------------------------------------------------------------


def _staff_franchise(user_id: str) -> ScalarSelect[Any]:
    return select(users.c.franchise_id).where(users.c.id == user_id).scalar_subquery()


def readable(actor: Actor) -> ColumnElement[bool]:
    """Who sees an inspection: admins all; unit staff their unit's; district staff those of the
    units below their district; an operator those of its own trucks. Nobody else."""
    if actor.role is Role.ADMIN:
        return true()
    if actor.role is Role.FRANCHISE_UNIT:
        return inspections.c.unit_franchise_id == _staff_franchise(actor.user_id)
    if actor.role is Role.FRANCHISE_DISTRICT:
        units = select(franchises.c.id).where(
            franchises.c.kind == "UNIT", franchises.c.parent_id == _staff_franchise(actor.user_id)
        )
        return inspections.c.unit_franchise_id.in_(units)
    if actor.role is Role.OPERATOR:
        own_trucks = select(trucks.c.id).where(trucks.c.operator_id == actor.user_id)
        return inspections.c.truck_id.in_(own_trucks)
    return false()


async def _photos_of(conn: AsyncConnection, inspection_ids: Sequence[str]) -> dict[str, list[PhotoRecord]]:
    by_inspection: dict[str, list[PhotoRecord]] = {i: [] for i in inspection_ids}
    if not inspection_ids:
        return by_inspection
    rows = (
        await conn.execute(
            select(inspection_photos)
            .where(inspection_photos.c.inspection_id.in_(inspection_ids))
            .order_by(inspection_photos.c.created_at, inspection_photos.c.id)
        )
    ).mappings()
    for row in rows:
        by_inspection[row["inspection_id"]].append(PhotoRecord.from_row(row))
    return by_inspection


async def get_visible(conn: AsyncConnection, actor: Actor, inspection_id: str) -> InspectionRecord | None:
    query = select(inspections).where(inspections.c.id == inspection_id, readable(actor))
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    photos = await _photos_of(conn, [inspection_id])
    return InspectionRecord.from_row(row, photos[inspection_id])


async def get_by_id(conn: AsyncConnection, inspection_id: str) -> InspectionRecord:
    row = (await conn.execute(select(inspections).where(inspections.c.id == inspection_id))).mappings().one()
    photos = await _photos_of(conn, [inspection_id])
    return InspectionRecord.from_row(row, photos[inspection_id])


async def list_visible(
    conn: AsyncConnection,
    actor: Actor,
    *,
    truck_id: str | None,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[list[InspectionRecord], int]:
    conditions = [readable(actor)]
    if truck_id is not None:
        conditions.append(inspections.c.truck_id == truck_id)
    if status is not None:
        conditions.append(inspections.c.status == status)
    query = (
        select(inspections)
        .where(*conditions)
        .order_by(inspections.c.created_at.desc(), inspections.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = (await conn.execute(query)).mappings().all()
    total = (
        await conn.execute(select(func.count()).select_from(inspections).where(*conditions))
    ).scalar_one()
    photos = await _photos_of(conn, [r["id"] for r in rows])
    return [InspectionRecord.from_row(r, photos[r["id"]]) for r in rows], total


# --- inspections and photos --------------------------------------------------------------------


async def get_truck_in_staff_unit(
    conn: AsyncConnection, truck_id: str, staff_user_id: str, *, now: datetime
) -> TruckRecord | None:
    """The truck, if it belongs to the unit of this staff member (the truck's zone)."""
    visible = trucks.c.franchise_unit_id == _staff_franchise(staff_user_id)
    return await fleet_repo.get_truck(conn, truck_id, now=now, visible=visible)


async def insert_inspection(
    conn: AsyncConnection,
    *,
    inspection_id: str,
    truck_id: str,
    unit_franchise_id: str,
    inspector_id: str,
    geo: Geo | None,
    checklist: Mapping[str, bool] | None,
    notes: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        inspections.insert().values(
            id=inspection_id,
            truck_id=truck_id,
            unit_franchise_id=unit_franchise_id,
            inspector_id=inspector_id,
            status=PENDING,
            **_geo_values(geo),
            checklist=_checklist_text(checklist),
            notes=notes,
            created_at=now,
        )
    )


def _geo_values(geo: Geo | None) -> dict[str, float | None]:
    if geo is None:
        return {"geo_lat": None, "geo_lng": None, "geo_accuracy_m": None}
    return {"geo_lat": geo.lat, "geo_lng": geo.lng, "geo_accuracy_m": geo.accuracy}


def _checklist_text(checklist: Mapping[str, bool] | None) -> str:
    return json.dumps(dict(checklist or {}), sort_keys=True)


def _locked(conn: AsyncConnection, query: Select[Any]) -> Select[Any]:
    # SQLite's write transactions (BEGIN IMMEDIATE) already exclude every other writer.
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


async def lock_if_pending(conn: AsyncConnection, inspection_id: str) -> bool:
    """Lock a PENDING inspection until the transaction ends; False if it is not pending.

    Adding photos takes this lock and submitting claims the same row, so a photo is either in
    the set ACS evaluated or refused: it can never slip onto an inspection already decided."""
    query = select(inspections.c.id).where(inspections.c.id == inspection_id, inspections.c.status == PENDING)
    return (await conn.execute(_locked(conn, query))).first() is not None


async def insert_photos(conn: AsyncConnection, photos: Sequence[PhotoRecord]) -> None:
    await conn.execute(
        inspection_photos.insert(),
        [{name: getattr(p, name) for name in PhotoRecord.__dataclass_fields__} for p in photos],
    )


async def photo_ids(conn: AsyncConnection, inspection_id: str) -> set[str]:
    query = select(inspection_photos.c.id).where(inspection_photos.c.inspection_id == inspection_id)
    return set((await conn.execute(query)).scalars())


async def photo_hashes_on_other_trucks(
    conn: AsyncConnection, hashes: Iterable[str], truck_id: str
) -> dict[str, dict[str, str]]:
    """`{hash: {truckId, inspectionId}}` for the given hashes already used on another truck, in
    any inspection (a rejected one too: the photo was still offered as evidence for that truck).
    The earliest use wins. One query."""
    wanted = sorted(set(hashes))
    if not wanted:
        return {}
    query = (
        select(inspection_photos.c.sha256, inspections.c.truck_id, inspections.c.id)
        .join(inspections, inspections.c.id == inspection_photos.c.inspection_id)
        .where(inspection_photos.c.sha256.in_(wanted), inspections.c.truck_id != truck_id)
        .order_by(inspection_photos.c.created_at, inspection_photos.c.id)
    )
    index: dict[str, dict[str, str]] = {}
    for sha256, other_truck_id, inspection_id in (await conn.execute(query)).all():
        index.setdefault(sha256, {"truckId": other_truck_id, "inspectionId": inspection_id})
    return index


async def close_pending(
    conn: AsyncConnection,
    inspection_id: str,
    *,
    status: str,
    rejection_code: str | None,
    geo: Geo | None,
    checklist: Mapping[str, bool] | None,
    now: datetime,
) -> bool:
    """Record the outcome of a PENDING inspection; `rowcount == 1` is the claim.

    Prevents a double submit: of two concurrent submissions only one finds it PENDING."""
    result = await conn.execute(
        update(inspections)
        .where(inspections.c.id == inspection_id, inspections.c.status == PENDING)
        .values(
            status=status,
            rejection_code=rejection_code,
            **_geo_values(geo),
            checklist=_checklist_text(checklist),
            submitted_at=now,
        )
    )
    return result.rowcount == 1


REOPENABLE = ("FAILED", "REJECTED")


async def status_if_latest(conn: AsyncConnection, inspection_id: str) -> tuple[str | None, bool]:
    """The inspection's status (None if it does not exist) and whether it is its truck's
    latest inspection (none was created after it)."""
    row = (
        await conn.execute(
            select(inspections.c.status, inspections.c.truck_id, inspections.c.created_at).where(
                inspections.c.id == inspection_id
            )
        )
    ).first()
    if row is None:
        return None, False
    newer = select(inspections.c.id).where(
        inspections.c.truck_id == row.truck_id,
        inspections.c.id != inspection_id,
        inspections.c.created_at > row.created_at,
    )
    return row.status, (await conn.execute(newer.limit(1))).first() is None


async def reopen(conn: AsyncConnection, inspection_id: str, *, from_status: str) -> bool:
    """`from_status` (FAILED or REJECTED) -> PENDING, clearing the submission's outcome
    (`rejection_code`, `submitted_at`); geotag, checklist and photos stay. Conditional: False
    when the inspection is no longer `from_status`."""
    if from_status not in REOPENABLE:
        raise ValueError(f"an inspection {from_status} is not reopened")
    result = await conn.execute(
        update(inspections)
        .where(inspections.c.id == inspection_id, inspections.c.status == from_status)
        .values(status=PENDING, rejection_code=None, submitted_at=None)
    )
    return result.rowcount == 1


# --- trucks and units --------------------------------------------------------------------------


async def get_truck(conn: AsyncConnection, truck_id: str, *, now: datetime) -> TruckRecord:
    """The inspected truck (an inspection always names an existing truck)."""
    truck = await fleet_repo.get_truck(conn, truck_id, now=now)
    if truck is None:
        raise LookupError(f"inspection names a missing truck {truck_id}")
    return truck


async def truck_operator(conn: AsyncConnection, truck_id: str) -> str:
    operator_id: str = (
        await conn.execute(select(trucks.c.operator_id).where(trucks.c.id == truck_id))
    ).scalar_one()
    return operator_id


async def get_unit(conn: AsyncConnection, unit_id: str) -> UnitRecord:
    row = (
        await conn.execute(
            select(
                franchises.c.id, franchises.c.centre_lat, franchises.c.centre_lng, franchises.c.radius_m
            ).where(franchises.c.id == unit_id)
        )
    ).one()
    return UnitRecord(row.id, row.centre_lat, row.centre_lng, row.radius_m)
