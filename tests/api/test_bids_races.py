"""Bids under real concurrency (HTTP requests in parallel, each on its own connection): the
ledger never pays for more bids than it covers, one operator never holds two ACTIVE bids on a
booking nor pays twice, and a bid never survives ACTIVE on a cancelled booking. They run on
both databases; PostgreSQL is where the row locks and the unique index are really contended
(SQLite serialises writers)."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from rodistaa.core.roles import Role
from rodistaa.ledger.tables import ledger_entries
from tests.api.bid_flows import (
    STANDARD_FEE_PAISE,
    assert_error,
    bid_rows,
    booking_status,
    fee_entries,
    funded_operator,
    post_bid,
    seed_booking,
    stored_balance,
)
from tests.api.booking_flows import cancel_booking
from tests.api.freight_setup import verified_user
from tests.conftest import Harness


async def negative_balances_after(h: Harness, operator_id: str) -> int:
    async with h.app.state.services.db.read() as conn:
        query = select(func.count()).where(
            ledger_entries.c.operator_id == operator_id, ledger_entries.c.balance_after_paise < 0
        )
        return int((await conn.execute(query)).scalar_one())


class TestLedgerRace:
    async def test_a_balance_of_ten_fees_pays_for_exactly_ten_of_100_bids(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await funded_operator(harness, rupees=10 * 175)
        bookings = [await seed_booking(harness, shipper.user_id) for _ in range(100)]
        responses = await asyncio.gather(*(post_bid(harness, operator, b) for b in bookings))
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {201: 10, 422: 90}, [r.text for r in responses if r.status_code not in (201, 422)]
        # Refused by ACS RF13 (balance read before) or by the debit's own check (spent meanwhile).
        assert {r.json()["code"] for r in responses if r.status_code == 422} <= {
            "LEDGER_INSUFFICIENT",
            "INSUFFICIENT_BALANCE",
        }
        won = {r.json()["id"] for r in responses if r.status_code == 201}
        assert {r["id"] for r in await bid_rows(harness)} == won
        entries = await fee_entries(harness, operator.user_id)
        assert len(entries) == 10
        assert {e["reference_id"] for e in entries} == won
        assert all(e["amount_paise"] == -STANDARD_FEE_PAISE for e in entries)
        assert sorted(e["balance_after_paise"] for e in entries) == [
            n * STANDARD_FEE_PAISE for n in range(10)
        ]
        assert await stored_balance(harness, operator.user_id) == 0
        assert await negative_balances_after(harness, operator.user_id) == 0
        bid_bookings = {r["booking_id"] for r in await bid_rows(harness)}
        for booking_id in bookings:
            expected = "NEGOTIATION" if booking_id in bid_bookings else "OPEN"
            assert await booking_status(harness, booking_id) == expected


class TestDuplicateRace:
    async def test_parallel_bids_of_one_operator_make_one_bid_and_one_fee(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await funded_operator(harness)
        booking_id = await seed_booking(harness, shipper.user_id)
        responses = await asyncio.gather(
            *(post_bid(harness, operator, booking_id, 12_000 + n) for n in range(10))
        )
        assert sorted(r.status_code for r in responses) == [201] + [409] * 9, [r.text for r in responses]
        for response in responses:
            if response.status_code == 409:
                assert_error(response, 409, "DUPLICATE_BID")
        [bid] = await bid_rows(harness)
        assert bid["status"] == "ACTIVE"
        [entry] = await fee_entries(harness, operator.user_id)
        assert entry["reference_id"] == bid["id"]
        assert await stored_balance(harness, operator.user_id) == 100_000 - STANDARD_FEE_PAISE


class TestCancellationRace:
    async def test_a_bid_racing_a_cancellation_never_stays_active(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operators = [await funded_operator(harness) for _ in range(4)]
        for _ in range(3):
            booking_id = await seed_booking(harness, shipper.user_id)
            responses = await asyncio.gather(
                cancel_booking(harness, shipper, booking_id),
                *(post_bid(harness, op, booking_id) for op in operators),
            )
            cancelled, *bids = responses
            assert cancelled.status_code == 200, cancelled.text
            assert await booking_status(harness, booking_id) == "CANCELLED"
            stored = {r["id"]: r for r in await bid_rows(harness) if r["booking_id"] == booking_id}
            for response in bids:
                if response.status_code == 201:
                    assert stored[response.json()["id"]]["status"] == "REJECTED"
                else:
                    # Refused: the booking was already hidden (404) or closed under the lock (409).
                    assert (response.status_code, response.json()["code"]) in {
                        (404, "NOT_FOUND"),
                        (409, "INVALID_STATE"),
                    }, response.text
            assert all(r["status"] == "REJECTED" for r in stored.values())
            assert len(stored) == sum(1 for r in bids if r.status_code == 201)
        # A refused bid paid nothing: every fee belongs to a stored (now REJECTED) bid.
        for operator in operators:
            own = {r["id"] for r in await bid_rows(harness) if r["operator_id"] == operator.user_id}
            entries = await fee_entries(harness, operator.user_id)
            assert {e["reference_id"] for e in entries} == own and len(entries) == len(own)
            assert await stored_balance(harness, operator.user_id) == 100_000 - len(own) * STANDARD_FEE_PAISE
