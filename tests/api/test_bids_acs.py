"""ACS rules fed by bid events, fired through HTTP (PRODUCT §6 "Bidding", ACS.md): RF01 KYC,
RF02 expired truck documents, RF13 fee not covered, RF16 contact details in the notes, RF21
predatory amount, RF22 maintenance window (create and modify), RF20 modification flood. Each
refusal writes nothing of the bid (no row, no fee, booking unchanged) and leaves the rule's own
effects (block, ticket, watchlist, outbox event)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from rodistaa.acs.tables import acs_blocks, acs_events, acs_watchlist, tickets
from rodistaa.core.roles import Role
from tests.api.bid_flows import (
    assert_error,
    bid_row,
    bid_rows,
    booking_status,
    fee_entries,
    funded_operator,
    modify_bid,
    outbox,
    place_bid,
    post_bid,
    seed_booking,
    stored_balance,
)
from tests.api.flows import Session, admin_session, sign_up
from tests.api.freight_setup import next_mobile, next_registration, verified_user
from tests.api.ledger_flows import fund_operator
from tests.api.onboarding_setup import insert_truck
from tests.conftest import Harness


async def rows(h: Harness, table: Any) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(select(table))).mappings().all()]


async def event_row(h: Harness, event_id: str) -> dict[str, Any]:
    [row] = [r for r in await rows(h, acs_events) if r["event_id"] == event_id]
    return row


def rejected(response: Any, status: int, code: str, rule_id: str) -> str:
    body = assert_error(response, status, code)
    assert body["details"]["ruleId"] == rule_id, body
    return str(body["details"]["eventId"])


async def assert_no_bid(h: Harness, operator: Session, booking_id: str, balance: int | None) -> None:
    assert await bid_rows(h) == []
    assert await fee_entries(h, operator.user_id) == []
    assert await stored_balance(h, operator.user_id) == balance
    assert await booking_status(h, booking_id) == "OPEN"


async def open_booking(h: Harness) -> str:
    shipper = await verified_user(h, Role.SHIPPER)
    return await seed_booking(h, shipper.user_id)


class TestRf01Kyc:
    async def test_an_operator_without_verified_kyc_cannot_bid(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        operator = await sign_up(harness, next_mobile(), role=Role.OPERATOR, name="New Fleet")
        await fund_operator(harness, operator.user_id, 1000)
        event_id = rejected(
            await post_bid(harness, operator, booking_id), 403, "KYC_REQUIRED", "RF01_KYC_MANDATORY"
        )
        await assert_no_bid(harness, operator, booking_id, 100_000)
        event = await event_row(harness, event_id)
        assert (event["event_type"], event["outcome"]) == ("bid.create", "REJECT")
        context = json.loads(event["context"])
        assert context["operator"]["kycStatus"] != "VERIFIED"
        assert context["computedFees"] == {"bidFee": 17_500}
        assert context["operator"]["ledgerBalance"] == 100_000
        assert context["booking"]["id"] == booking_id
        assert context["bid"]["amount"] == 1_200_000


class TestRf02ExpiredTruck:
    async def test_bidding_with_an_expired_docs_truck_blocks_it(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness)
        truck_id = await insert_truck(
            harness, operator.user_id, registration=next_registration(), unit_id=None, status="EXPIRED_DOCS"
        )
        response = await post_bid(harness, operator, booking_id, truckId=truck_id)
        rejected(response, 403, "TRUCK_DOCS_EXPIRED", "RF02_TRUCK_DOCS_EXPIRED")
        await assert_no_bid(harness, operator, booking_id, 100_000)
        [block] = await rows(harness, acs_blocks)
        assert (block["entity_type"], block["entity_id"], block["reason"]) == (
            "truck",
            truck_id,
            "EXPIRED_DOCUMENTS",
        )
        [ticket] = await rows(harness, tickets)
        assert (ticket["team"], json.loads(ticket["refs"])) == ("franchise", [truck_id])
        # Blocked now: even without RF02 the truck is no longer eligible.
        response = await post_bid(harness, operator, booking_id, truckId=truck_id)
        assert_error(response, 422, "TRUCK_NOT_ELIGIBLE")

    async def test_another_operators_truck_is_not_described_to_acs(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness)
        other = await verified_user(harness, Role.OPERATOR)
        foreign = await insert_truck(
            harness, other.user_id, registration=next_registration(), unit_id=None, status="EXPIRED_DOCS"
        )
        assert_error(
            await post_bid(harness, operator, booking_id, truckId=foreign), 422, "TRUCK_NOT_ELIGIBLE"
        )
        assert await rows(harness, acs_blocks) == []  # nobody can get a competitor's truck blocked


class TestRf13Balance:
    async def test_a_balance_below_the_fee_is_422_and_announced(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness, rupees=174.99)
        response = await post_bid(harness, operator, booking_id)
        rejected(response, 422, "LEDGER_INSUFFICIENT", "RF13_LEDGER_NEGATIVE_PREVENTION")
        await assert_no_bid(harness, operator, booking_id, 17_499)
        [event] = await outbox(harness, "account.insufficient_funds")
        assert event["payload"] == {"operatorId": operator.user_id, "requiredPaise": 17_500}

    async def test_an_operator_without_a_ledger_cannot_bid(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness, rupees=0)
        rejected(
            await post_bid(harness, operator, booking_id),
            422,
            "LEDGER_INSUFFICIENT",
            "RF13_LEDGER_NEGATIVE_PREVENTION",
        )
        await assert_no_bid(harness, operator, booking_id, None)


class TestRf16Notes:
    async def test_a_phone_number_in_the_notes_is_refused_and_watchlisted(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness)
        response = await post_bid(
            harness, operator, booking_id, notes="Call me on 98765 43210 for a better rate"
        )
        event_id = rejected(response, 403, "PII_REDACTED", "RF16_PII_LEAK_REDACTION")
        await assert_no_bid(harness, operator, booking_id, 100_000)
        [entry] = await rows(harness, acs_watchlist)
        assert (entry["entity_type"], entry["entity_id"]) == ("user", operator.user_id)
        assert "PII_LEAK_ATTEMPT" in entry["reasons"]
        stored = await event_row(harness, event_id)
        assert json.loads(stored["event"])["payload"]["text"].startswith("Call me")
        # RF16 read the payload; the stored context does not keep the number a second time.
        context = json.loads(stored["context"])
        assert "notes" not in context["bid"]
        assert "98765" not in stored["context"]

    async def test_plain_notes_pass(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness)
        bid = await place_bid(harness, operator, booking_id, notes="Covered body, loading at 6 am")
        assert (await bid_row(harness, bid["id"]))["notes"] == "Covered body, loading at 6 am"
        assert await rows(harness, acs_watchlist) == []


class TestRf21Predatory:
    async def test_a_bid_far_below_the_estimate_is_held(self, harness: Harness) -> None:
        # Expected ₹12,500: the estimator's floor is 90 % (₹11,250) and RF21 holds bids under
        # half of it (₹5,625), inside the shipper's own range (₹5,000 to ₹20,000).
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness)
        response = await post_bid(harness, operator, booking_id, 5_624.99)
        rejected(response, 403, "PREDATORY_BID_HOLD", "RF21_PREDATORY_BID_DETECT")
        await assert_no_bid(harness, operator, booking_id, 100_000)
        [entry] = await rows(harness, acs_watchlist)
        assert (entry["entity_type"], entry["entity_id"]) == ("operator", operator.user_id)
        [ticket] = await rows(harness, tickets)
        assert (ticket["team"], json.loads(ticket["refs"])) == ("ops", [booking_id, operator.user_id])

    async def test_an_amount_outside_the_range_is_refused_before_acs(self, harness: Harness) -> None:
        # Range ₹6,000-₹20,000: ₹5,000 is predatory (under ₹5,625) but validation refuses it
        # anyway, so RF21 must not run and leave a watchlist entry and a ticket behind.
        shipper = await verified_user(harness, Role.SHIPPER)
        booking_id = await seed_booking(harness, shipper.user_id, min_paise=600_000)
        operator = await funded_operator(harness)
        assert_error(await post_bid(harness, operator, booking_id, 5_000), 422, "BID_OUT_OF_RANGE")
        await assert_no_bid(harness, operator, booking_id, 100_000)
        assert await rows(harness, acs_events) == []
        assert await rows(harness, tickets) == []
        assert await rows(harness, acs_watchlist) == []

    async def test_a_modification_outside_the_range_is_refused_before_acs(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness)
        bid = await place_bid(harness, operator, booking_id, 12_000)
        assert_error(await modify_bid(harness, operator, bid["id"], 4_999), 422, "BID_OUT_OF_RANGE")
        assert [r["event_type"] for r in await rows(harness, acs_events)] == ["bid.create"]
        row = await bid_row(harness, bid["id"])
        assert (row["amount_paise"], row["modification_count"]) == (1_200_000, 0)

    async def test_the_threshold_itself_is_not_predatory(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness)
        assert (await place_bid(harness, operator, booking_id, 5_625))["amount"] == 5_625
        assert await rows(harness, tickets) == []


async def maintenance_window(h: Harness, admin: Session, operator_id: str | None) -> None:
    now = h.clock.now()
    body = {
        "operatorId": operator_id,
        "startsAt": (now - timedelta(minutes=5)).isoformat(),
        "endsAt": (now + timedelta(hours=2)).isoformat(),
        "reason": "Fleet audit",
    }
    response = await h.client.post("/v1/admin/maintenance-windows", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text


class TestRf22MaintenanceWindow:
    async def test_no_bidding_during_the_operators_window(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        booking_id = await open_booking(harness)
        operator, other = (
            await funded_operator(harness, admin=admin),
            await funded_operator(harness, admin=admin),
        )
        await maintenance_window(harness, admin, operator.user_id)
        response = await post_bid(harness, operator, booking_id)
        rejected(response, 403, "MAINTENANCE_WINDOW", "RF22_MAINTENANCE_WINDOW_BLOCK")
        assert await fee_entries(harness, operator.user_id) == []
        assert [e["payload"] for e in await outbox(harness, "ops.maintenance_block")] == [
            {"operatorId": operator.user_id, "action": "bid.create"}
        ]
        await place_bid(harness, other, booking_id)  # another operator is not in the window

    async def test_no_modification_during_a_platform_window(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness, admin=admin)
        bid = await place_bid(harness, operator, booking_id, 12_000)
        await maintenance_window(harness, admin, None)
        response = await modify_bid(harness, operator, bid["id"], 11_000)
        rejected(response, 403, "MAINTENANCE_WINDOW", "RF22_MAINTENANCE_WINDOW_BLOCK")
        row = await bid_row(harness, bid["id"])
        assert (row["amount_paise"], row["modification_count"]) == (1_200_000, 0)


class TestRf20ModificationFlood:
    async def test_the_eleventh_modification_in_a_minute_is_throttled(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness)
        bid = await place_bid(harness, operator, booking_id, 12_000)
        for n in range(10):
            harness.clock.advance(seconds=5)
            response = await modify_bid(harness, operator, bid["id"], 11_000 + n)
            assert response.status_code == 200, response.text
        harness.clock.advance(seconds=5)
        response = await modify_bid(harness, operator, bid["id"], 10_500)
        rejected(response, 429, "RATE_LIMIT_EXCEEDED", "RF20_BID_FLOOD_RATE_LIMIT")
        assert response.headers["Retry-After"] == "60"
        row = await bid_row(harness, bid["id"])
        assert (row["amount_paise"], row["modification_count"]) == (1_100_900, 10)
        assert [e["payload"] for e in await outbox(harness, "abuse.rate_limit")] == [
            {"userId": operator.user_id, "action": "bid.modify"}
        ]
        assert len(await fee_entries(harness, operator.user_id)) == 1  # modifications pay nothing

    async def test_the_window_slides(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        operator = await funded_operator(harness)
        bid = await place_bid(harness, operator, booking_id, 12_000)
        for n in range(10):
            assert (await modify_bid(harness, operator, bid["id"], 11_000 + n)).status_code == 200
        assert (await modify_bid(harness, operator, bid["id"], 10_500)).status_code == 429
        # A minute after the burst (throttled attempt included) the budget is back.
        harness.clock.advance(seconds=60)
        response = await modify_bid(harness, operator, bid["id"], 10_400)
        assert response.status_code == 200, response.text
        assert (await bid_row(harness, bid["id"]))["modification_count"] == 11

    async def test_the_count_is_per_user(self, harness: Harness) -> None:
        booking_id = await open_booking(harness)
        busy, calm = await funded_operator(harness), await funded_operator(harness)
        busy_bid = await place_bid(harness, busy, booking_id, 12_000)
        calm_bid = await place_bid(harness, calm, booking_id, 13_000)
        for n in range(10):
            assert (await modify_bid(harness, busy, busy_bid["id"], 11_000 + n)).status_code == 200
        assert (await modify_bid(harness, busy, busy_bid["id"], 10_500)).status_code == 429
        assert (await modify_bid(harness, calm, calm_bid["id"], 12_500)).status_code == 200
