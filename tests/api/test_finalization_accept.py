"""`POST /v1/bids/{bidId}/accept` (PRODUCT §6 Finalization): the shipper accepts one ACTIVE
bid; in one transaction the booking is FINALIZED, the bid ACCEPTED, the others REJECTED and
the shipment created. ACS RF14 refuses an operator who is no longer eligible."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rodistaa.core.roles import Role
from tests.api.bid_flows import expected_alias
from tests.api.booking_flows import cancel_booking, session_with_role
from tests.api.finalization_setup import (
    DEPOSIT_PAISE,
    Market,
    acs_decisions,
    audit_for,
    balance,
    bid_statuses,
    block_after_acs,
    block_operator,
    booking_row,
    notifications_of,
    outbox_for,
    reject_kyc,
    seeded_market,
    set_bid_status,
    shipment_rows,
    tickets_referring_to,
)
from tests.api.flows import Session, admin_session
from tests.api.freight_setup import verified_user
from tests.conftest import Harness


async def accept(
    h: Harness, session: Session | None, bid_id: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    headers = session.headers if session else {}
    return await h.client.post(f"/v1/bids/{bid_id}/accept", json=body, headers=headers)


async def snapshot(h: Harness, market: Market) -> dict[str, Any]:
    """Everything a refused accept must leave as it was."""
    return {
        "booking": await booking_row(h, market.booking_id),
        "bids": await bid_statuses(h, market.booking_id),
        "shipments": await shipment_rows(h, market.booking_id),
        "audit": await audit_for(h, market.booking_id, "booking.finalized"),
        "outbox": await outbox_for(h, "booking.finalized", market.booking_id),
    }


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text


class TestAccept:
    async def test_the_shipper_accepts_a_bid_of_their_choice(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_500_000, 1_400_000, 1_600_000])
        chosen, cheaper, dearer = market.bids  # the shipper need not take the lowest

        response = await accept(harness, market.shipper, chosen.id)

        assert response.status_code == 200, response.text
        body = response.json()
        shipment_id = body["shipment"]["id"]
        assert body["booking"]["id"] == market.booking_id
        assert body["booking"]["status"] == "FINALIZED"
        assert body["booking"]["finalizedAt"] is not None
        assert body["booking"]["cancelReason"] is None
        # The bid is masked as in the bids API (no operatorId); the shipment names the operator.
        assert body["bid"] == {
            "id": chosen.id,
            "bookingId": market.booking_id,
            "operatorAlias": expected_alias(market.booking_id, chosen.operator.user_id),
            "amount": 15000.0,
            "status": "ACCEPTED",
            "createdAt": body["bid"]["createdAt"],
            "updatedAt": body["bid"]["updatedAt"],
        }
        assert shipment_id.startswith("SH-")
        assert body["shipment"] | {"id": None, "createdAt": None} == {
            "id": None,
            "bookingId": market.booking_id,
            "bidId": chosen.id,
            "shipperId": market.shipper.user_id,
            "operatorId": chosen.operator.user_id,
            "driverId": None,
            "truckId": None,
            "agreedPrice": 15000.0,
            "status": "ASSIGNED",
            "createdAt": None,
        }
        assert body["skippedBidIds"] == []

        booking = await booking_row(harness, market.booking_id)
        assert (booking["status"], booking["finalized_at"]) == ("FINALIZED", harness.clock.now())
        assert await bid_statuses(harness, market.booking_id) == {
            chosen.id: "ACCEPTED",
            cheaper.id: "REJECTED",
            dearer.id: "REJECTED",
        }
        [shipment] = await shipment_rows(harness, market.booking_id)
        copied = {k: shipment[k] for k in ("pickup_city", "pickup_pincode", "drop_city", "drop_address")}
        assert copied == {
            "pickup_city": "Mumbai",
            "pickup_pincode": "400001",
            "drop_city": "Delhi",
            "drop_address": "456 Park Avenue",
        }
        assert (shipment["pickup_lat"], shipment["drop_lng"]) == (19.076, 77.209)
        assert (shipment["goods_type"], float(shipment["tonnage"]), float(shipment["distance_km"])) == (
            "Cement",
            5.0,
            1491.58,
        )
        assert shipment["id"] == shipment_id
        assert (shipment["status"], shipment["agreed_price_paise"], shipment["bid_id"]) == (
            "ASSIGNED",
            1_500_000,
            chosen.id,
        )
        assert (shipment["shipper_id"], shipment["operator_id"], shipment["driver_id"]) == (
            market.shipper.user_id,
            chosen.operator.user_id,
            None,
        )

    async def test_notifications_outbox_and_audit_record_the_finalization(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_500_000, 1_400_000, 1_600_000])
        chosen, cheaper, dearer = market.bids

        body = (await accept(harness, market.shipper, chosen.id)).json()
        shipment_id = body["shipment"]["id"]

        [won] = await notifications_of(harness, chosen.operator.user_id)
        assert chosen.id in won and shipment_id in won and "awaits truck and driver assignment" in won
        for loser in (cheaper, dearer):
            assert await notifications_of(harness, loser.operator.user_id) == [
                f"Your bid {loser.id} on booking {market.booking_id} was not selected."
            ]
        assert await notifications_of(harness, market.shipper.user_id) == []  # they chose it

        [finalized] = await outbox_for(harness, "booking.finalized", market.booking_id)
        assert finalized["payload"] == {
            "bookingId": market.booking_id,
            "status": "FINALIZED",
            "bidId": chosen.id,
            "operatorId": chosen.operator.user_id,
            "shipmentId": shipment_id,
            "method": "accept",
        }
        [created] = await outbox_for(harness, "shipment.created", market.booking_id)
        assert created["payload"] == {
            "shipmentId": shipment_id,
            "bookingId": market.booking_id,
            "bidId": chosen.id,
            "shipperId": market.shipper.user_id,
            "operatorId": chosen.operator.user_id,
            "status": "ASSIGNED",
        }

        [decision] = await acs_decisions(harness, "bid.finalize")
        assert (decision["outcome"], decision["actor_id"]) == ("ALLOW", market.shipper.user_id)
        assert decision["context"]["winner"] == {
            "bidId": chosen.id,
            "operatorId": chosen.operator.user_id,
            "amount": 1_500_000,
            "bidFee": 17_500,
            "ledgerBalance": DEPOSIT_PAISE,
            "kycStatus": "VERIFIED",
            "status": "ACTIVE",
        }
        assert "notes" not in decision["context"]["bid"]
        assert await acs_decisions(harness, "bid.evaluate") == []  # no tie-breaker for a choice

        [entry] = await audit_for(harness, market.booking_id, "booking.finalized")
        assert (entry["actor"], entry["entity_type"]) == (market.shipper.user_id, "booking")
        assert entry["data"] == {
            "bidId": chosen.id,
            "operatorId": chosen.operator.user_id,
            "amountPaise": 1_500_000,
            "shipmentId": shipment_id,
            "method": "accept",
            "finalizedByRole": "SHIPPER",
            "skippedBidIds": [],
            "rejectedBidIds": [cheaper.id, dearer.id],
            "acsEventId": decision["event_id"],
        }
        for bid in market.bids:  # fees are never refunded; winning costs nothing more
            assert await balance(harness, bid.operator) == DEPOSIT_PAISE

    @pytest.mark.parametrize("status", ["REJECTED", "WITHDRAWN", "EXPIRED"])
    async def test_a_bid_that_is_not_active_cannot_be_accepted(self, harness: Harness, status: str) -> None:
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        await set_bid_status(harness, market.bids[0].id, status)
        before = await snapshot(harness, market)

        response = await accept(harness, market.shipper, market.bids[0].id)

        assert_error(response, 409, "INVALID_STATE")
        assert await snapshot(harness, market) == before

    async def test_a_second_accept_finds_the_bid_rejected(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        assert (await accept(harness, market.shipper, market.bids[0].id)).status_code == 200
        before = await snapshot(harness, market)

        for bid in market.bids:
            assert_error(await accept(harness, market.shipper, bid.id), 409, "INVALID_STATE")

        assert await snapshot(harness, market) == before
        assert len(before["shipments"]) == 1

    async def test_a_cancelled_booking_cannot_be_finalized(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_500_000])
        assert (await cancel_booking(harness, market.shipper, market.booking_id)).status_code == 200
        before = await snapshot(harness, market)

        response = await accept(harness, market.shipper, market.bids[0].id)

        assert_error(response, 409, "INVALID_STATE")
        assert await snapshot(harness, market) == before
        assert before["booking"]["status"] == "CANCELLED"

    @pytest.mark.parametrize("make_ineligible", [reject_kyc, block_operator])
    async def test_an_ineligible_operator_cannot_win(self, harness: Harness, make_ineligible: Any) -> None:
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        bid = market.bids[1]
        await make_ineligible(harness, bid.operator)
        before = await snapshot(harness, market)

        response = await accept(harness, market.shipper, bid.id)

        assert_error(response, 409, "WINNER_INELIGIBLE")
        assert response.json()["details"]["ruleId"] == "RF14_AUTO_FINALIZATION_LEDGER_RACE"
        assert await snapshot(harness, market) == before
        [ticket] = await tickets_referring_to(harness, bid.id)
        assert (ticket["rule_id"], ticket["team"]) == ("RF14_AUTO_FINALIZATION_LEDGER_RACE", "ops")
        assert market.booking_id in ticket["refs"]
        [decision] = await acs_decisions(harness, "bid.finalize")
        assert (decision["outcome"], decision["code"]) == ("REJECT", "WINNER_INELIGIBLE")
        # The shipper may still accept an eligible bid.
        assert (await accept(harness, market.shipper, market.bids[0].id)).status_code == 200


class TestAcceptAtTheAmountSeen:
    async def test_the_expected_amount_is_accepted(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_500_000, 1_400_000])

        response = await accept(harness, market.shipper, market.bids[0].id, {"expectedAmount": 15000})

        assert response.status_code == 200, response.text
        assert response.json()["shipment"]["agreedPrice"] == 15000.0
        assert (await shipment_rows(harness, market.booking_id))[0]["agreed_price_paise"] == 1_500_000

    @pytest.mark.parametrize("seen", [14999.99, 15000.01, 12000])
    async def test_another_current_amount_is_409_bid_changed(self, harness: Harness, seen: float) -> None:
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        before = await snapshot(harness, market)

        response = await accept(harness, market.shipper, market.bids[0].id, {"expectedAmount": seen})

        assert_error(response, 409, "BID_CHANGED")
        assert await snapshot(harness, market) == before
        assert before["bids"] == {b.id: "ACTIVE" for b in market.bids}
        assert await acs_decisions(harness, "bid.finalize") == []  # refused before ACS

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"expectedAmount": 0}, "expectedAmount"),
            ({"expectedAmount": "x"}, "expectedAmount"),
            ({"amount": 1}, "amount"),
        ],
    )
    async def test_a_bad_body_is_400(self, harness: Harness, body: dict[str, Any], field: str) -> None:
        market = await seeded_market(harness, [1_500_000])
        before = await snapshot(harness, market)

        response = await accept(harness, market.shipper, market.bids[0].id, body)

        assert_error(response, 400, "VALIDATION_ERROR")
        assert response.json()["details"]["field"] == field
        assert await snapshot(harness, market) == before


class TestStandingLostAfterAcs:
    async def test_an_operator_blocked_after_rf14_allowed_it_does_not_win(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """RF14 allowed the winner; an admin blocked the operator before the winning
        transaction: the transaction's own re-check refuses it (409) and nothing changes."""
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        chosen = market.bids[0]
        block_after_acs(harness, monkeypatch, chosen.operator)
        before = await snapshot(harness, market)

        response = await accept(harness, market.shipper, chosen.id)

        assert_error(response, 409, "WINNER_INELIGIBLE")
        assert response.json()["details"] == {"bidId": chosen.id}
        [decision] = await acs_decisions(harness, "bid.finalize")
        assert decision["outcome"] == "ALLOW"  # ACS saw an eligible operator
        assert await snapshot(harness, market) == before
        assert await notifications_of(harness, chosen.operator.user_id) == []


