"""All SQL for franchises and the franchise membership of staff users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.db.tables import users
from rodistaa.franchises.tables import franchises

# Metres per degree of latitude, rounded *down* (the true value is 110,574 to 111,694 m): a
# latitude band computed with it is never narrower than the zone it must contain.
METRES_PER_DEGREE_LAT_FLOOR = 110_000


@dataclass(frozen=True)
class FranchiseRecord:
    id: str
    name: str
    kind: str
    parent_id: str | None
    centre_lat: float | None
    centre_lng: float | None
    radius_m: int | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> FranchiseRecord:
        return cls(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            parent_id=row["parent_id"],
            centre_lat=row["centre_lat"],
            centre_lng=row["centre_lng"],
            radius_m=row["radius_m"],
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class StaffMember:
    id: str
    role: str
    franchise_id: str | None


async def get_by_id(conn: AsyncConnection, franchise_id: str) -> FranchiseRecord | None:
    row = (await conn.execute(select(franchises).where(franchises.c.id == franchise_id))).mappings().first()
    return FranchiseRecord.from_row(row) if row else None


async def lock_head_office_creation(conn: AsyncConnection) -> None:
    """Serialise HQ creations so that "one HQ" holds under concurrency. PostgreSQL: a
    transaction-scoped advisory lock; SQLite's write transactions are already serial."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("rodistaa:franchises:hq"))))


async def head_office_exists(conn: AsyncConnection) -> bool:
    query = select(franchises.c.id).where(franchises.c.kind == "HQ").limit(1)
    return (await conn.execute(query)).first() is not None


async def insert(conn: AsyncConnection, record: FranchiseRecord) -> None:
    await conn.execute(
        franchises.insert().values(
            id=record.id,
            name=record.name,
            kind=record.kind,
            parent_id=record.parent_id,
            centre_lat=record.centre_lat,
            centre_lng=record.centre_lng,
            radius_m=record.radius_m,
            created_at=record.created_at,
        )
    )


async def list_page(
    conn: AsyncConnection, *, kind: str | None, parent_id: str | None, offset: int, limit: int
) -> tuple[list[FranchiseRecord], int]:
    conditions = []
    if kind is not None:
        conditions.append(franchises.c.kind == kind)
    if parent_id is not None:
        conditions.append(franchises.c.parent_id == parent_id)
    query = select(franchises).where(*conditions).order_by(franchises.c.created_at, franchises.c.id)
    count = select(func.count()).select_from(franchises).where(*conditions)
    rows = (await conn.execute(query.offset(offset).limit(limit))).mappings().all()
    total = (await conn.execute(count)).scalar_one()
    return [FranchiseRecord.from_row(r) for r in rows], total


async def units_under(conn: AsyncConnection, district_id: str) -> list[FranchiseRecord]:
    query = (
        select(franchises)
        .where(franchises.c.parent_id == district_id, franchises.c.kind == "UNIT")
        .order_by(franchises.c.name, franchises.c.id)
    )
    return [FranchiseRecord.from_row(r) for r in (await conn.execute(query)).mappings().all()]


async def units_in_latitude_band(conn: AsyncConnection, lat: float) -> list[FranchiseRecord]:
    """Units whose zone could contain a point at latitude `lat` (a cheap prefilter: the exact
    great-circle test is done by the caller)."""
    query = select(franchises).where(
        franchises.c.kind == "UNIT",
        func.abs(franchises.c.centre_lat - lat) * METRES_PER_DEGREE_LAT_FLOOR <= franchises.c.radius_m,
    )
    return [FranchiseRecord.from_row(r) for r in (await conn.execute(query)).mappings().all()]


async def franchise_of_user(conn: AsyncConnection, user_id: str) -> FranchiseRecord | None:
    query = (
        select(franchises).join(users, users.c.franchise_id == franchises.c.id).where(users.c.id == user_id)
    )
    row = (await conn.execute(query)).mappings().first()
    return FranchiseRecord.from_row(row) if row else None


async def get_staff_member(conn: AsyncConnection, user_id: str) -> StaffMember | None:
    query = select(users.c.id, users.c.role, users.c.franchise_id).where(users.c.id == user_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # the assignment reads then writes the membership
    row = (await conn.execute(query)).first()
    return StaffMember(row.id, row.role, row.franchise_id) if row else None


async def set_franchise(conn: AsyncConnection, user_id: str, franchise_id: str, now: datetime) -> None:
    await conn.execute(
        update(users).where(users.c.id == user_id).values(franchise_id=franchise_id, updated_at=now)
    )
