"""Helpers of the governance API tests: the router mounted on the app under test (until the
app includes it), rows written as ACS side effects would write them, and table reads."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.tables import acs_blocks, notifications, outbox_events, tickets
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.db.tables import users
from tests.api.flows import Session, create_user_directly, sign_in
from tests.conftest import Harness

_numbers = itertools.count(1)


def next_mobile() -> str:
    """Phones of the +9195 block, which no other test module uses."""
    return f"+9195{next(_numbers) % 100_000_000:08d}"


async def user_session(h: Harness, role: Role, *, device_id: str | None = None) -> Session:
    mobile = next_mobile()
    await create_user_directly(h, mobile, role, f"{role.value.title()} User")
    return await sign_in(h, mobile, device_id=device_id)


async def set_user_status(h: Harness, user_id: str, status: str) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(update(users).where(users.c.id == user_id).values(status=status))


async def _rows(h: Harness, query: Select[Any]) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def block_rows(h: Harness, entity_id: str | None = None) -> list[dict[str, Any]]:
    query = select(acs_blocks).order_by(acs_blocks.c.created_at, acs_blocks.c.id)
    if entity_id is not None:
        query = query.where(acs_blocks.c.entity_id == entity_id)
    return await _rows(h, query)


async def outbox_rows(h: Harness, name: str) -> list[dict[str, Any]]:
    rows = await _rows(
        h, select(outbox_events).where(outbox_events.c.name == name).order_by(outbox_events.c.id)
    )
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


async def audit_rows(h: Harness, entity_id: str, action: str | None = None) -> list[dict[str, Any]]:
    query = select(audit_log).where(audit_log.c.entity_id == entity_id).order_by(audit_log.c.seq)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    rows = await _rows(h, query)
    for row in rows:
        row["data"] = json.loads(row["data"])
    return rows


async def ticket_row(h: Harness, ticket_id: str) -> dict[str, Any]:
    rows = await _rows(h, select(tickets).where(tickets.c.id == ticket_id))
    assert len(rows) == 1
    return rows[0]


async def notification_rows(h: Harness, user_id: str) -> list[dict[str, Any]]:
    return await _rows(
        h,
        select(notifications).where(notifications.c.user_id == user_id).order_by(notifications.c.created_at),
    )


async def insert_ticket(
    h: Harness,
    *,
    team: str = "fraud",
    status: str = "OPEN",
    created_at: datetime | None = None,
    assignee_id: str | None = None,
    summary: str = "Device spoofing suspected",
) -> str:
    """A ticket as an ACS `createTicket` effect stores it."""
    ticket_id = new_id("TKT")
    at = created_at or h.clock.now()
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            tickets.insert().values(
                id=ticket_id,
                team=team,
                kind="TICKET",
                summary=summary,
                refs=json.dumps(["SH-01ARZ3NDEKTSV4RRFFQ69G5FAV"]),
                status=status,
                rule_id="RF_SEEDED",
                event_id=None,
                assignee_id=assignee_id,
                resolution_note=None,
                created_at=at,
                updated_at=at,
            )
        )
    return ticket_id
