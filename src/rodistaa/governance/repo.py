"""All SQL of the governance queues: blocks (`acs_blocks`), the watchlist (`acs_watchlist`) and
team tickets (`tickets`). ACS writes these tables as rule side effects; this module is what
admins read and change them with.

A block is active while it is neither lifted nor expired: the definition
`rodistaa.acs.enforcement.active_block_clause` enforces, so the list shows what is refused.
Ticket changes lock the row (PostgreSQL) or run in SQLite's write transaction, and are
conditional updates on the status the caller saw, so two concurrent changes never both apply."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.tables import acs_blocks, acs_watchlist, tickets
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role, UserStatus
from rodistaa.db.tables import device_bindings, users
from rodistaa.fleet.tables import trucks
from rodistaa.shipments.tables import shipments

ADMIN_SOURCE = "ADMIN"

# Who may hold a ticket: head-office admins and the staff roles that work queues.
STAFF_ROLES = frozenset({Role.ADMIN, Role.KYC_ADMIN, Role.FRANCHISE_DISTRICT, Role.FRANCHISE_UNIT})


class TicketStatus(StrEnum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"


# The only legal moves, keyed by the target status: the status a ticket must be in to reach it.
TICKET_PREDECESSOR: dict[TicketStatus, TicketStatus] = {
    TicketStatus.IN_PROGRESS: TicketStatus.OPEN,
    TicketStatus.RESOLVED: TicketStatus.IN_PROGRESS,
}
ASSIGNABLE_STATUSES = (TicketStatus.OPEN, TicketStatus.IN_PROGRESS)


@dataclass(frozen=True)
class Block:
    id: str
    entity_type: str
    entity_id: str
    reason: str
    severity: str
    source: str
    rule_id: str | None
    event_id: str | None
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def from_row(cls, row: RowMapping) -> Block:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class WatchlistEntry:
    id: str
    entity_type: str
    entity_id: str
    reasons: list[str]
    hits: int
    first_flagged_at: datetime
    last_flagged_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> WatchlistEntry:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["reasons"] = [str(r) for r in json.loads(row["reasons"])]
        return cls(**values)


@dataclass(frozen=True)
class Ticket:
    id: str
    team: str
    kind: str
    summary: str
    refs: list[str]
    status: TicketStatus
    rule_id: str | None
    event_id: str | None
    assignee_id: str | None
    resolution_note: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> Ticket:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["refs"] = [str(r) for r in json.loads(row["refs"])]
        values["status"] = TicketStatus(row["status"])
        return cls(**values)


# --- blocks ------------------------------------------------------------------------------------


def _entity_query(entity_type: str, entity_id: str) -> Select[tuple[str]]:
    """The row that makes `entity_id` a real entity of `entity_type`. `user` is any account;
    `operator` and `driver` are accounts of that role (the names rules block people under)."""
    if entity_type == "user":
        return select(users.c.id).where(users.c.id == entity_id)
    if entity_type in ("operator", "driver"):
        return select(users.c.id).where(users.c.id == entity_id, users.c.role == entity_type.upper())
    if entity_type == "truck":
        return select(trucks.c.id).where(trucks.c.id == entity_id)
    if entity_type == "shipment":
        return select(shipments.c.id).where(shipments.c.id == entity_id)
    if entity_type == "device":  # a device exists once some account has signed in on it
        return select(device_bindings.c.device_id).where(device_bindings.c.device_id == entity_id)
    raise ValueError(f"not a blockable entity type: {entity_type}")


async def entity_exists(conn: AsyncConnection, entity_type: str, entity_id: str) -> bool:
    return (await conn.execute(_entity_query(entity_type, entity_id).limit(1))).first() is not None


def _active_block(now: datetime) -> ColumnElement[bool]:
    return and_(
        acs_blocks.c.lifted_at.is_(None),
        or_(acs_blocks.c.expires_at.is_(None), acs_blocks.c.expires_at > now),
    )


async def insert_block(
    conn: AsyncConnection,
    *,
    entity_type: str,
    entity_id: str,
    reason: str,
    severity: str,
    expires_at: datetime | None,
    created_by: str,
    now: datetime,
) -> Block:
    block_id = new_id("BLK")
    await conn.execute(
        acs_blocks.insert().values(
            id=block_id,
            entity_type=entity_type,
            entity_id=entity_id,
            reason=reason,
            severity=severity,
            source=ADMIN_SOURCE,
            rule_id=None,
            event_id=None,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
    )
    row = (await conn.execute(select(acs_blocks).where(acs_blocks.c.id == block_id))).mappings().one()
    return Block.from_row(row)


async def list_active_blocks(
    conn: AsyncConnection,
    *,
    now: datetime,
    entity_type: str | None,
    entity_id: str | None,
    source: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Block], int]:
    """Newest first."""
    conditions = [_active_block(now)]
    if entity_type is not None:
        conditions.append(acs_blocks.c.entity_type == entity_type)
    if entity_id is not None:
        conditions.append(acs_blocks.c.entity_id == entity_id)
    if source is not None:
        conditions.append(acs_blocks.c.source == source)
    total = (await conn.execute(select(func.count()).select_from(acs_blocks).where(*conditions))).scalar_one()
    rows = (
        await conn.execute(
            select(acs_blocks)
            .where(*conditions)
            .order_by(acs_blocks.c.created_at.desc(), acs_blocks.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).mappings()
    return [Block.from_row(r) for r in rows], int(total)


# --- watchlist ---------------------------------------------------------------------------------


async def list_watchlist(
    conn: AsyncConnection, *, entity_type: str | None, offset: int, limit: int
) -> tuple[list[WatchlistEntry], int]:
    """Most recently flagged first."""
    conditions = [] if entity_type is None else [acs_watchlist.c.entity_type == entity_type]
    total = (
        await conn.execute(select(func.count()).select_from(acs_watchlist).where(*conditions))
    ).scalar_one()
    rows = (
        await conn.execute(
            select(acs_watchlist)
            .where(*conditions)
            .order_by(acs_watchlist.c.last_flagged_at.desc(), acs_watchlist.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).mappings()
    return [WatchlistEntry.from_row(r) for r in rows], int(total)


# --- tickets -----------------------------------------------------------------------------------


async def list_tickets(
    conn: AsyncConnection, *, team: str | None, status: TicketStatus | None, offset: int, limit: int
) -> tuple[list[Ticket], int]:
    """Newest first."""
    conditions: list[ColumnElement[bool]] = []
    if team is not None:
        conditions.append(tickets.c.team == team)
    if status is not None:
        conditions.append(tickets.c.status == status.value)
    total = (await conn.execute(select(func.count()).select_from(tickets).where(*conditions))).scalar_one()
    rows = (
        await conn.execute(
            select(tickets)
            .where(*conditions)
            .order_by(tickets.c.created_at.desc(), tickets.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).mappings()
    return [Ticket.from_row(r) for r in rows], int(total)


async def get_ticket(conn: AsyncConnection, ticket_id: str, *, for_update: bool = False) -> Ticket | None:
    query = select(tickets).where(tickets.c.id == ticket_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return Ticket.from_row(row) if row else None


async def assign_ticket(conn: AsyncConnection, ticket_id: str, assignee_id: str, now: datetime) -> bool:
    """False when the ticket is (no longer) in an assignable status."""
    result = await conn.execute(
        update(tickets)
        .where(tickets.c.id == ticket_id, tickets.c.status.in_([s.value for s in ASSIGNABLE_STATUSES]))
        .values(assignee_id=assignee_id, updated_at=now)
    )
    return result.rowcount == 1


async def move_ticket(
    conn: AsyncConnection,
    ticket_id: str,
    *,
    expected: TicketStatus,
    to: TicketStatus,
    resolution_note: str | None,
    now: datetime,
) -> bool:
    """Claim the move: applies only while the ticket is still in `expected`."""
    values: dict[str, object] = {"status": to.value, "updated_at": now}
    if resolution_note is not None:
        values["resolution_note"] = resolution_note
    result = await conn.execute(
        update(tickets).where(tickets.c.id == ticket_id, tickets.c.status == expected.value).values(**values)
    )
    return result.rowcount == 1


async def active_staff_role(conn: AsyncConnection, user_id: str, roles: Sequence[Role]) -> Role | None:
    """The role of an ACTIVE account holding one of `roles`, or None."""
    role = (
        await conn.execute(
            select(users.c.role).where(
                users.c.id == user_id,
                users.c.status == UserStatus.ACTIVE.value,
                users.c.role.in_([r.value for r in roles]),
            )
        )
    ).scalar()
    return Role(role) if role is not None else None
