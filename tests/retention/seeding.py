"""Rows the retention tests seed directly (with times around the cut-offs, which no API call
can produce), and the reads they assert on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from rodistaa.acs.audit.tables import audit_log
from rodistaa.core.ids import new_id
from rodistaa.tracking.tables import gps_daily_summaries, gps_pings, shipment_positions
from tests.conftest import Harness


@dataclass(frozen=True)
class SeedFix:
    at: datetime
    lat: float = 18.52
    lng: float = 73.85
    speed_kmh: float | None = None
    mock: bool = False


async def insert_fixes(h: Harness, shipment_id: str, driver_id: str, fixes: list[SeedFix]) -> None:
    async with h.app.state.services.db.transaction() as conn:
        for fix in fixes:
            await conn.execute(
                gps_pings.insert().values(
                    id=new_id("GPS"),
                    shipment_id=shipment_id,
                    driver_id=driver_id,
                    lat=fix.lat,
                    lng=fix.lng,
                    speed_kmh=fix.speed_kmh,
                    heading=None,
                    accuracy_m=10.0,
                    mock_location=fix.mock,
                    recorded_at=fix.at,
                    received_at=fix.at,
                )
            )


async def insert_position(h: Harness, shipment_id: str, at: datetime) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            shipment_positions.insert().values(
                shipment_id=shipment_id,
                lat=18.0,
                lng=73.8,
                speed_kmh=None,
                heading=None,
                recorded_at=at,
                received_at=at,
            )
        )


async def rows(h: Harness, query: Any) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def fix_times(h: Harness, shipment_id: str) -> list[datetime]:
    query = select(gps_pings.c.recorded_at).where(gps_pings.c.shipment_id == shipment_id)
    return sorted(r["recorded_at"] for r in await rows(h, query))


async def summaries(h: Harness, shipment_id: str) -> dict[str, dict[str, Any]]:
    query = select(gps_daily_summaries).where(gps_daily_summaries.c.shipment_id == shipment_id)
    return {r["day"]: r for r in await rows(h, query)}


async def audit_head_seq(h: Harness) -> int:
    async with h.app.state.services.db.read() as conn:
        return int((await conn.execute(select(func.max(audit_log.c.seq)))).scalar() or 0)


async def audit_since(h: Harness, seq: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, entity_id, data) of the entries appended after `seq`, in chain order."""
    query = select(audit_log).where(audit_log.c.seq > seq).order_by(audit_log.c.seq)
    return [(r["action"], r["entity_id"], json.loads(r["data"])) for r in await rows(h, query)]
