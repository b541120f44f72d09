"""All SQL of overrides: the `overrides` rows and the target reads and lifts (blocks, freezes,
suspensions) the executors need. Decisions are conditional UPDATEs from PENDING."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.enforcement import PERSON_ENTITY_TYPES, active_block_clause, active_suspension_clause
from rodistaa.acs.tables import acs_blocks, acs_shipment_freezes, acs_suspensions
from rodistaa.bookings.tables import bookings
from rodistaa.db.tables import device_bindings, users
from rodistaa.fleet.tables import trucks
from rodistaa.inspections.tables import inspections
from rodistaa.overrides.tables import overrides
from rodistaa.shipments.tables import shipments


class OverrideStatus(StrEnum):
    PENDING = "PENDING"
    EXECUTED = "EXECUTED"
    REJECTED = "REJECTED"


class OverrideAction(StrEnum):
    UNBLOCK = "UNBLOCK"
    UNFREEZE = "UNFREEZE"
    UNSUSPEND = "UNSUSPEND"
    LEDGER_ADJUSTMENT = "LEDGER_ADJUSTMENT"
    FORCE_FINALIZE = "FORCE_FINALIZE"
    REOPEN_INSPECTION = "REOPEN_INSPECTION"


@dataclass(frozen=True)
class OverrideRecord:
    id: str
    entity_type: str
    entity_id: str
    action: OverrideAction
    reason: str
    justification: str | None
    params: dict[str, Any]
    critical: bool
    status: OverrideStatus
    requested_by: str
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> OverrideRecord:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["action"] = OverrideAction(row["action"])
        values["status"] = OverrideStatus(row["status"])
        values["params"] = json.loads(row["params"])
        values["critical"] = bool(row["critical"])
        return cls(**values)


async def insert_override(conn: AsyncConnection, record: OverrideRecord) -> None:
    await conn.execute(
        overrides.insert().values(
            id=record.id,
            entity_type=record.entity_type,
            entity_id=record.entity_id,
            action=record.action.value,
            reason=record.reason,
            justification=record.justification,
            params=json.dumps(record.params, sort_keys=True),
            critical=record.critical,
            status=record.status.value,
            requested_by=record.requested_by,
            decided_by=None,
            decided_at=None,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
    )


async def get_override(conn: AsyncConnection, override_id: str) -> OverrideRecord | None:
    row = (await conn.execute(select(overrides).where(overrides.c.id == override_id))).mappings().first()
    return OverrideRecord.from_row(row) if row is not None else None


async def list_overrides(
    conn: AsyncConnection, *, status: OverrideStatus | None, offset: int, limit: int
) -> tuple[list[OverrideRecord], int]:
    """Newest first."""
    conditions = [overrides.c.status == status.value] if status is not None else []
    total = (await conn.execute(select(func.count()).select_from(overrides).where(*conditions))).scalar_one()
    query = (
        select(overrides)
        .where(*conditions)
        .order_by(overrides.c.created_at.desc(), overrides.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = (await conn.execute(query)).mappings().all()
    return [OverrideRecord.from_row(r) for r in rows], int(total)


async def claim_decision(
    conn: AsyncConnection, override_id: str, *, to: OverrideStatus, decided_by: str, now: datetime
) -> OverrideRecord | None:
    """PENDING -> `to` by `decided_by`; None when the override is no longer PENDING (another
    admin decided first: on PostgreSQL the loser waits for the winner's row lock, then finds
    the status changed). The four-eyes CHECK refuses `decided_by == requested_by`."""
    result = await conn.execute(
        update(overrides)
        .where(overrides.c.id == override_id, overrides.c.status == OverrideStatus.PENDING.value)
        .values(status=to.value, decided_by=decided_by, decided_at=now, updated_at=now)
    )
    if result.rowcount != 1:
        return None
    return await get_override(conn, override_id)


# --- targets ------------------------------------------------------------------------------------


def _entity_query(entity_type: str, entity_id: str) -> Select[tuple[str]]:
    """The row that makes `entity_id` a real entity of `entity_type`: `user` is any account,
    `operator` and `driver` accounts of that role, `device` one some account signed in on."""
    if entity_type == "user":
        return select(users.c.id).where(users.c.id == entity_id)
    if entity_type in ("operator", "driver"):
        return select(users.c.id).where(users.c.id == entity_id, users.c.role == entity_type.upper())
    if entity_type == "truck":
        return select(trucks.c.id).where(trucks.c.id == entity_id)
    if entity_type == "shipment":
        return select(shipments.c.id).where(shipments.c.id == entity_id)
    if entity_type == "device":
        return select(device_bindings.c.device_id).where(device_bindings.c.device_id == entity_id)
    if entity_type == "booking":
        return select(bookings.c.id).where(bookings.c.id == entity_id)
    if entity_type == "inspection":
        return select(inspections.c.id).where(inspections.c.id == entity_id)
    raise ValueError(f"not an override entity type: {entity_type}")


async def entity_exists(conn: AsyncConnection, entity_type: str, entity_id: str) -> bool:
    return (await conn.execute(_entity_query(entity_type, entity_id).limit(1))).first() is not None


@dataclass(frozen=True)
class Restriction:
    """One active block, freeze or suspension: what decides whether an override is critical."""

    id: str
    rule_id: str | None
    severity: str | None  # freezes carry none


def _block_types(entity_type: str) -> tuple[str, ...]:
    # A person is blocked under any of the names rules use for people.
    return PERSON_ENTITY_TYPES if entity_type in PERSON_ENTITY_TYPES else (entity_type,)


async def active_blocks(
    conn: AsyncConnection, entity_type: str, entity_id: str, now: datetime
) -> list[Restriction]:
    query = select(acs_blocks.c.id, acs_blocks.c.rule_id, acs_blocks.c.severity).where(
        active_block_clause(_block_types(entity_type), entity_id, now)
    )
    return [Restriction(r.id, r.rule_id, r.severity) for r in (await conn.execute(query)).all()]


async def lift_blocks(
    conn: AsyncConnection, entity_type: str, entity_id: str, *, lifted_by: str, now: datetime
) -> list[str]:
    """Lift every block of the entity active at `now`; returns the lifted ids."""
    ids = [r.id for r in await active_blocks(conn, entity_type, entity_id, now)]
    if not ids:
        return []
    await conn.execute(
        update(acs_blocks)
        .where(acs_blocks.c.id.in_(ids), acs_blocks.c.lifted_at.is_(None))
        .values(lifted_at=now, lifted_by=lifted_by)
    )
    return sorted(ids)


def _active_freeze(shipment_id: str) -> Any:
    return and_(acs_shipment_freezes.c.shipment_id == shipment_id, acs_shipment_freezes.c.lifted_at.is_(None))


async def active_freezes(conn: AsyncConnection, shipment_id: str) -> list[Restriction]:
    query = select(acs_shipment_freezes.c.id, acs_shipment_freezes.c.rule_id).where(
        _active_freeze(shipment_id)
    )
    return [Restriction(r.id, r.rule_id, None) for r in (await conn.execute(query)).all()]


async def lift_freezes(
    conn: AsyncConnection, shipment_id: str, *, lifted_by: str, now: datetime
) -> list[str]:
    ids = [r.id for r in await active_freezes(conn, shipment_id)]
    if not ids:
        return []
    await conn.execute(
        update(acs_shipment_freezes)
        .where(acs_shipment_freezes.c.id.in_(ids), acs_shipment_freezes.c.lifted_at.is_(None))
        .values(lifted_at=now, lifted_by=lifted_by)
    )
    return sorted(ids)


async def active_suspensions(conn: AsyncConnection, account_id: str, now: datetime) -> list[Restriction]:
    query = select(acs_suspensions.c.id, acs_suspensions.c.rule_id, acs_suspensions.c.severity).where(
        active_suspension_clause(account_id, now)
    )
    return [Restriction(r.id, r.rule_id, r.severity) for r in (await conn.execute(query)).all()]


async def lift_suspensions(
    conn: AsyncConnection, account_id: str, *, lifted_by: str, now: datetime
) -> list[str]:
    ids = [r.id for r in await active_suspensions(conn, account_id, now)]
    if not ids:
        return []
    await conn.execute(
        update(acs_suspensions)
        .where(acs_suspensions.c.id.in_(ids), acs_suspensions.c.lifted_at.is_(None))
        .values(lifted_at=now, lifted_by=lifted_by)
    )
    return sorted(ids)


async def truck_stored_blocked(conn: AsyncConnection, truck_id: str) -> bool:
    """The STORED status is BLOCKED (sticky: it stays after the block expired or was lifted)."""
    status = (await conn.execute(select(trucks.c.status).where(trucks.c.id == truck_id))).scalar()
    return status == "BLOCKED"


async def user_role(conn: AsyncConnection, user_id: str) -> str | None:
    role: str | None = (await conn.execute(select(users.c.role).where(users.c.id == user_id))).scalar()
    return role
