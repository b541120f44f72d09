"""Shared steps of the webhook tests: the router mounted on the app under test (until the lead
wires it into `app.py`), registration, rows and audit entries."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.tables import outbox_events
from rodistaa.db.outbox import insert_outbox_event
from rodistaa.webhooks.tables import webhook_deliveries, webhook_subscriptions
from tests.api.flows import Session
from tests.conftest import Harness

REGISTER = "/v1/webhooks/register"


async def register(h: Harness, admin: Session, url: str, events: list[str]) -> dict[str, Any]:
    response = await h.client.post(REGISTER, json={"url": url, "events": events}, headers=admin.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def subscription_row(h: Harness, webhook_id: str) -> dict[str, Any]:
    async with h.app.state.services.db.read() as conn:
        query = select(webhook_subscriptions).where(webhook_subscriptions.c.id == webhook_id)
        return dict((await conn.execute(query)).mappings().one())


async def subscription_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(select(webhook_subscriptions))).mappings()]


async def delivery_rows(h: Harness, webhook_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = (
            select(webhook_deliveries)
            .where(webhook_deliveries.c.subscription_id == webhook_id)
            .order_by(webhook_deliveries.c.event_id)
        )
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def unpublished_events(h: Harness) -> list[str]:
    async with h.app.state.services.db.read() as conn:
        query = select(outbox_events.c.id).where(outbox_events.c.published_at.is_(None))
        return [r.id for r in await conn.execute(query)]


async def emit(h: Harness, name: str, payload: dict[str, Any]) -> str:
    """An outbox event as a domain transaction writes it."""
    async with h.app.state.services.db.transaction() as conn:
        return await insert_outbox_event(conn, name=name, payload=payload, now=h.clock.now())


async def audit_entries(h: Harness, webhook_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = select(audit_log).where(audit_log.c.entity_id == webhook_id).order_by(audit_log.c.seq)
        return [dict(r, data=json.loads(r["data"])) for r in (await conn.execute(query)).mappings()]
