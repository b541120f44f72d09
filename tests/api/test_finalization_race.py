"""Concurrent finalizations (PRODUCT §6: "two concurrent finalizations of one booking produce
exactly one winner and one shipment"), with real concurrent connections: HTTP accepts of
different bids, admin finalizations, job runs and a cancellation racing each other."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import true, update

from rodistaa.bids import repo as bids_repo
from rodistaa.bids.errors import BidNotActive
from rodistaa.bids.repo import BidRecord
from rodistaa.bids.tables import bids
from rodistaa.bookings import repo as bookings_repo
from rodistaa.bookings.repo import BookingRecord
from rodistaa.finalization.errors import BidChanged
from rodistaa.finalization.jobs import auto_finalize
from rodistaa.finalization.service import Finalizer, Initiator, Method
from tests.api.booking_flows import cancel_booking
from tests.api.finalization_setup import (
    Market,
    audit_for,
    bid_statuses,
    booking_row,
    outbox_for,
    seeded_market,
    set_bid_status,
    shipment_rows,
)
from tests.api.flows import admin_session
from tests.conftest import Harness


async def assert_one_winner(h: Harness, booking_id: str) -> dict[str, Any]:
    """Exactly one shipment, one ACCEPTED bid (the shipment's), no bid left ACTIVE, one audit
    entry and one outbox event; returns the shipment row."""
    [shipment] = await shipment_rows(h, booking_id)
    statuses = await bid_statuses(h, booking_id)
    assert [bid for bid, status in statuses.items() if status == "ACCEPTED"] == [shipment["bid_id"]]
    assert set(statuses.values()) == {"ACCEPTED", "REJECTED"}
    [entry] = await audit_for(h, booking_id, "booking.finalized")
    assert (entry["data"]["bidId"], entry["data"]["shipmentId"]) == (shipment["bid_id"], shipment["id"])
    assert len(await outbox_for(h, "booking.finalized", booking_id)) == 1
    assert len(await outbox_for(h, "shipment.created", booking_id)) == 1
    return shipment


class TestFinalizationRaces:
    async def test_twenty_accepts_and_job_runs_produce_one_winner(self, harness: Harness) -> None:
        market = await seeded_market(
            harness, [1_500_000, 1_400_000, 1_450_000, 1_600_000], auto_finalize_at=harness.clock.now()
        )
        services = harness.app.state.services
        accepts = [
            harness.client.post(f"/v1/bids/{market.bids[i % 4].id}/accept", headers=market.shipper.headers)
            for i in range(14)
        ]
        jobs = [auto_finalize(services) for _ in range(6)]

        results = await asyncio.gather(asyncio.gather(*accepts), asyncio.gather(*jobs))

        responses, summaries = results[0], [r.summary() for r in results[1]]
        won_by_accept = [r for r in responses if r.status_code == 200]
        assert {r.status_code for r in responses} <= {200, 409}, [r.text for r in responses]
        assert {r.json()["code"] for r in responses if r.status_code == 409} <= {"INVALID_STATE"}
        won_by_job = sum(int(str(s["finalized"])) for s in summaries)
        assert len(won_by_accept) + won_by_job == 1, (summaries, [r.text for r in responses])
        assert all(s["failed"] == 0 and s["cancelledNoBids"] == 0 for s in summaries)
        shipment = await assert_one_winner(harness, market.booking_id)
        booking = await booking_row(harness, market.booking_id)
        if won_by_accept:
            assert booking["status"] == "FINALIZED"
            assert won_by_accept[0].json()["shipment"]["id"] == shipment["id"]
        else:
            assert booking["status"] == "AUTO_FINALIZED"
            assert shipment["bid_id"] == market.bids[1].id  # the job takes the lowest

    async def test_admin_finalizations_and_accepts_race_to_one_winner(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        market = await seeded_market(harness, [1_500_000, 1_400_000, 1_450_000])
        attempts = [
            harness.client.post(f"/v1/bids/{bid.id}/accept", headers=market.shipper.headers)
            for bid in market.bids
        ]
        attempts += [
            harness.client.post(
                f"/v1/admin/bookings/{market.booking_id}/finalize",
                json={"reason": "Ops closing stale bidding"} | ({"bidId": bid.id} if i % 2 else {}),
                headers=admin.headers,
            )
            for i, bid in enumerate(market.bids * 2)
        ]

        responses = await asyncio.gather(*attempts)

        assert sorted(r.status_code for r in responses) == [200] + [409] * 8, [r.text for r in responses]
        [winner] = [r.json() for r in responses if r.status_code == 200]
        shipment = await assert_one_winner(harness, market.booking_id)
        assert winner["shipment"]["id"] == shipment["id"]

    async def test_a_cancellation_racing_accepts_leaves_one_outcome(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        attempts = [
            harness.client.post(f"/v1/bids/{bid.id}/accept", headers=market.shipper.headers)
            for bid in market.bids * 3
        ]
        attempts.insert(3, cancel_booking(harness, market.shipper, market.booking_id))

        responses = await asyncio.gather(*attempts)

        assert sorted(r.status_code for r in responses) == [200] + [409] * 6, [r.text for r in responses]
        booking = await booking_row(harness, market.booking_id)
        if responses[3].status_code == 200:  # the cancellation won: nothing was finalized
            assert booking["status"] == "CANCELLED"
            assert await shipment_rows(harness, market.booking_id) == []
            assert await audit_for(harness, market.booking_id, "booking.finalized") == []
        else:
            assert booking["status"] == "FINALIZED"
            await assert_one_winner(harness, market.booking_id)


class TestStaleReads:
    @pytest.mark.parametrize("status", ["WITHDRAWN", "REJECTED"])
    async def test_a_bid_withdrawn_after_the_check_rolls_the_claim_back(
        self, harness: Harness, status: str
    ) -> None:
        """The finalizer read the bid ACTIVE, then the operator withdrew it before the claim:
        the booking claim already made in the transaction is rolled back (409)."""
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        booking, stale_bid = await read_as_the_accept_does(harness, market)
        await set_bid_status(harness, stale_bid.id, status)
        before = await booking_row(harness, market.booking_id)

        with pytest.raises(BidNotActive):
            await Finalizer(harness.app.state.services).finalize_chosen(
                shipper_initiator(market), booking, stale_bid
            )

        assert await booking_row(harness, market.booking_id) == before
        assert await shipment_rows(harness, market.booking_id) == []
        assert (await bid_statuses(harness, market.booking_id))[market.bids[1].id] == "ACTIVE"

    async def test_a_bid_modified_after_the_read_is_not_accepted_at_the_new_price(
        self, harness: Harness
    ) -> None:
        """The shipper read ₹15,000; the operator's modification to ₹29,000 committed before
        the claim: the claim is conditional on the amount read, so it fails (409 BID_CHANGED),
        the booking claim rolls back and the bid keeps its new amount, still ACTIVE."""
        market = await seeded_market(harness, [1_500_000, 1_400_000])
        booking, read_bid = await read_as_the_accept_does(harness, market)
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(update(bids).where(bids.c.id == read_bid.id).values(amount_paise=2_900_000))
        before = await booking_row(harness, market.booking_id)

        with pytest.raises(BidChanged):
            await Finalizer(harness.app.state.services).finalize_chosen(
                shipper_initiator(market), booking, read_bid
            )

        assert await booking_row(harness, market.booking_id) == before
        assert await shipment_rows(harness, market.booking_id) == []
        assert await bid_statuses(harness, market.booking_id) == {b.id: "ACTIVE" for b in market.bids}
        assert await audit_for(harness, market.booking_id, "booking.finalized") == []


async def read_as_the_accept_does(h: Harness, market: Market) -> tuple[BookingRecord, BidRecord]:
    """The booking and its first bid, read the way `FinalizationService.accept` reads them."""
    async with h.app.state.services.db.read() as conn:
        booking = await bookings_repo.get_booking(conn, market.booking_id, visible=true())
        bid = await bids_repo.get_bid(conn, market.bids[0].id, visible=true())
    assert booking is not None and bid is not None
    return booking, bid


def shipper_initiator(market: Market) -> Initiator:
    return Initiator(market.shipper.user_id, "SHIPPER", {"userId": market.shipper.user_id}, Method.ACCEPT)
