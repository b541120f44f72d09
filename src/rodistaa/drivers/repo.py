"""All SQL for drivers. Every read goes through `readable(actor)`: outside it the caller gets 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, false, func, select, true
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.db.tables import users
from rodistaa.drivers.tables import drivers


@dataclass(frozen=True)
class DriverRecord:
    user_id: str
    operator_id: str
    name: str
    mobile: str
    status: str
    licence_masked: str
    licence_expiry: date
    created_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> DriverRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


class LicenceAlreadyRegistered(Exception):
    """The unique index on drivers.licence_hash refused the insert."""


def readable(actor: Actor) -> ColumnElement[bool]:
    """Admins see every driver, an operator the drivers of its fleet, a driver themself."""
    if actor.role is Role.ADMIN:
        return true()
    if actor.role is Role.OPERATOR:
        return drivers.c.operator_id == actor.user_id
    if actor.role is Role.DRIVER:
        return drivers.c.user_id == actor.user_id
    return false()


def _driver_query() -> Select[tuple[object, ...]]:
    return select(
        drivers.c.user_id,
        drivers.c.operator_id,
        users.c.name,
        users.c.mobile,
        users.c.status,
        drivers.c.licence_masked,
        drivers.c.licence_expiry,
        drivers.c.created_at,
    ).join(users, users.c.id == drivers.c.user_id)


async def insert(
    conn: AsyncConnection,
    *,
    user_id: str,
    operator_id: str,
    licence_ciphertext: str,
    licence_masked: str,
    licence_hash: str,
    licence_expiry: date,
    now: datetime,
) -> None:
    try:
        # A savepoint keeps the surrounding transaction usable after a unique violation.
        async with conn.begin_nested():
            await conn.execute(
                drivers.insert().values(
                    user_id=user_id,
                    operator_id=operator_id,
                    licence_ciphertext=licence_ciphertext,
                    licence_masked=licence_masked,
                    licence_hash=licence_hash,
                    licence_expiry=licence_expiry,
                    created_at=now,
                )
            )
    except IntegrityError as exc:
        raise LicenceAlreadyRegistered() from exc


async def get_by_id(conn: AsyncConnection, driver_id: str) -> DriverRecord:
    row = (await conn.execute(_driver_query().where(drivers.c.user_id == driver_id))).mappings().one()
    return DriverRecord.from_row(row)


async def get_visible(conn: AsyncConnection, actor: Actor, driver_id: str) -> DriverRecord | None:
    query = _driver_query().where(drivers.c.user_id == driver_id, readable(actor))
    row = (await conn.execute(query)).mappings().first()
    return DriverRecord.from_row(row) if row else None


async def list_visible(
    conn: AsyncConnection, actor: Actor, *, offset: int, limit: int
) -> tuple[list[DriverRecord], int]:
    query = (
        _driver_query()
        .where(readable(actor))
        .order_by(drivers.c.created_at.desc(), drivers.c.user_id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = (await conn.execute(query)).mappings().all()
    total = (
        await conn.execute(select(func.count()).select_from(drivers).where(readable(actor)))
    ).scalar_one()
    return [DriverRecord.from_row(r) for r in rows], total
