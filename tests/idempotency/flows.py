"""Shared steps of the idempotency tests: POSTs with an `Idempotency-Key`, and the stored
records."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from rodistaa.idempotency.tables import idempotency_records
from tests.api.flows import Session
from tests.conftest import Harness

REPLAYED = "Idempotent-Replayed"


async def post_bid_with_key(
    h: Harness, session: Session, booking_id: str, key: str | bytes, *, amount: int = 12_000
) -> httpx.Response:
    return await h.client.post(
        "/v1/bids",
        json={"bookingId": booking_id, "amount": amount},
        headers={**session.headers, "Idempotency-Key": key},
    )


def is_replay(response: httpx.Response) -> bool:
    return response.headers.get(REPLAYED) == "true"


async def records(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = select(idempotency_records).order_by(idempotency_records.c.created_at)
        return [dict(r) for r in (await conn.execute(query)).mappings()]
