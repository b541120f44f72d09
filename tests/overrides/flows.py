"""Helpers of the override API tests: the router mounted on the app under test (until the app
includes it), admins with confirmed TOTP, restrictions written as ACS side effects write them,
and table reads."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Select, select

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.tables import acs_blocks, acs_shipment_freezes, acs_suspensions, notifications
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.overrides import totp
from rodistaa.overrides.tables import admin_totp, overrides
from tests.api.flows import Session, create_user_directly, sign_in
from tests.conftest import Harness

_numbers = itertools.count(1)


def next_mobile() -> str:
    """Phones of the +9191 block, which no other test module uses."""
    return f"+9191{next(_numbers) % 100_000_000:08d}"


async def user_session(h: Harness, role: Role) -> Session:
    mobile = next_mobile()
    await create_user_directly(h, mobile, role, f"{role.value.title()} User")
    return await sign_in(h, mobile)


async def enrol(h: Harness, admin: Session) -> str:
    """Enrol and confirm TOTP for `admin`; returns the secret. The confirming code's step is
    used up, so the clock moves one step on."""
    response = await h.client.post("/v1/admin/totp/enrol", headers=admin.headers)
    assert response.status_code == 200, response.text
    secret = str(response.json()["secret"])
    code = totp.code_at(secret, h.clock.now())
    response = await h.client.post("/v1/admin/totp/confirm", json={"code": code}, headers=admin.headers)
    assert response.status_code == 200, response.text
    h.clock.advance(seconds=totp.STEP_SECONDS)
    return secret


def code_now(h: Harness, secret: str) -> str:
    return totp.code_at(secret, h.clock.now())


async def request_override(h: Harness, admin: Session, **body: Any) -> httpx.Response:
    return await h.client.post("/v1/admin/overrides", json=body, headers=admin.headers)


async def requested(h: Harness, admin: Session, **body: Any) -> dict[str, Any]:
    response = await request_override(h, admin, **body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def approve(h: Harness, admin: Session, override_id: str, **body: Any) -> httpx.Response:
    return await h.client.post(f"/v1/admin/overrides/{override_id}/approve", json=body, headers=admin.headers)


async def reject(h: Harness, admin: Session, override_id: str, **body: Any) -> httpx.Response:
    return await h.client.post(f"/v1/admin/overrides/{override_id}/reject", json=body, headers=admin.headers)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


async def insert_freeze(
    h: Harness, shipment_id: str, *, rule_id: str | None = "RF19_COLLUSION_TRIAD_FREQ"
) -> str:
    freeze_id = new_id("FRZ")
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            acs_shipment_freezes.insert().values(
                id=freeze_id,
                shipment_id=shipment_id,
                reason="TRIAD_COLLUSION",
                rule_id=rule_id,
                event_id=None,
                created_at=h.clock.now(),
            )
        )
    return freeze_id


async def insert_suspension(h: Harness, account_id: str, *, severity: str = "high") -> str:
    suspension_id = new_id("SUS")
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            acs_suspensions.insert().values(
                id=suspension_id,
                account_id=account_id,
                reason="POSSIBLE_COLLUSION",
                severity=severity,
                rule_id=None,
                event_id=None,
                created_at=h.clock.now(),
                until=h.clock.now() + timedelta(days=7),
            )
        )
    return suspension_id


async def _rows(h: Harness, query: Select[Any]) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def override_row(h: Harness, override_id: str) -> dict[str, Any]:
    (row,) = await _rows(h, select(overrides).where(overrides.c.id == override_id))
    return row


async def totp_row(h: Harness, user_id: str) -> dict[str, Any] | None:
    rows = await _rows(h, select(admin_totp).where(admin_totp.c.user_id == user_id))
    return rows[0] if rows else None


async def block_row(h: Harness, block_id: str) -> dict[str, Any]:
    (row,) = await _rows(h, select(acs_blocks).where(acs_blocks.c.id == block_id))
    return row


async def freeze_row(h: Harness, freeze_id: str) -> dict[str, Any]:
    (row,) = await _rows(h, select(acs_shipment_freezes).where(acs_shipment_freezes.c.id == freeze_id))
    return row


async def suspension_row(h: Harness, suspension_id: str) -> dict[str, Any]:
    (row,) = await _rows(h, select(acs_suspensions).where(acs_suspensions.c.id == suspension_id))
    return row


async def audit_rows(h: Harness, entity_id: str, action: str | None = None) -> list[dict[str, Any]]:
    query = select(audit_log).where(audit_log.c.entity_id == entity_id).order_by(audit_log.c.seq)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    rows = await _rows(h, query)
    for row in rows:
        if isinstance(row.get("data"), str):
            row["data"] = json.loads(row["data"])
    return rows


async def inbox(h: Harness, user_id: str) -> list[str]:
    query = select(notifications.c.message).where(notifications.c.user_id == user_id)
    return [r["message"] for r in await _rows(h, query.order_by(notifications.c.created_at))]
