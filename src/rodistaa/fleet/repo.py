"""All SQL for trucks, truck documents and maintenance windows.

Truck reads carry `blocked` (an active ACS or admin block, computed in the same statement), so
callers see BLOCKED as soon as a block exists (`TruckRecord.effective_status`), and the status
filter of a list works on that effective status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.enforcement import active_block_clause
from rodistaa.db.tables import users
from rodistaa.fleet.status import TruckStatus, effective_status
from rodistaa.fleet.tables import maintenance_windows, truck_documents, trucks
from rodistaa.inspections.tables import inspections


@dataclass(frozen=True)
class TruckRecord:
    id: str
    operator_id: str
    registration_number: str
    vehicle_type: str
    body_type: str
    tyres: int
    capacity_tonnes: Decimal
    model_year: int
    emission: str
    permit_type: str
    chassis_ciphertext: str
    chassis_hash: str
    base_lat: float
    base_lng: float
    franchise_unit_id: str | None
    status: TruckStatus
    last_inspected_at: datetime | None
    created_at: datetime
    updated_at: datetime
    blocked: bool = False

    @property
    def effective_status(self) -> TruckStatus:
        return effective_status(self.status, blocked=self.blocked)

    @classmethod
    def from_row(cls, row: RowMapping) -> TruckRecord:
        values = {name: row[name] for name in _TRUCK_FIELDS}
        values["status"] = TruckStatus(row["status"])
        values["blocked"] = bool(row.get("blocked", False))
        return cls(**values)


_TRUCK_FIELDS = [c.name for c in trucks.columns]


@dataclass(frozen=True)
class DocumentRecord:
    id: str
    truck_id: str
    doc_type: str
    expiry_date: date
    storage_key: str
    content_type: str
    size_bytes: int
    file_sha256: str
    uploaded_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> DocumentRecord:
        return cls(**{name: row[name] for name in _DOCUMENT_FIELDS})


_DOCUMENT_FIELDS = [c.name for c in truck_documents.columns]


@dataclass(frozen=True)
class WindowRecord:
    id: str
    operator_id: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime


class RegistrationAlreadyTaken(Exception):
    """The unique index on trucks.registration_number refused the insert."""


# --- trucks ------------------------------------------------------------------------------------


def blocked_expr(now: datetime) -> ColumnElement[bool]:
    return exists().where(active_block_clause(("truck",), trucks.c.id, now))


def effective_status_expr(now: datetime) -> ColumnElement[str]:
    """The status as `status.effective_status` computes it, in SQL (for filters)."""
    return case(
        (and_(trucks.c.status != TruckStatus.INACTIVE.value, blocked_expr(now)), literal("BLOCKED")),
        else_=trucks.c.status,
    )


def _truck_select(now: datetime) -> Any:
    return select(trucks, blocked_expr(now).label("blocked"))


async def get_truck(
    conn: AsyncConnection,
    truck_id: str,
    *,
    now: datetime,
    visible: ColumnElement[bool] | None = None,
    for_update: bool = False,
) -> TruckRecord | None:
    """One truck, or None when it does not exist or `visible` excludes it. `for_update` locks
    the row on PostgreSQL (SQLite's write transaction already excludes other writers)."""
    query = _truck_select(now).where(trucks.c.id == truck_id)
    if visible is not None:
        query = query.where(visible)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=trucks)
    row = (await conn.execute(query)).mappings().first()
    return TruckRecord.from_row(row) if row else None


