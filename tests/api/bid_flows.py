"""Bids through the API, for any test that needs an operator with money, a booking with exact
figures, or a placed bid. Every step that should succeed asserts its own status.

    shipper = await verified_user(h, Role.SHIPPER)                  # freight_setup
    operator = await funded_operator(h, rupees=1000)                # verified KYC + deposit
    booking_id = await seed_booking(h, shipper.user_id)             # 10 t x 500 km, fee ₹175
    bid = await place_bid(h, operator, booking_id, amount=12000)

Bookings are inserted directly so tonnage and distance are exact (the API computes the
distance from coordinates); their ids use the `RID-<day>-B<n>` block no API booking can take.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from rodistaa.acs.tables import notifications, outbox_events
from rodistaa.bids.tables import bids
from rodistaa.bookings.tables import bookings
from rodistaa.core.roles import Role
from rodistaa.ledger.tables import ledger_accounts, ledger_entries
from tests.api.flows import Session
from tests.api.freight_setup import insert_booking, verified_user
from tests.api.ledger_flows import fund_operator
from tests.conftest import TEST_HMAC_KEY, Harness

_numbers = itertools.count(1)

# The standard booking: 10 t over exactly 500 km. Fee at ₹5/t + ₹0.25/km = ₹175.00; expected
# price at ₹2.5/tonne-km = ₹12,500; a shipper-given range wide enough for every test (RF21
# holds bids under 0.5 x 0.9 x ₹12,500 = ₹5,625, which this range still contains).
STANDARD_FEE_PAISE = 17_500
STANDARD_EXPECTED_PAISE = 1_250_000
STANDARD_MIN_PAISE = 500_000
STANDARD_MAX_PAISE = 2_000_000


async def seed_booking(
    h: Harness,
    shipper_id: str,
    *,
    tonnage: str = "10",
    distance_km: str = "500",
    expected_paise: int = STANDARD_EXPECTED_PAISE,
    min_paise: int = STANDARD_MIN_PAISE,
    max_paise: int = STANDARD_MAX_PAISE,
    status: str = "OPEN",
    window: timedelta = timedelta(hours=24),
) -> str:
    """A booking row as the bookings API stores it, with exact figures; returns its id."""
    return await insert_booking(
        h,
        shipper_id,
        block="B",
        tonnage=Decimal(tonnage),
        distance_km=Decimal(distance_km),
        expected_paise=expected_paise,
        min_paise=min_paise,
        max_paise=max_paise,
        status=status,
        auto_finalize_at=h.clock.now() + window,
    )


async def funded_operator(h: Harness, *, rupees: float | int = 1000, admin: Session | None = None) -> Session:
    """A KYC-verified operator with `rupees` deposited (none when 0)."""
    operator = await verified_user(h, Role.OPERATOR, name="Veer Roadlines")
    if rupees:
        await fund_operator(h, operator.user_id, rupees, admin=admin)
    return operator


async def post_bid(
    h: Harness, session: Session, booking_id: str, amount: float | int = 12_000, **extra: Any
) -> httpx.Response:
    body = {"bookingId": booking_id, "amount": amount, **extra}
    return await h.client.post("/v1/bids", json=body, headers=session.headers)


async def place_bid(
    h: Harness, session: Session, booking_id: str, amount: float | int = 12_000, **extra: Any
) -> dict[str, Any]:
    response = await post_bid(h, session, booking_id, amount, **extra)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def modify_bid(h: Harness, session: Session, bid_id: str, amount: float | int) -> httpx.Response:
    return await h.client.patch(f"/v1/bids/{bid_id}", json={"amount": amount}, headers=session.headers)


async def withdraw_bid(h: Harness, session: Session, bid_id: str) -> httpx.Response:
    return await h.client.delete(f"/v1/bids/{bid_id}", headers=session.headers)


def expected_alias(booking_id: str, operator_id: str) -> str:
    """The alias computed independently of the service: "Bidder " + 8 hex digits of
    HMAC-SHA256(hmac_key, "bid-alias|<booking>|<operator>")."""
    message = f"bid-alias|{booking_id}|{operator_id}".encode()
    return "Bidder " + hmac.new(TEST_HMAC_KEY.encode(), message, hashlib.sha256).hexdigest()[:8]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    return dict(response.json())


# --- database reads ---------------------------------------------------------------------------


async def bid_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = (await conn.execute(select(bids).order_by(bids.c.created_at, bids.c.id))).mappings().all()
    return [dict(r) for r in rows]


async def bid_row(h: Harness, bid_id: str) -> dict[str, Any]:
    [row] = [r for r in await bid_rows(h) if r["id"] == bid_id]
    return row


async def booking_status(h: Harness, booking_id: str) -> str:
    async with h.app.state.services.db.read() as conn:
        status: str = (
            await conn.execute(select(bookings.c.status).where(bookings.c.id == booking_id))
        ).scalar_one()
    return status


async def fee_entries(h: Harness, operator_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = (
            select(ledger_entries)
            .where(ledger_entries.c.operator_id == operator_id, ledger_entries.c.type == "BIDDING_FEE")
            .order_by(ledger_entries.c.created_at)
        )
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def all_entries(h: Harness, operator_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = select(ledger_entries).where(ledger_entries.c.operator_id == operator_id)
        return [dict(r) for r in (await conn.execute(query.order_by(ledger_entries.c.created_at))).mappings()]


async def stored_balance(h: Harness, operator_id: str) -> int | None:
    async with h.app.state.services.db.read() as conn:
        query = select(ledger_accounts.c.balance_paise).where(ledger_accounts.c.operator_id == operator_id)
        balance: int | None = (await conn.execute(query)).scalar()
    return balance


async def outbox(h: Harness, name: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = select(outbox_events).where(outbox_events.c.name == name).order_by(outbox_events.c.created_at)
        return [dict(r, payload=json.loads(r["payload"])) for r in (await conn.execute(query)).mappings()]


async def inbox(h: Harness, user_id: str) -> list[str]:
    async with h.app.state.services.db.read() as conn:
        query = select(notifications.c.message).where(notifications.c.user_id == user_id)
        return [m for (m,) in (await conn.execute(query.order_by(notifications.c.created_at))).all()]


async def audit_api(h: Harness, admin: Session, **params: str) -> list[dict[str, Any]]:
    """Audit entries through the API. The chain outlives each test's emptied tables, so
    callers filter on ids only this test has (bids, users, events)."""
    response = await h.client.get(
        "/v1/admin/audit", params={"pageSize": 100, **params}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])
