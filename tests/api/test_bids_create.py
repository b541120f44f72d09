"""Placing a bid (PRODUCT §6 "Bidding"): the fee debited in the bid's transaction, the booking
moving to NEGOTIATION, roles, validation, the price range, the truck, the bid window and
duplicates — with the database (bid, ledger, booking, outbox, inbox, audit) checked each time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from rodistaa.core.roles import Role
from tests.api.bid_flows import (
    STANDARD_FEE_PAISE,
    all_entries,
    assert_error,
    audit_api,
    bid_row,
    bid_rows,
    booking_status,
    fee_entries,
    funded_operator,
    inbox,
    outbox,
    place_bid,
    post_bid,
    seed_booking,
    stored_balance,
    withdraw_bid,
)
from tests.api.booking_flows import cancel_booking, session_with_role
from tests.api.flows import Session, admin_session
from tests.api.freight_setup import active_fleet_truck, next_registration, verified_user
from tests.api.onboarding_setup import insert_truck
from tests.conftest import Harness


async def parties(h: Harness, *, rupees: int = 1000) -> tuple[Session, Session, str]:
    shipper = await verified_user(h, Role.SHIPPER)
    operator = await funded_operator(h, rupees=rupees)
    return shipper, operator, await seed_booking(h, shipper.user_id)


async def assert_nothing_written(h: Harness, operator: Session, booking_id: str, balance: int) -> None:
    assert await bid_rows(h) == []
    assert await fee_entries(h, operator.user_id) == []
    assert await stored_balance(h, operator.user_id) == balance
    assert await booking_status(h, booking_id) == "OPEN"


class TestPlaceBid:
    async def test_the_fee_of_10_t_over_500_km_is_175_rupees(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper, operator, booking_id = await parties(harness)
        harness.clock.advance(minutes=3)
        response = await post_bid(harness, operator, booking_id, 12_345.5, notes="  Can load tomorrow  ")
        assert response.status_code == 201, response.text
        bid = response.json()
        now = harness.clock.now()
        assert bid["id"].startswith("BK-")
        assert {k: v for k, v in bid.items() if k not in ("id", "createdAt", "updatedAt")} == {
            "bookingId": booking_id,
            "operatorId": operator.user_id,
            "truckId": None,
            "amount": 12_345.5,
            "fee": 175.0,
            "notes": "Can load tomorrow",
            "status": "ACTIVE",
            "modificationCount": 0,
        }
        assert datetime.fromisoformat(bid["createdAt"]) == now == datetime.fromisoformat(bid["updatedAt"])
        row = await bid_row(harness, bid["id"])
        assert (row["amount_paise"], row["fee_paise"], row["status"]) == (1_234_550, 17_500, "ACTIVE")
        [entry] = await fee_entries(harness, operator.user_id)
        assert (entry["amount_paise"], entry["balance_after_paise"]) == (-17_500, 82_500)
        assert (entry["reference_type"], entry["reference_id"]) == ("BID", bid["id"])
        assert entry["created_by"] == operator.user_id
        assert await stored_balance(harness, operator.user_id) == 82_500
        assert await booking_status(harness, booking_id) == "NEGOTIATION"
        [event] = await outbox(harness, "bid.created")
        assert event["payload"] == {
            "bidId": bid["id"],
            "bookingId": booking_id,
            "operatorId": operator.user_id,
            "status": "ACTIVE",
            "createdAt": now.isoformat(),
        }
        assert await inbox(harness, shipper.user_id) == [f"New bid on booking {booking_id} (bid {bid['id']})"]
        [audit] = await audit_api(harness, admin, action="bid.created", entityId=bid["id"])
        assert audit["performedBy"] == operator.user_id
        metadata = audit["metadata"]
        assert {k: metadata[k] for k in ("bookingId", "operatorId", "amountPaise", "feePaise")} == {
            "bookingId": booking_id,
            "operatorId": operator.user_id,
            "amountPaise": 1_234_550,
            "feePaise": 17_500,
        }
        assert metadata["ledgerEntryId"] == entry["id"]
        assert "Can load" not in str(audit)  # free text never reaches the audit log
        [ledger_audit] = await audit_api(harness, admin, action="ledger.entry", entityId=entry["id"])
        assert ledger_audit["metadata"]["referenceId"] == bid["id"]

    async def test_the_fee_of_7_5_t_over_123_km_is_68_25_rupees(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await funded_operator(harness, rupees=100)
        booking_id = await seed_booking(harness, shipper.user_id, tonnage="7.5", distance_km="123")
        bid = await place_bid(harness, operator, booking_id, 12_000)
        assert bid["fee"] == 68.25
        [entry] = await fee_entries(harness, operator.user_id)
        assert entry["amount_paise"] == -6_825
        assert await stored_balance(harness, operator.user_id) == 10_000 - 6_825

    async def test_a_balance_of_exactly_the_fee_is_enough_and_reaches_zero(self, harness: Harness) -> None:
        _, operator, booking_id = await parties(harness, rupees=175)
        await place_bid(harness, operator, booking_id)
        assert await stored_balance(harness, operator.user_id) == 0

    async def test_a_second_operator_keeps_the_booking_in_negotiation(self, harness: Harness) -> None:
        shipper, first, booking_id = await parties(harness)
        second = await funded_operator(harness)
        await place_bid(harness, first, booking_id, 13_000)
        await place_bid(harness, second, booking_id, 12_000)
        assert await booking_status(harness, booking_id) == "NEGOTIATION"
        assert len(await inbox(harness, shipper.user_id)) == 2

    async def test_with_an_active_truck_of_the_operator(self, harness: Harness) -> None:
        _, operator, booking_id = await parties(harness)
        truck_id = await active_fleet_truck(harness, operator.user_id)
        bid = await place_bid(harness, operator, booking_id, truckId=truck_id)
        assert bid["truckId"] == truck_id
        assert (await bid_row(harness, bid["id"]))["truck_id"] == truck_id

    async def test_range_bounds_are_inclusive(self, harness: Harness) -> None:
        shipper, low, _ = await parties(harness)
        high = await funded_operator(harness)
        # A floor above RF21's predatory threshold (₹5,625), so the range alone decides.
        booking_id = await seed_booking(harness, shipper.user_id, min_paise=600_000)
        assert (await place_bid(harness, low, booking_id, 6_000))["amount"] == 6_000
        assert (await place_bid(harness, high, booking_id, 20_000))["amount"] == 20_000

    async def test_rebidding_after_a_withdrawal_pays_a_new_fee(self, harness: Harness) -> None:
        _, operator, booking_id = await parties(harness)
        first = await place_bid(harness, operator, booking_id, 12_000)
        assert (await withdraw_bid(harness, operator, first["id"])).status_code == 200
        second = await place_bid(harness, operator, booking_id, 11_000)
        assert second["id"] != first["id"]
        assert [e["reference_id"] for e in await fee_entries(harness, operator.user_id)] == [
            first["id"],
            second["id"],
        ]
        assert await stored_balance(harness, operator.user_id) == 100_000 - 2 * STANDARD_FEE_PAISE


class TestWhoMayBid:
    async def test_anonymous_is_401(self, harness: Harness) -> None:
        response = await harness.client.post("/v1/bids", json={"bookingId": "RID-20240101-0001", "amount": 1})
        assert_error(response, 401, "UNAUTHORIZED")

    @pytest.mark.parametrize(
        "role", [Role.SHIPPER, Role.DRIVER, Role.ADMIN, Role.KYC_ADMIN, Role.FRANCHISE_UNIT]
    )
    async def test_other_roles_are_403(self, harness: Harness, role: Role) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        booking_id = await seed_booking(harness, shipper.user_id)
        session = shipper if role is Role.SHIPPER else await session_with_role(harness, role)
        assert_error(await post_bid(harness, session, booking_id), 403, "FORBIDDEN")
        assert await bid_rows(harness) == []
        assert await booking_status(harness, booking_id) == "OPEN"


class TestValidation:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"amount": 0}, "amount"),
            ({"amount": -10}, "amount"),
            ({"amount": 100.001}, "amount"),
            ({"amount": "lots"}, "amount"),
            ({"amount": None}, "amount"),
            ({"amount": 100_000_001}, "amount"),
            ({"notes": "x" * 501}, "notes"),
            ({"bookingId": ""}, "bookingId"),
            ({"unknown": 1}, "unknown"),
        ],
    )
    async def test_bad_input_is_400_naming_the_field(
        self, harness: Harness, body: dict[str, Any], field: str
    ) -> None:
        _, operator, booking_id = await parties(harness)
        response = await harness.client.post(
            "/v1/bids", json={"bookingId": booking_id, "amount": 12_000, **body}, headers=operator.headers
        )
        details = assert_error(response, 400, "VALIDATION_ERROR")["details"]
        assert field in str(details), details
        await assert_nothing_written(harness, operator, booking_id, 100_000)

    async def test_missing_booking_id_is_400(self, harness: Harness) -> None:
        operator = await funded_operator(harness)
        response = await harness.client.post("/v1/bids", json={"amount": 12_000}, headers=operator.headers)
        assert "bookingId" in str(assert_error(response, 400, "VALIDATION_ERROR")["details"])

    async def test_a_notes_text_of_500_characters_is_accepted(self, harness: Harness) -> None:
        _, operator, booking_id = await parties(harness)
        notes = ("Covered body, tarpaulin and ropes. " * 15)[:500]
        bid = await place_bid(harness, operator, booking_id, notes=notes)
        assert len(bid["notes"]) == 500
        assert (await bid_row(harness, bid["id"]))["notes"] == notes


class TestBookingState:
    async def test_an_unknown_booking_is_404(self, harness: Harness) -> None:
        operator = await funded_operator(harness)
        assert_error(await post_bid(harness, operator, "RID-20240101-9999"), 404, "NOT_FOUND")
        assert await fee_entries(harness, operator.user_id) == []

    @pytest.mark.parametrize("status", ["FINALIZED", "AUTO_FINALIZED", "CANCELLED"])
    async def test_a_booking_no_longer_taking_bids_is_hidden_from_operators(
        self, harness: Harness, status: str
    ) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await funded_operator(harness)
        booking_id = await seed_booking(harness, shipper.user_id, status=status)
        assert_error(await post_bid(harness, operator, booking_id), 404, "NOT_FOUND")
        assert await bid_rows(harness) == []
        assert await booking_status(harness, booking_id) == status
        assert await stored_balance(harness, operator.user_id) == 100_000

    async def test_a_cancelled_booking_refuses_new_bids(self, harness: Harness) -> None:
        shipper, operator, booking_id = await parties(harness)
        assert (await cancel_booking(harness, shipper, booking_id)).status_code == 200
        assert_error(await post_bid(harness, operator, booking_id), 404, "NOT_FOUND")
        assert await bid_rows(harness) == []

    async def test_bidding_closes_at_auto_finalize_at(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await funded_operator(harness)
        booking_id = await seed_booking(harness, shipper.user_id, window=timedelta(minutes=5))
        harness.clock.advance(minutes=4, seconds=59)
        early = await funded_operator(harness)
        await place_bid(harness, early, booking_id)
        harness.clock.advance(seconds=1)
        response = await post_bid(harness, operator, booking_id)
        assert_error(response, 409, "BIDDING_CLOSED")
        assert [r["operator_id"] for r in await bid_rows(harness)] == [early.user_id]
        assert await stored_balance(harness, operator.user_id) == 100_000


class TestPriceRange:
    @pytest.mark.parametrize("amount", [5_999.99, 20_000.01])
    async def test_outside_the_range_is_422_with_the_bounds(self, harness: Harness, amount: float) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await funded_operator(harness)
        # A floor above RF21's predatory threshold (₹5,625), so the range alone decides.
        booking_id = await seed_booking(harness, shipper.user_id, min_paise=600_000)
        body = assert_error(await post_bid(harness, operator, booking_id, amount), 422, "BID_OUT_OF_RANGE")
        assert body["details"] == {"field": "amount", "min": 6_000.0, "max": 20_000.0}
        await assert_nothing_written(harness, operator, booking_id, 100_000)


class TestTruck:
    async def assert_truck_refused(
        self, h: Harness, operator: Session, booking_id: str, truck_id: str
    ) -> None:
        response = await post_bid(h, operator, booking_id, truckId=truck_id)
        body = assert_error(response, 422, "TRUCK_NOT_ELIGIBLE")
        assert body["details"] == {"field": "truckId"}
        await assert_nothing_written(h, operator, booking_id, 100_000)

    async def test_another_operators_truck_is_refused_like_an_unknown_one(self, harness: Harness) -> None:
        _, operator, booking_id = await parties(harness)
        other = await verified_user(harness, Role.OPERATOR)
        foreign = await active_fleet_truck(harness, other.user_id)
        await self.assert_truck_refused(harness, operator, booking_id, foreign)
        await self.assert_truck_refused(
            harness, operator, booking_id, "TRK-KA01AB1234-01ARZ3NDEKTSV4RRFFQ69G5FAV"
        )

    @pytest.mark.parametrize("status", ["PENDING_INSPECTION", "INACTIVE"])
    async def test_a_truck_that_is_not_active_is_refused(self, harness: Harness, status: str) -> None:
        _, operator, booking_id = await parties(harness)
        truck_id = await insert_truck(
            harness, operator.user_id, registration=next_registration(), unit_id=None, status=status
        )
        await self.assert_truck_refused(harness, operator, booking_id, truck_id)


class TestDuplicate:
    async def test_a_second_active_bid_is_409_and_pays_nothing(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        _, operator, booking_id = await parties(harness)
        first = await place_bid(harness, operator, booking_id, 12_000)
        response = await post_bid(harness, operator, booking_id, 11_000)
        assert_error(response, 409, "DUPLICATE_BID")
        assert [r["id"] for r in await bid_rows(harness)] == [first["id"]]
        assert len(await fee_entries(harness, operator.user_id)) == 1
        assert len(await all_entries(harness, operator.user_id)) == 2  # the deposit and one fee
        assert await stored_balance(harness, operator.user_id) == 100_000 - STANDARD_FEE_PAISE
        assert len(await audit_api(harness, admin, action="bid.created", performedBy=operator.user_id)) == 1