class TestAcceptAccess:
    async def test_anonymous_is_refused(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_500_000])
        assert_error(await accept(harness, None, market.bids[0].id), 401, "UNAUTHORIZED")

    @pytest.mark.parametrize("role", [Role.OPERATOR, Role.DRIVER, Role.ADMIN, Role.KYC_ADMIN])
    async def test_only_shippers_accept(self, harness: Harness, role: Role) -> None:
        market = await seeded_market(harness, [1_500_000])
        before = await snapshot(harness, market)
        session = await session_with_role(harness, role)

        assert_error(await accept(harness, session, market.bids[0].id), 403, "FORBIDDEN")

        assert await snapshot(harness, market) == before

    async def test_the_bidding_operator_may_not_accept_its_own_bid(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_500_000])
        before = await snapshot(harness, market)

        assert_error(await accept(harness, market.bids[0].operator, market.bids[0].id), 403, "FORBIDDEN")

        assert await snapshot(harness, market) == before

    async def test_another_shippers_bid_is_not_found(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_500_000])
        other = await verified_user(harness, Role.SHIPPER)
        before = await snapshot(harness, market)

        assert_error(await accept(harness, other, market.bids[0].id), 404, "NOT_FOUND")

        assert await snapshot(harness, market) == before

    async def test_an_unknown_bid_is_not_found(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        assert_error(await accept(harness, shipper, "BID-01J0000000000000000000000X"), 404, "NOT_FOUND")

    async def test_an_admin_uses_the_admin_route_instead(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_500_000])
        admin = await admin_session(harness)
        assert_error(await accept(harness, admin, market.bids[0].id), 403, "FORBIDDEN")
        assert (await booking_row(harness, market.booking_id))["status"] == "NEGOTIATION"
