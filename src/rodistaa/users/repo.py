"""All SQL for users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.core.roles import Role, UserStatus
from rodistaa.db.tables import users


@dataclass(frozen=True)
class UserRecord:
    id: str
    mobile: str
    name: str
    email: str | None
    role: Role
    status: UserStatus
    created_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> UserRecord:
        return cls(
            id=row["id"],
            mobile=row["mobile"],
            name=row["name"],
            email=row["email"],
            role=Role(row["role"]),
            status=UserStatus(row["status"]),
            created_at=row["created_at"],
        )


class MobileAlreadyRegistered(Exception):
    """The unique index on users.mobile refused the insert."""


async def get_by_id(conn: AsyncConnection, user_id: str) -> UserRecord | None:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
    return UserRecord.from_row(row) if row else None


async def get_by_mobile(conn: AsyncConnection, mobile: str) -> UserRecord | None:
    row = (await conn.execute(select(users).where(users.c.mobile == mobile))).mappings().first()
    return UserRecord.from_row(row) if row else None


async def insert(
    conn: AsyncConnection,
    *,
    user_id: str,
    mobile: str,
    name: str,
    email: str | None,
    role: Role,
    created_by: str | None,
    now: datetime,
) -> UserRecord:
    values = {
        "id": user_id,
        "mobile": mobile,
        "name": name,
        "email": email,
        "role": role.value,
        "status": UserStatus.ACTIVE.value,
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
    }
    try:
        # A savepoint keeps the surrounding transaction usable after a unique violation.
        async with conn.begin_nested():
            await conn.execute(users.insert().values(**values))
    except IntegrityError as exc:
        raise MobileAlreadyRegistered() from exc
    return UserRecord(
        id=user_id,
        mobile=mobile,
        name=name,
        email=email,
        role=role,
        status=UserStatus.ACTIVE,
        created_at=now,
    )


async def set_status(conn: AsyncConnection, user_id: str, status: UserStatus, now: datetime) -> bool:
    result = await conn.execute(
        update(users).where(users.c.id == user_id).values(status=status.value, updated_at=now)
    )
    return result.rowcount == 1


async def list_page(
    conn: AsyncConnection, *, role: Role | None, offset: int, limit: int
) -> tuple[list[UserRecord], int]:
    condition = users.c.role == role.value if role else None
    query = select(users).order_by(users.c.created_at.desc(), users.c.id.desc())
    count = select(func.count()).select_from(users)
    if condition is not None:
        query, count = query.where(condition), count.where(condition)
    rows = (await conn.execute(query.offset(offset).limit(limit))).mappings().all()
    total = (await conn.execute(count)).scalar_one()
    return [UserRecord.from_row(r) for r in rows], total