async def list_trucks(
    conn: AsyncConnection,
    *,
    visible: ColumnElement[bool],
    status: TruckStatus | None,
    now: datetime,
    offset: int,
    limit: int,
) -> tuple[list[TruckRecord], int]:
    conditions = [visible]
    if status is not None:
        conditions.append(effective_status_expr(now) == status.value)
    query = (
        _truck_select(now)
        .where(*conditions)
        .order_by(trucks.c.created_at.desc(), trucks.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = (await conn.execute(query)).mappings().all()
    total = (await conn.execute(select(func.count()).select_from(trucks).where(*conditions))).scalar_one()
    return [TruckRecord.from_row(r) for r in rows], total


async def lock_operator(conn: AsyncConnection, operator_id: str) -> None:
    """Serialise one operator's truck registrations: the limit of 10 is a count followed by an
    insert, which two concurrent requests would both pass without the lock (PostgreSQL; on
    SQLite the write transaction is already exclusive)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(users.c.id).where(users.c.id == operator_id).with_for_update())


async def count_counted_trucks(conn: AsyncConnection, operator_id: str) -> int:
    """Trucks that count towards the limit: every status but INACTIVE (PRODUCT §5)."""
    query = (
        select(func.count())
        .select_from(trucks)
        .where(trucks.c.operator_id == operator_id, trucks.c.status != TruckStatus.INACTIVE.value)
    )
    return int((await conn.execute(query)).scalar_one())


async def registration_exists(conn: AsyncConnection, registration: str) -> bool:
    query = select(trucks.c.id).where(trucks.c.registration_number == registration)
    return (await conn.execute(query)).first() is not None


async def insert_truck(conn: AsyncConnection, record: TruckRecord) -> None:
    values = {name: getattr(record, name) for name in _TRUCK_FIELDS}
    values["status"] = record.status.value
    try:
        # A savepoint keeps the surrounding transaction usable after a unique violation.
        async with conn.begin_nested():
            await conn.execute(trucks.insert().values(**values))
    except IntegrityError as exc:
        raise RegistrationAlreadyTaken() from exc


async def claim_status(
    conn: AsyncConnection,
    truck_id: str,
    *,
    expected: TruckStatus,
    new: TruckStatus,
    now: datetime,
    last_inspected_at: datetime | None = None,
) -> bool:
    """Move a truck from `expected` to `new`; False if its status changed meanwhile (the claim
    keeps a job and a concurrent upload or inspection from overwriting each other)."""
    values: dict[str, Any] = {"status": new.value, "updated_at": now}
    if last_inspected_at is not None:
        values["last_inspected_at"] = last_inspected_at
    result = await conn.execute(
        update(trucks).where(trucks.c.id == truck_id, trucks.c.status == expected.value).values(**values)
    )
    return result.rowcount == 1


async def trucks_in_statuses(
    conn: AsyncConnection,
    statuses: Sequence[TruckStatus],
    *,
    now: datetime,
    after_id: str,
    limit: int,
    inspected_before: datetime | None = None,
) -> list[TruckRecord]:
    """A keyset page of trucks (ordered by id) for the jobs."""
    query = _truck_select(now).where(trucks.c.status.in_([s.value for s in statuses]), trucks.c.id > after_id)
    if inspected_before is not None:
        query = query.where(trucks.c.last_inspected_at < inspected_before)
    rows = (await conn.execute(query.order_by(trucks.c.id).limit(limit))).mappings().all()
    return [TruckRecord.from_row(r) for r in rows]


async def failed_since(conn: AsyncConnection, truck_id: str, since: datetime | None) -> bool:
    """An inspection of the truck FAILED after `since` (after the last pass)."""
    query = select(inspections.c.id).where(
        inspections.c.truck_id == truck_id, inspections.c.status == "FAILED"
    )
    if since is not None:
        query = query.where(inspections.c.created_at > since)
    return (await conn.execute(query.limit(1))).first() is not None


# --- documents ---------------------------------------------------------------------------------


def _latest_documents_query(conditions: Sequence[ColumnElement[bool]]) -> Any:
    """The newest document of each type per truck (row_number over uploads, newest first)."""
    rank = (
        func.row_number()
        .over(
            partition_by=(truck_documents.c.truck_id, truck_documents.c.doc_type),
            order_by=(truck_documents.c.created_at.desc(), truck_documents.c.id.desc()),
        )
        .label("rank")
    )
    ranked = select(truck_documents, rank).where(*conditions).subquery()
    return select(*[ranked.c[name] for name in _DOCUMENT_FIELDS]).where(ranked.c.rank == 1)


async def latest_documents(
    conn: AsyncConnection, truck_ids: Sequence[str]
) -> dict[str, list[DocumentRecord]]:
    """`{truck id: [newest document of each type, ordered by type]}`."""
    if not truck_ids:
        return {}
    query = _latest_documents_query([truck_documents.c.truck_id.in_(list(truck_ids))])
    found: dict[str, list[DocumentRecord]] = {truck_id: [] for truck_id in truck_ids}
    for row in (await conn.execute(query)).mappings().all():
        found[row["truck_id"]].append(DocumentRecord.from_row(row))
    for docs in found.values():
        docs.sort(key=lambda d: d.doc_type)
    return found


async def latest_documents_expiring(
    conn: AsyncConnection, *, first_day: date, last_day: date, after_id: str, limit: int
) -> list[tuple[DocumentRecord, str]]:
    """(document, operator id) for the newest documents of trucks still in service that expire
    between `first_day` and `last_day` inclusive; a keyset page ordered by document id."""
    # Only trucks with some upload in the range can have a current document in it.
    in_range = select(truck_documents.c.truck_id).where(
        truck_documents.c.expiry_date >= first_day, truck_documents.c.expiry_date <= last_day
    )
    latest = _latest_documents_query([truck_documents.c.truck_id.in_(in_range)]).subquery()
    query = (
        select(latest, trucks.c.operator_id)
        .join(trucks, trucks.c.id == latest.c.truck_id)
        .where(
            trucks.c.status != TruckStatus.INACTIVE.value,
            latest.c.expiry_date >= first_day,
            latest.c.expiry_date <= last_day,
            latest.c.id > after_id,
        )
        .order_by(latest.c.id)
        .limit(limit)
    )
    rows = (await conn.execute(query)).mappings().all()
    return [(DocumentRecord.from_row(r), r["operator_id"]) for r in rows]


async def insert_document(conn: AsyncConnection, doc: DocumentRecord) -> None:
    await conn.execute(
        truck_documents.insert().values(**{name: getattr(doc, name) for name in _DOCUMENT_FIELDS})
    )


async def get_document(conn: AsyncConnection, truck_id: str, doc_id: str) -> DocumentRecord | None:
    query = select(truck_documents).where(
        truck_documents.c.id == doc_id, truck_documents.c.truck_id == truck_id
    )
    row = (await conn.execute(query)).mappings().first()
    return DocumentRecord.from_row(row) if row else None


# --- maintenance windows -----------------------------------------------------------------------


async def maintenance_window_active(conn: AsyncConnection, operator_id: str | None, at: datetime) -> bool:
    """A window covering `at` for this operator or for the whole platform (operator_id NULL)."""
    applies: ColumnElement[bool] = maintenance_windows.c.operator_id.is_(None)
    if operator_id is not None:
        applies = or_(applies, maintenance_windows.c.operator_id == operator_id)
    query = select(
        exists().where(applies, maintenance_windows.c.starts_at <= at, maintenance_windows.c.ends_at > at)
    )
    return bool((await conn.execute(query)).scalar())


async def insert_window(conn: AsyncConnection, window: WindowRecord) -> None:
    await conn.execute(
        maintenance_windows.insert().values(
            id=window.id,
            operator_id=window.operator_id,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            reason=window.reason,
            created_by=window.created_by,
            created_at=window.created_at,
        )
    )


async def list_windows(
    conn: AsyncConnection, *, operator_id: str | None, offset: int, limit: int
) -> tuple[list[WindowRecord], int]:
    conditions = [maintenance_windows.c.operator_id == operator_id] if operator_id else []
    query = (
        select(maintenance_windows)
        .where(*conditions)
        .order_by(maintenance_windows.c.starts_at.desc(), maintenance_windows.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = (await conn.execute(query)).mappings().all()
    total = (
        await conn.execute(select(func.count()).select_from(maintenance_windows).where(*conditions))
    ).scalar_one()
    return [WindowRecord(**{c.name: r[c.name] for c in maintenance_windows.columns}) for r in rows], total


async def user_role(conn: AsyncConnection, user_id: str) -> str | None:
    role: str | None = (await conn.execute(select(users.c.role).where(users.c.id == user_id))).scalar()
    return role
