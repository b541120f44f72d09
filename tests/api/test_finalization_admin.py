"""`POST /v1/admin/bookings/{bookingId}/finalize`: an admin finalizes with a chosen bid
(eligibility checked by ACS RF14) or by the candidate order (ineligible candidates skipped;
none left → CANCELLED with NO_VALID_BIDS). The reason is required and never audited."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rodistaa.acs.tables import acs_events
from rodistaa.core.roles import Role
from tests.api.booking_flows import session_with_role
from tests.api.finalization_setup import (
    Market,
    acs_decisions,
    audit_for,
    bid_statuses,
    booking_row,
    notifications_of,
    outbox_for,
    reject_kyc,
    seeded_market,
    shipment_rows,
    tickets_referring_to,
)
from tests.api.flows import Session, admin_session
from tests.api.freight_setup import verified_user
from tests.conftest import Harness

REASON = "Shipper asked support to close bidding by phone"


async def finalize(
    h: Harness, session: Session | None, booking_id: str, body: dict[str, Any] | None
) -> httpx.Response:
    headers = session.headers if session else {}
    return await h.client.post(f"/v1/admin/bookings/{booking_id}/finalize", json=body, headers=headers)


async def snapshot(h: Harness, market: Market) -> dict[str, Any]:
    return {
        "booking": await booking_row(h, market.booking_id),
        "bids": await bid_statuses(h, market.booking_id),
        "shipments": await shipment_rows(h, market.booking_id),
        "finalized": await audit_for(h, market.booking_id, "booking.finalized"),
        "cancelled": await audit_for(h, market.booking_id, "booking.cancelled"),
    }


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert (response.status_code, body["code"]) == (status, code), response.text
    return body


async def event_payloads(h: Harness, event_type: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = await conn.execute(select(acs_events.c.event).where(acs_events.c.event_type == event_type))
        return [json.loads(r.event)["payload"] for r in rows]


class TestAdminFinalizeWithBid:
    async def test_the_chosen_bid_wins(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        chosen, other = market.bids

        response = await finalize(harness, admin, market.booking_id, {"bidId": chosen.id, "reason": REASON})

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["booking"]["status"], body["bid"]["id"], body["bid"]["status"]) == (
            "FINALIZED",
            chosen.id,
            "ACCEPTED",
        )
        assert await bid_statuses(harness, market.booking_id) == {chosen.id: "ACCEPTED", other.id: "REJECTED"}
        [shipment] = await shipment_rows(harness, market.booking_id)
        assert (shipment["id"], shipment["agreed_price_paise"]) == (body["shipment"]["id"], 1_500_000)
        [told] = await notifications_of(harness, market.shipper.user_id)
        assert f"Booking {market.booking_id} was finalized by an admin" in told and shipment["id"] in told
        [entry] = await audit_for(harness, market.booking_id, "booking.finalized")
        assert entry["actor"] == admin.user_id
        assert entry["data"]["method"] == "admin"
        assert (entry["data"]["finalizedByRole"], entry["data"]["reasonGiven"]) == ("ADMIN", True)
        assert REASON not in json.dumps(entry["data"])
        # The reason is stored with the booking; the ACS record only says one was given.
        assert (await booking_row(harness, market.booking_id))["finalize_reason"] == REASON
        as_admin = await harness.client.get(f"/v1/bookings/{market.booking_id}", headers=admin.headers)
        assert as_admin.json()["finalizeReason"] == REASON
        as_shipper = await harness.client.get(
            f"/v1/bookings/{market.booking_id}", headers=market.shipper.headers
        )
        assert as_shipper.status_code == 200 and "finalizeReason" not in as_shipper.json()
        assert await event_payloads(harness, "bid.finalize") == [{"method": "admin", "reasonGiven": True}]
        assert REASON not in json.dumps([d["context"] for d in await acs_decisions(harness, "bid.finalize")])
        # An admin sees the operator's id, unmasked.
        assert (body["bid"]["operatorId"], "operatorAlias" in body["bid"]) == (chosen.operator.user_id, False)
        [published] = await outbox_for(harness, "booking.finalized", market.booking_id)
        assert published["payload"]["method"] == "admin"

    async def test_an_ineligible_chosen_operator_is_refused(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        await reject_kyc(harness, market.bids[0].operator)
        before = await snapshot(harness, market)

        body = {"bidId": market.bids[0].id, "reason": REASON}
        assert_error(await finalize(harness, admin, market.booking_id, body), 409, "WINNER_INELIGIBLE")

        assert await snapshot(harness, market) == before
        assert len(await tickets_referring_to(harness, market.bids[0].id)) == 1

    async def test_a_bid_of_another_booking_is_a_field_error(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        market = await seeded_market(harness, [1_500_000])
        elsewhere = await seeded_market(harness, [1_400_000])
        before = await snapshot(harness, market)

        for bid_id in (elsewhere.bids[0].id, "BID-01J0000000000000000000000X"):
            response = await finalize(harness, admin, market.booking_id, {"bidId": bid_id, "reason": REASON})
            body = assert_error(response, 400, "VALIDATION_ERROR")
            assert body["details"]["field"] == "bidId"

        assert await snapshot(harness, market) == before
        assert (await booking_row(harness, elsewhere.booking_id))["status"] == "NEGOTIATION"


class TestAdminFinalizeByCandidateOrder:
    async def test_the_lowest_eligible_bid_wins(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        market = await seeded_market(harness, [1_500_000, 1_400_000, 1_450_000])
        dearest, lowest, middle = market.bids
        await reject_kyc(harness, lowest.operator)

        response = await finalize(harness, admin, market.booking_id, {"reason": REASON})

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["bid"]["id"], body["skippedBidIds"]) == (middle.id, [lowest.id])
        assert await bid_statuses(harness, market.booking_id) == {
            dearest.id: "REJECTED",
            lowest.id: "REJECTED",
            middle.id: "ACCEPTED",
        }
        [entry] = await audit_for(harness, market.booking_id, "booking.finalized")
        assert (entry["data"]["skippedBidIds"], entry["data"]["rejectedBidIds"]) == (
            [lowest.id],
            [lowest.id, dearest.id],
        )
        [evaluated] = await acs_decisions(harness, "bid.evaluate")
        assert evaluated["context"]["bids"]["lowestAmount"] == 1_400_000
        assert [c["bidId"] for c in evaluated["context"]["bids"]["candidates"]] == [
            lowest.id,
            middle.id,
            dearest.id,
        ]
        assert len(await tickets_referring_to(harness, lowest.id)) == 1

    async def test_no_eligible_candidate_cancels_the_booking(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        for bid in market.bids:
            await reject_kyc(harness, bid.operator)

        response = await finalize(harness, admin, market.booking_id, {"reason": REASON})

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["booking"] | {"id": None} == {
            "id": None,
            "status": "CANCELLED",
            "finalizedAt": None,
            "cancelReason": "NO_VALID_BIDS",
        }
        assert (body["bid"], body["shipment"]) == (None, None)
        assert sorted(body["skippedBidIds"]) == sorted(b.id for b in market.bids)
        booking = await booking_row(harness, market.booking_id)
        assert (booking["status"], booking["cancel_reason"], booking["cancelled_by"]) == (
            "CANCELLED",
            "NO_VALID_BIDS",
            admin.user_id,
        )
        assert booking["finalize_reason"] == REASON  # kept on this path too
        assert [p["reasonGiven"] for p in await event_payloads(harness, "bid.finalize")] == [True, True]
        assert set((await bid_statuses(harness, market.booking_id)).values()) == {"REJECTED"}
        assert await shipment_rows(harness, market.booking_id) == []
        [entry] = await audit_for(harness, market.booking_id, "booking.cancelled")
        assert (
            entry["data"]["reasonCode"],
            entry["data"]["cancelledByRole"],
            entry["data"]["reasonGiven"],
        ) == (
            "NO_VALID_BIDS",
            "ADMIN",
            True,
        )
        [told] = await notifications_of(harness, market.shipper.user_id)
        assert "no valid bids" in told


class TestAdminFinalizeRefusals:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "reason"),
            ({"reason": "   "}, "reason"),
            ({"reason": None}, "reason"),
            ({"reason": "x" * 257}, "reason"),
            ({"reason": REASON, "bidId": ""}, "bidId"),
            ({"reason": REASON, "winner": "me"}, "winner"),
        ],
    )
    async def test_invalid_bodies_name_the_field(
        self, harness: Harness, body: dict[str, Any], field: str
    ) -> None:
        admin = await admin_session(harness)
        market = await seeded_market(harness, [1_500_000])
        before = await snapshot(harness, market)

        error = assert_error(await finalize(harness, admin, market.booking_id, body), 400, "VALIDATION_ERROR")

        assert error["details"]["field"] == field
        assert await snapshot(harness, market) == before

    async def test_a_missing_body_is_refused(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        market = await seeded_market(harness, [1_500_000])
        assert_error(await finalize(harness, admin, market.booking_id, None), 400, "VALIDATION_ERROR")
        assert (await booking_row(harness, market.booking_id))["status"] == "NEGOTIATION"

    async def test_an_unknown_booking_is_not_found(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        response = await finalize(harness, admin, "RID-20250101-9999", {"reason": REASON})
        assert_error(response, 404, "NOT_FOUND")

    @pytest.mark.parametrize("with_bid", [True, False])
    async def test_a_finalized_booking_cannot_be_finalized_again(
        self, harness: Harness, with_bid: bool
    ) -> None:
        admin = await admin_session(harness)
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        first = await finalize(
            harness, admin, market.booking_id, {"bidId": market.bids[0].id, "reason": REASON}
        )
        assert first.status_code == 200
        before = await snapshot(harness, market)

        body = {"reason": REASON} | ({"bidId": market.bids[1].id} if with_bid else {})
        assert_error(await finalize(harness, admin, market.booking_id, body), 409, "INVALID_STATE")

        assert await snapshot(harness, market) == before

    async def test_anonymous_is_refused(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_500_000])
        assert_error(
            await finalize(harness, None, market.booking_id, {"reason": REASON}), 401, "UNAUTHORIZED"
        )

    @pytest.mark.parametrize("role", [Role.OPERATOR, Role.DRIVER, Role.KYC_ADMIN, Role.FRANCHISE_UNIT])
    async def test_only_admins_finalize(self, harness: Harness, role: Role) -> None:
        market = await seeded_market(harness, [1_500_000])
        before = await snapshot(harness, market)
        session = await session_with_role(harness, role)

        assert_error(
            await finalize(harness, session, market.booking_id, {"reason": REASON}), 403, "FORBIDDEN"
        )

        assert await snapshot(harness, market) == before

    async def test_the_owning_shipper_is_forbidden_too(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        market = await seeded_market(harness, [1_500_000], shipper=shipper)
        response = await finalize(harness, shipper, market.booking_id, {"reason": REASON})
        assert_error(response, 403, "FORBIDDEN")
        assert (await booking_row(harness, market.booking_id))["status"] == "NEGOTIATION"
