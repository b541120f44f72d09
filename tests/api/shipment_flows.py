"""Shipment steps over HTTP and the database reads the shipment tests assert on. Trips come from
`freight_setup.seeded_trip` (a shipment already in any stored state, every party signed in).

    trip = await seeded_trip(h, status=ShipmentStatus.APPROVED)
    response = await start(h, trip.driver, trip.shipment_id)
    row = await shipment_row(h, trip.shipment_id)
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.tables import acs_blocks, acs_shipment_freezes, notifications, outbox_events
from rodistaa.core.ids import new_id
from rodistaa.ledger.tables import ledger_accounts, ledger_entries
from rodistaa.shipments.tables import delivery_otps, shipments
from tests.api.acs_setup import insert_block
from tests.api.flows import Session
from tests.conftest import Harness

# --- HTTP ----------------------------------------------------------------------------------------


async def post(
    h: Harness, session: Session | None, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    headers = session.headers if session else {}
    return await h.client.post(f"/v1{path}", json=body, headers=headers)


async def get(h: Harness, session: Session, path: str, **params: Any) -> httpx.Response:
    return await h.client.get(f"/v1{path}", params=params, headers=session.headers)


async def assign(
    h: Harness, operator: Session, shipment_id: str, driver_id: str, truck_id: str
) -> httpx.Response:
    return await post(
        h, operator, f"/shipments/{shipment_id}/assign", {"driverId": driver_id, "truckId": truck_id}
    )


async def approve(h: Harness, shipper: Session, shipment_id: str) -> httpx.Response:
    return await post(h, shipper, f"/shipments/{shipment_id}/approve-driver")


async def start(h: Harness, driver: Session, shipment_id: str) -> httpx.Response:
    return await post(h, driver, f"/shipments/{shipment_id}/start")


async def show_otp(h: Harness, session: Session, shipment_id: str) -> httpx.Response:
    return await get(h, session, f"/shipments/{shipment_id}/otp")


async def reissue(h: Harness, session: Session, shipment_id: str) -> httpx.Response:
    return await post(h, session, f"/shipments/{shipment_id}/otp/reissue")


async def breakdown(
    h: Harness, session: Session, shipment_id: str, reason: str = "Axle broke"
) -> httpx.Response:
    return await post(h, session, f"/shipments/{shipment_id}/breakdown", {"reason": reason})


async def alternate(h: Harness, operator: Session, shipment_id: str, **body: Any) -> httpx.Response:
    return await post(h, operator, f"/shipments/{shipment_id}/alternate-truck", body)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert (response.status_code, response.json().get("code")) == (status, code), response.text


# --- database ------------------------------------------------------------------------------------


async def shipment_row(h: Harness, shipment_id: str) -> dict[str, Any]:
    async with h.app.state.services.db.read() as conn:
        row = (await conn.execute(select(shipments).where(shipments.c.id == shipment_id))).mappings().one()
    return dict(row)


async def otp_row(h: Harness, shipment_id: str) -> dict[str, Any] | None:
    async with h.app.state.services.db.read() as conn:
        query = select(delivery_otps).where(delivery_otps.c.shipment_id == shipment_id)
        row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def audit_entries(h: Harness, shipment_id: str) -> list[dict[str, Any]]:
    """The shipment's audit entries in order (the chain outlives the emptied tables, but
    shipment ids are unique ULIDs)."""
    async with h.app.state.services.db.read() as conn:
        query = select(audit_log).where(audit_log.c.entity_id == shipment_id).order_by(audit_log.c.seq)
        rows = (await conn.execute(query)).mappings().all()
    return [dict(r, data=json.loads(r["data"])) for r in rows]


async def audit_actions(h: Harness, shipment_id: str) -> list[str]:
    return [e["action"] for e in await audit_entries(h, shipment_id)]


async def inbox(h: Harness, user_id: str) -> list[str]:
    async with h.app.state.services.db.read() as conn:
        query = select(notifications.c.message).where(notifications.c.user_id == user_id)
        return list(
            (await conn.execute(query.order_by(notifications.c.created_at, notifications.c.id))).scalars()
        )


async def freeze_rows(h: Harness, shipment_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = select(acs_shipment_freezes).where(acs_shipment_freezes.c.shipment_id == shipment_id)
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def block_rows(h: Harness, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = select(acs_blocks).where(
            acs_blocks.c.entity_type == entity_type, acs_blocks.c.entity_id == entity_id
        )
        return [dict(r) for r in (await conn.execute(query)).mappings()]


# The ACS rules that freeze a shipment (rules/30-tracking-delivery.yaml) and their reasons.
ACS_FREEZES = [
    ("RF05_GPS_JUMP_ANOMALY", "GPS_JUMP"),
    ("RF06_GPS_SPOOF_SIGNATURE", "GPS_SPOOF"),
    ("RF07_POD_DUPLICATE_HASH", "POD_REUSE_SUSPECT"),
]


async def acs_freeze(
    h: Harness, shipment_id: str, reason: str = "GPS_JUMP", rule_id: str = "RF05_GPS_JUMP_ANOMALY"
) -> None:
    """A freeze as an ACS rule (RF05 by default) leaves it."""
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            acs_shipment_freezes.insert().values(
                id=new_id("FRZ"),
                shipment_id=shipment_id,
                reason=reason,
                rule_id=rule_id,
                event_id=new_id("EVT"),
                created_at=h.clock.now(),
            )
        )


async def acs_block_shipment(h: Harness, shipment_id: str, reason: str = "OTP_BRUTE_FORCE") -> None:
    """A shipment block as ACS RF04 leaves it."""
    await insert_block(
        h,
        "shipment",
        shipment_id,
        reason=reason,
        severity="critical",
        rule_id="RF04_OTP_BRUTE_FORCE_PROTECTION",
    )


async def outbox_payloads(h: Harness, name: str) -> list[dict[str, Any]]:
    """The payloads of the outbox events called `name`, oldest first."""
    async with h.app.state.services.db.read() as conn:
        query = select(outbox_events.c.payload).where(outbox_events.c.name == name)
        rows = (await conn.execute(query.order_by(outbox_events.c.created_at, outbox_events.c.id))).scalars()
        return [json.loads(r) for r in rows]


async def ledger_state(h: Harness, operator_id: str) -> tuple[int | None, int]:
    """(balance in paise or None without an account, number of ledger entries)."""
    async with h.app.state.services.db.read() as conn:
        balance = (
            await conn.execute(
                select(ledger_accounts.c.balance_paise).where(ledger_accounts.c.operator_id == operator_id)
            )
        ).scalar()
        entries = (
            await conn.execute(select(ledger_entries.c.id).where(ledger_entries.c.operator_id == operator_id))
        ).all()
    return balance, len(entries)
