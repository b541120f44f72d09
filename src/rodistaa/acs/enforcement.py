"""What services ask before they let something move: is this entity blocked, this shipment
frozen, this account suspended? Active means not lifted and not expired."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.tables import acs_blocks, acs_shipment_freezes, acs_suspensions

# A user can be blocked under any of the names rules use for people.
PERSON_ENTITY_TYPES = ("user", "operator", "driver")


@dataclass(frozen=True)
class BlockRecord:
    id: str
    entity_type: str
    entity_id: str
    reason: str
    severity: str
    source: str
    rule_id: str | None
    created_at: datetime
    expires_at: datetime | None


def active_block_clause(
    entity_types: Sequence[str], entity_id: ColumnElement[str] | str, now: datetime | ColumnElement[datetime]
) -> ColumnElement[bool]:
    return and_(
        acs_blocks.c.entity_type.in_(entity_types),
        acs_blocks.c.entity_id == entity_id,
        acs_blocks.c.lifted_at.is_(None),
        or_(acs_blocks.c.expires_at.is_(None), acs_blocks.c.expires_at > now),
    )


def active_suspension_clause(
    account_id: ColumnElement[str] | str, now: datetime | ColumnElement[datetime]
) -> ColumnElement[bool]:
    return and_(
        acs_suspensions.c.account_id == account_id,
        acs_suspensions.c.lifted_at.is_(None),
        acs_suspensions.c.until > now,
    )


def person_blocked(
    user_id: ColumnElement[str], now: datetime | ColumnElement[datetime]
) -> ColumnElement[bool]:
    """An EXISTS usable inside other queries (the per-request authentication reads it)."""
    return exists().where(active_block_clause(PERSON_ENTITY_TYPES, user_id, now))


def person_suspended(
    user_id: ColumnElement[str], now: datetime | ColumnElement[datetime]
) -> ColumnElement[bool]:
    return exists().where(active_suspension_clause(user_id, now))


async def active_blocks(
    conn: AsyncConnection, entity_type: str, entity_id: str, now: datetime
) -> list[BlockRecord]:
    types = PERSON_ENTITY_TYPES if entity_type in PERSON_ENTITY_TYPES else (entity_type,)
    rows = (
        (
            await conn.execute(
                select(acs_blocks)
                .where(active_block_clause(types, entity_id, now))
                .order_by(acs_blocks.c.created_at.desc())
            )
        )
        .mappings()
        .all()
    )
    return [
        BlockRecord(
            r["id"],
            r["entity_type"],
            r["entity_id"],
            r["reason"],
            r["severity"],
            r["source"],
            r["rule_id"],
            r["created_at"],
            r["expires_at"],
        )
        for r in rows
    ]


async def is_blocked(conn: AsyncConnection, entity_type: str, entity_id: str, now: datetime) -> bool:
    types = PERSON_ENTITY_TYPES if entity_type in PERSON_ENTITY_TYPES else (entity_type,)
    query = select(exists().where(active_block_clause(types, entity_id, now)))
    return bool((await conn.execute(query)).scalar())


async def active_freeze(conn: AsyncConnection, shipment_id: str) -> str | None:
    """The reason the shipment is frozen, or None."""
    query = (
        select(acs_shipment_freezes.c.reason)
        .where(acs_shipment_freezes.c.shipment_id == shipment_id, acs_shipment_freezes.c.lifted_at.is_(None))
        .order_by(acs_shipment_freezes.c.created_at)
        .limit(1)
    )
    reason: str | None = (await conn.execute(query)).scalar()
    return reason


async def active_suspension(conn: AsyncConnection, account_id: str, now: datetime) -> datetime | None:
    """Until when the account is suspended, or None."""
    query = select(acs_suspensions.c.until).where(active_suspension_clause(account_id, now))
    until: datetime | None = (
        await conn.execute(query.order_by(acs_suspensions.c.until.desc()).limit(1))
    ).scalar()
    return until
