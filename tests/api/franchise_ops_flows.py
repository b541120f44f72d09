"""Setup for franchise-operations and admin-dashboard tests: rows written straight into their
tables (inspections, trucks, bookings, bids, ledger entries) at chosen times, so that every
number a dashboard or report shows is one the test created.

The clock is pinned to noon IST on 15 March 2031 so that "today", "this month" and "last month"
never straddle a boundary while a test runs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select, update

from rodistaa.acs.audit.tables import audit_log
from rodistaa.bids.tables import bids
from rodistaa.bookings.tables import bookings
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.fleet.tables import trucks
from rodistaa.franchises.tables import franchise_targets
from rodistaa.inspections.tables import inspections
from tests.api.flows import Session
from tests.api.freight_setup import insert_booking
from tests.api.onboarding_setup import insert_truck
from tests.api.onboarding_setup import staff_session as _staff_session
from tests.conftest import Harness

NOON_IST_15_MARCH_2031 = datetime(2031, 3, 15, 6, 30, tzinfo=UTC)
EARLIER_THIS_MONTH = NOON_IST_15_MARCH_2031 - timedelta(days=5)
LAST_MONTH = NOON_IST_15_MARCH_2031 - timedelta(days=30)
YESTERDAY = NOON_IST_15_MARCH_2031 - timedelta(days=1)
# 23:59 IST on 14 March is still yesterday; 00:00 IST on 15 March is today.
LAST_MINUTE_OF_YESTERDAY_IST = datetime(2031, 3, 14, 18, 29, tzinfo=UTC)
FIRST_INSTANT_OF_TODAY_IST = datetime(2031, 3, 14, 18, 30, tzinfo=UTC)
THIS_PERIOD = "2031-03"

_numbers = itertools.count(1)


def next_mobile() -> str:
    return f"+91931{next(_numbers) % 10_000_000:07d}"


def next_registration() -> str:
    n = next(_numbers)
    return f"GJ{n % 100:02d}OP{n % 10_000:04d}"


def pin_clock(h: Harness) -> None:
    h.clock.current = NOON_IST_15_MARCH_2031


async def staff(h: Harness, role: Role, franchise_id: str | None) -> Session:
    return await _staff_session(h, next_mobile(), role, franchise_id)


async def truck(
    h: Harness, operator_id: str, unit_id: str | None, status: str, *, created_at: datetime | None = None
) -> str:
    truck_id = await insert_truck(
        h, operator_id, registration=next_registration(), unit_id=unit_id, status=status
    )
    if created_at is not None:
        async with h.app.state.services.db.transaction() as conn:
            await conn.execute(update(trucks).where(trucks.c.id == truck_id).values(created_at=created_at))
    return truck_id


async def inspection(
    h: Harness,
    *,
    truck_id: str,
    unit_id: str,
    inspector_id: str,
    status: str,
    submitted_at: datetime | None = None,
) -> str:
    inspection_id = new_id("INS")
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            inspections.insert().values(
                id=inspection_id,
                truck_id=truck_id,
                unit_franchise_id=unit_id,
                inspector_id=inspector_id,
                status=status,
                checklist="{}",
                created_at=(submitted_at or h.clock.now()) - timedelta(hours=1),
                submitted_at=submitted_at,
            )
        )
    return inspection_id


async def booking_at(
    h: Harness, shipper_id: str, *, pickup: dict[str, float], created_at: datetime, status: str = "OPEN"
) -> str:
    booking_id = await insert_booking(
        h,
        shipper_id,
        block="Z",
        tonnage=Decimal("10"),
        distance_km=Decimal("100"),
        expected_paise=5_000_000,
        min_paise=4_000_000,
        max_paise=6_000_000,
        status=status,
    )
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            update(bookings)
            .where(bookings.c.id == booking_id)
            .values(pickup_lat=pickup["lat"], pickup_lng=pickup["lng"], created_at=created_at)
        )
    return booking_id


async def bid_at(
    h: Harness, booking_id: str, operator_id: str, *, fee_paise: int, created_at: datetime
) -> str:
    """A withdrawn bid (no unique ACTIVE-bid index in the way) that paid `fee_paise`."""
    bid_id = new_id("BID")
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            bids.insert().values(
                id=bid_id,
                booking_id=booking_id,
                operator_id=operator_id,
                truck_id=None,
                amount_paise=4_500_000,
                fee_paise=fee_paise,
                status="WITHDRAWN",
                created_at=created_at,
                updated_at=created_at,
            )
        )
    return bid_id


async def target_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = select(franchise_targets).order_by(
            franchise_targets.c.unit_id, franchise_targets.c.target_type
        )
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def audit_rows(h: Harness, action: str, actor: str) -> list[dict[str, Any]]:
    """The audit log outlives each test: entries are told apart by actor."""
    async with h.app.state.services.db.read() as conn:
        query = (
            select(audit_log)
            .where(audit_log.c.action == action, audit_log.c.actor == actor)
            .order_by(audit_log.c.seq)
        )
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


@dataclass(frozen=True)
class Zones:
    """Two districts under one HQ: A with units A1 and A2, B with unit B1."""

    district_a: str
    unit_a1: str
    unit_a2: str
    district_b: str
    unit_b1: str
