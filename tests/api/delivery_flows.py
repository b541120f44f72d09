"""Delivery through the API, on trips seeded straight into the database (`freight_setup`).

    trip, code = await trip_with_otp(h)                  # IN_TRANSIT, OTP issued, code known
    response = await upload_pod(h, trip.driver, trip.shipment_id, otp=code)
    response = await complete(h, trip.driver, trip.shipment_id, otp=code)

The OTP is issued with `delivery.otp.issue` as the shipments' start endpoint does, and read
back with `reveal` as only the shipper could."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select, update

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.tables import (
    acs_blocks,
    acs_events,
    acs_shipment_freezes,
    acs_suspensions,
    acs_watchlist,
    notifications,
    outbox_events,
    tickets,
)
from rodistaa.delivery import otp
from rodistaa.delivery.tables import pods
from rodistaa.shipments.status import ShipmentStatus
from rodistaa.shipments.tables import delivery_otps, shipments
from tests.api.flows import Session
from tests.api.freight_setup import Trip, seeded_trip
from tests.conftest import Harness

_files = itertools.count(1)


def pdf_file(marker: str | None = None) -> bytes:
    """A PDF whose bytes (and so SHA-256) are unique unless `marker` is repeated."""
    tag = marker or f"pod-{next(_files)}"
    return b"%PDF-1.4\n% " + tag.encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def jpeg_file(marker: str | None = None) -> bytes:
    tag = marker or f"pod-{next(_files)}"
    return b"\xff\xd8\xff\xe0" + tag.encode() + b"\x00" * 16


def other_code(code: str) -> str:
    """A well-formed code that is not `code`."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def issue_otp(h: Harness, trip: Trip, *, now: datetime | None = None) -> str:
    """Issue (or re-issue) the delivery OTP and return the code in clear."""
    services = h.app.state.services
    async with services.db.transaction() as conn:
        state = await otp.issue(
            conn,
            services,
            shipment_id=trip.shipment_id,
            shipper_id=trip.shipper.user_id,
            now=now or h.clock.now(),
        )
        return await otp.reveal(conn, services, state, shipper_id=trip.shipper.user_id)


async def trip_with_otp(h: Harness, **kwargs: Any) -> tuple[Trip, str]:
    """A seeded trip (IN_TRANSIT unless `status=` says otherwise) with its OTP issued."""
    trip = await seeded_trip(h, **kwargs)
    return trip, await issue_otp(h, trip)


async def upload_pod(
    h: Harness,
    session: Session,
    shipment_id: str,
    *,
    otp: str,
    content: bytes | None = None,
    filename: str = "pod.pdf",
    content_type: str = "application/pdf",
    metadata_timestamp: str | None = None,
) -> httpx.Response:
    data: dict[str, str] = {"shipmentId": shipment_id, "otp": otp}
    if metadata_timestamp is not None:
        data["metadataTimestamp"] = metadata_timestamp
    return await h.client.post(
        "/v1/pod/upload",
        data=data,
        files={"file": (filename, content if content is not None else pdf_file(), content_type)},
        headers=session.headers,
    )


async def complete(h: Harness, session: Session, shipment_id: str, *, otp: str) -> httpx.Response:
    return await h.client.post(
        f"/v1/shipments/{shipment_id}/complete", json={"otp": otp}, headers=session.headers
    )


# --- database reads ------------------------------------------------------------------------


async def _rows(h: Harness, query: Any) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def shipment_row(h: Harness, shipment_id: str) -> dict[str, Any]:
    [row] = await _rows(h, select(shipments).where(shipments.c.id == shipment_id))
    return row


async def otp_row(h: Harness, shipment_id: str) -> dict[str, Any]:
    [row] = await _rows(h, select(delivery_otps).where(delivery_otps.c.shipment_id == shipment_id))
    return row


async def pod_rows(h: Harness, shipment_id: str) -> list[dict[str, Any]]:
    return await _rows(
        h, select(pods).where(pods.c.shipment_id == shipment_id).order_by(pods.c.created_at, pods.c.id)
    )


async def audit_rows(h: Harness, entity_id: str, action: str | None = None) -> list[dict[str, Any]]:
    query = select(audit_log).where(audit_log.c.entity_id == entity_id).order_by(audit_log.c.seq)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    rows = await _rows(h, query)
    for row in rows:
        row["data"] = json.loads(row["data"])
    return rows


async def notification_rows(h: Harness, user_id: str) -> list[dict[str, Any]]:
    return await _rows(
        h,
        select(notifications).where(notifications.c.user_id == user_id).order_by(notifications.c.created_at),
    )


async def outbox_rows(h: Harness, name: str) -> list[dict[str, Any]]:
    rows = await _rows(h, select(outbox_events).where(outbox_events.c.name == name))
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


async def ticket_rows(h: Harness, shipment_id: str) -> list[dict[str, Any]]:
    rows = await _rows(h, select(tickets))
    return [r for r in rows if shipment_id in json.loads(r["refs"])]


async def otp_attempt_events(h: Harness, shipment_id: str) -> list[dict[str, Any]]:
    """The ACS `security.otp_attempt` events (RF04's input) raised for the shipment."""
    rows = await _rows(h, select(acs_events).where(acs_events.c.event_type == "security.otp_attempt"))
    events = [json.loads(r["event"]) for r in rows]
    return [e for e in events if e["payload"]["shipmentId"] == shipment_id]


async def block_rows(h: Harness, shipment_id: str) -> list[dict[str, Any]]:
    return await _rows(
        h,
        select(acs_blocks).where(
            acs_blocks.c.entity_type == "shipment", acs_blocks.c.entity_id == shipment_id
        ),
    )


async def freeze_rows(h: Harness, shipment_id: str) -> list[dict[str, Any]]:
    return await _rows(
        h, select(acs_shipment_freezes).where(acs_shipment_freezes.c.shipment_id == shipment_id)
    )


async def suspension_rows(h: Harness, account_id: str) -> list[dict[str, Any]]:
    return await _rows(h, select(acs_suspensions).where(acs_suspensions.c.account_id == account_id))


async def watchlist_reasons(h: Harness, user_id: str) -> list[str]:
    rows = await _rows(
        h,
        select(acs_watchlist).where(
            acs_watchlist.c.entity_type == "user", acs_watchlist.c.entity_id == user_id
        ),
    )
    return [reason for row in rows for reason in json.loads(row["reasons"])]


async def lift_shipment_blocks(h: Harness, shipment_id: str) -> None:
    """What the shipper's OTP re-issue does to RF04's block (the shipments' endpoint)."""
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            update(acs_blocks)
            .where(acs_blocks.c.entity_type == "shipment", acs_blocks.c.entity_id == shipment_id)
            .values(lifted_at=h.clock.now(), lifted_by=None)
        )


async def mark_completed(h: Harness, shipment_id: str, *, completed_at: datetime) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            update(shipments)
            .where(shipments.c.id == shipment_id)
            .values(status=ShipmentStatus.COMPLETED.value, completed_at=completed_at)
        )
