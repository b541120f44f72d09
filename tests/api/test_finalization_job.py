"""The `auto-finalize` job: bookings past their bidding deadline are AUTO_FINALIZED with the
first eligible candidate by (amount, createdAt, operatorId); ineligible candidates are
skipped with an RF14 ticket; a tie is recorded by RF15; no candidate → CANCELLED NO_VALID_BIDS.
The job is called directly (`auto_finalize(services)`), as `rodistaa jobs run` does."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from rodistaa.core.roles import Role
from rodistaa.finalization import repo
from rodistaa.finalization.jobs import JOBS, auto_finalize
from rodistaa.shipments.tables import shipments
from tests.api.finalization_setup import (
    DEPOSIT_PAISE,
    acs_decisions,
    audit_for,
    balance,
    bid_statuses,
    block_after_acs,
    booking_row,
    funded_operator,
    notifications_of,
    outbox_for,
    reject_kyc,
    seed_bid,
    seed_booking,
    seeded_market,
    shipment_rows,
    tickets_referring_to,
)
from tests.api.freight_setup import verified_user
from tests.conftest import Harness

EMPTY = {
    "examined": 0,
    "finalized": 0,
    "cancelledNoBids": 0,
    "skippedCandidates": 0,
    "alreadyDone": 0,
    "failed": 0,
}


async def run_job(h: Harness, *, batch: int | None = None) -> dict[str, object]:
    services = h.app.state.services
    result = await (auto_finalize(services) if batch is None else auto_finalize(services, batch=batch))
    return result.summary()


def past(h: Harness, **delta: float) -> datetime:
    return h.clock.now() - timedelta(**delta)


class TestAutoFinalize:
    async def test_a_due_booking_goes_to_the_lowest_bid(self, harness: Harness) -> None:
        market = await seeded_market(
            harness, [1_500_000, 1_400_000, 1_600_000], auto_finalize_at=past(harness, minutes=1)
        )
        lowest = market.bids[1]

        assert await run_job(harness) == EMPTY | {"examined": 1, "finalized": 1}

        booking = await booking_row(harness, market.booking_id)
        assert (booking["status"], booking["finalized_at"]) == ("AUTO_FINALIZED", harness.clock.now())
        assert booking["finalize_reason"] is None  # only an admin gives one
        assert await bid_statuses(harness, market.booking_id) == {
            market.bids[0].id: "REJECTED",
            lowest.id: "ACCEPTED",
            market.bids[2].id: "REJECTED",
        }
        [shipment] = await shipment_rows(harness, market.booking_id)
        assert (shipment["operator_id"], shipment["agreed_price_paise"], shipment["status"]) == (
            lowest.operator.user_id,
            1_400_000,
            "ASSIGNED",
        )
        [entry] = await audit_for(harness, market.booking_id, "booking.finalized")
        assert (entry["actor"], entry["data"]["method"], entry["data"]["finalizedByRole"]) == (
            "system:auto-finalize",
            "auto",
            "SYSTEM",
        )
        assert "reasonGiven" not in entry["data"]
        [published] = await outbox_for(harness, "booking.finalized", market.booking_id)
        assert (published["payload"]["status"], published["payload"]["method"]) == ("AUTO_FINALIZED", "auto")
        assert len(await outbox_for(harness, "shipment.created", market.booking_id)) == 1
        [told] = await notifications_of(harness, market.shipper.user_id)
        assert "finalized automatically at the bidding deadline" in told and shipment["id"] in told
        [won] = await notifications_of(harness, lowest.operator.user_id)
        assert shipment["id"] in won
        for bid in market.bids:
            assert await balance(harness, bid.operator) == DEPOSIT_PAISE
        # A second run finds nothing left to do.
        assert await run_job(harness) == EMPTY

    async def test_bookings_whose_deadline_is_ahead_are_left_alone(self, harness: Harness) -> None:
        market = await seeded_market(
            harness, [1_500_000], auto_finalize_at=harness.clock.now() + timedelta(hours=2)
        )

        assert await run_job(harness) == EMPTY
        assert (await booking_row(harness, market.booking_id))["status"] == "NEGOTIATION"

        harness.clock.advance(hours=2)  # the deadline itself is due (auto_finalize_at <= now)
        assert await run_job(harness) == EMPTY | {"examined": 1, "finalized": 1}
        assert (await booking_row(harness, market.booking_id))["status"] == "AUTO_FINALIZED"

    async def test_bookings_are_taken_oldest_deadline_first_across_batches(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await funded_operator(harness)
        booking_ids = []
        for minutes in (5, 30, 10):
            booking_id = await seed_booking(harness, shipper, auto_finalize_at=past(harness, minutes=minutes))
            await seed_bid(harness, booking_id, operator, amount_paise=1_500_000)
            booking_ids.append(booking_id)

        assert await run_job(harness, batch=2) == EMPTY | {"examined": 3, "finalized": 3}

        async with harness.app.state.services.db.read() as conn:
            rows = (await conn.execute(shipments.select().order_by(shipments.c.id))).mappings().all()
        # Shipment ids are ULIDs: their order is the order the job finalized the bookings in.
        assert [r["booking_id"] for r in rows] == [booking_ids[1], booking_ids[2], booking_ids[0]]

    async def test_an_ineligible_candidate_is_skipped_with_a_ticket(self, harness: Harness) -> None:
        market = await seeded_market(
            harness, [1_400_000, 1_500_000], auto_finalize_at=past(harness, seconds=1)
        )
        ineligible, runner_up = market.bids
        await reject_kyc(harness, ineligible.operator)

        assert await run_job(harness) == EMPTY | {"examined": 1, "finalized": 1, "skippedCandidates": 1}

        assert await bid_statuses(harness, market.booking_id) == {
            ineligible.id: "REJECTED",
            runner_up.id: "ACCEPTED",
        }
        [ticket] = await tickets_referring_to(harness, ineligible.id)
        assert (ticket["rule_id"], ticket["status"]) == ("RF14_AUTO_FINALIZATION_LEDGER_RACE", "OPEN")
        assert market.booking_id in ticket["refs"]
        skipped, allowed = await acs_decisions(harness, "bid.finalize")
        assert (skipped["outcome"], skipped["context"]["winner"]["kycStatus"]) == ("REJECT", "REJECTED")
        assert (allowed["outcome"], allowed["context"]["winner"]["bidId"]) == ("ALLOW", runner_up.id)
        [retry] = await outbox_for(harness, "bid.finalize.retry", market.booking_id)
        assert retry["payload"]["skippedBidId"] == ineligible.id
        [entry] = await audit_for(harness, market.booking_id, "booking.finalized")
        assert (entry["data"]["bidId"], entry["data"]["skippedBidIds"]) == (runner_up.id, [ineligible.id])

    async def test_a_tie_goes_to_the_earliest_bid_and_rf15_records_it(self, harness: Harness) -> None:
        now = harness.clock.now()
        market = await seeded_market(
            harness,
            [1_400_000, 1_400_000, 1_500_000],
            auto_finalize_at=past(harness, seconds=1),
            created_at=[now - timedelta(seconds=5), now - timedelta(seconds=9), now - timedelta(seconds=20)],
        )
        later, earliest, dearer = market.bids

        assert await run_job(harness) == EMPTY | {"examined": 1, "finalized": 1}

        assert await bid_statuses(harness, market.booking_id) == {
            later.id: "REJECTED",
            earliest.id: "ACCEPTED",
            dearer.id: "REJECTED",
        }
        [evaluated] = await acs_decisions(harness, "bid.evaluate")
        assert evaluated["matched"] == ["RF15_BID_TIE_BREAKER"]
        assert evaluated["context"]["bids"] | {"candidates": None} == {
            "count": 3,
            "haveIdenticalAmount": True,
            "lowestAmount": 1_400_000,
            "candidates": None,
        }
        assert evaluated["context"]["bid"]["id"] == earliest.id
        assert evaluated["context"]["operator"]["id"] == earliest.operator.user_id
        [tie] = await outbox_for(harness, "bid.tie_breaker.used", market.booking_id)
        assert tie["payload"]["method"] == "amount_then_createdAt_then_operatorId"

    async def test_equal_amount_and_time_go_to_the_smaller_operator_id(self, harness: Harness) -> None:
        at = harness.clock.now() - timedelta(minutes=3)
        market = await seeded_market(
            harness, [1_400_000, 1_400_000], auto_finalize_at=past(harness, seconds=1), created_at=[at, at]
        )
        expected = min(market.bids, key=lambda b: b.operator.user_id)

        await run_job(harness)

        [shipment] = await shipment_rows(harness, market.booking_id)
        assert (shipment["bid_id"], shipment["operator_id"]) == (expected.id, expected.operator.user_id)

    async def test_no_tie_means_rf15_stays_silent(self, harness: Harness) -> None:
        market = await seeded_market(
            harness, [1_400_000, 1_500_000], auto_finalize_at=past(harness, seconds=1)
        )
        await run_job(harness)
        [evaluated] = await acs_decisions(harness, "bid.evaluate")
        assert (evaluated["matched"], evaluated["context"]["bids"]["haveIdenticalAmount"]) == ([], False)
        assert await outbox_for(harness, "bid.tie_breaker.used", market.booking_id) == []

    async def test_an_open_booking_without_bids_is_cancelled(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        booking_id = await seed_booking(harness, shipper, auto_finalize_at=past(harness, hours=1))

        assert await run_job(harness) == EMPTY | {"examined": 1, "cancelledNoBids": 1}

        booking = await booking_row(harness, booking_id)
        assert (
            booking["status"],
            booking["cancel_reason"],
            booking["cancelled_by"],
            booking["finalized_at"],
        ) == (
            "CANCELLED",
            "NO_VALID_BIDS",
            "system:auto-finalize",
            None,
        )
        [entry] = await audit_for(harness, booking_id, "booking.cancelled")
        assert entry["data"] == {
            "to": "CANCELLED",
            "shipperId": shipper.user_id,
            "cancelledByRole": "SYSTEM",
            "reasonCode": "NO_VALID_BIDS",
            "method": "auto",
            "skippedBidIds": [],
            "rejectedBidIds": [],
        }
        assert await notifications_of(harness, shipper.user_id) == [
            f"Booking {booking_id} was cancelled automatically at the bidding deadline: no valid bids."
        ]
        assert await acs_decisions(harness, "bid.evaluate") == []

    async def test_only_ineligible_candidates_cancel_the_booking(self, harness: Harness) -> None:
        market = await seeded_market(
            harness, [1_400_000, 1_500_000], auto_finalize_at=past(harness, seconds=1)
        )
        for bid in market.bids:
            await reject_kyc(harness, bid.operator)

        assert await run_job(harness) == EMPTY | {"examined": 1, "cancelledNoBids": 1, "skippedCandidates": 2}

        assert (await booking_row(harness, market.booking_id))["cancel_reason"] == "NO_VALID_BIDS"
        assert set((await bid_statuses(harness, market.booking_id)).values()) == {"REJECTED"}
        assert await shipment_rows(harness, market.booking_id) == []
        for bid in market.bids:
            assert await notifications_of(harness, bid.operator.user_id) == [
                f"Your bid {bid.id} on booking {market.booking_id} was not selected."
            ]
            assert len(await tickets_referring_to(harness, bid.id)) == 1

    async def test_one_failing_booking_does_not_stop_the_others(self, harness: Harness) -> None:
        broken = await seeded_market(harness, [1_400_000], auto_finalize_at=past(harness, minutes=10))
        healthy = await seeded_market(harness, [1_400_000], auto_finalize_at=past(harness, minutes=5))
        # A shipment of another booking already names the broken booking's bid: inserting its
        # own shipment violates the unique bid id, a real database failure mid-transaction.
        other = await seeded_market(
            harness, [1_300_000], auto_finalize_at=harness.clock.now() + timedelta(days=1)
        )
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(
                shipments.insert().values(
                    id="SH-BROKEN-FIXTURE",
                    booking_id=other.booking_id,
                    bid_id=broken.bids[0].id,
                    shipper_id=other.shipper.user_id,
                    operator_id=broken.bids[0].operator.user_id,
                    pickup_address="a",
                    pickup_city="Mumbai",
                    pickup_state="MH",
                    pickup_pincode="400001",
                    pickup_lat=19.0,
                    pickup_lng=72.8,
                    drop_address="b",
                    drop_city="Delhi",
                    drop_state="DL",
                    drop_pincode="110001",
                    drop_lat=28.6,
                    drop_lng=77.2,
                    goods_type="Cement",
                    tonnage=Decimal("5.00"),
                    distance_km=Decimal("1491.58"),
                    agreed_price_paise=1_300_000,
                    status="ASSIGNED",
                    created_at=harness.clock.now(),
                    updated_at=harness.clock.now(),
                )
            )

        assert await run_job(harness) == EMPTY | {"examined": 2, "finalized": 1, "failed": 1}

        # The failed booking rolled back entirely and stays due; the other one was finalized.
        assert (await booking_row(harness, broken.booking_id))["status"] == "NEGOTIATION"
        assert await bid_statuses(harness, broken.booking_id) == {broken.bids[0].id: "ACTIVE"}
        assert await audit_for(harness, broken.booking_id, "booking.finalized") == []
        assert (await booking_row(harness, healthy.booking_id))["status"] == "AUTO_FINALIZED"

    async def test_two_concurrent_runs_finalize_each_booking_once(self, harness: Harness) -> None:
        markets = [
            await seeded_market(harness, [1_400_000, 1_450_000], auto_finalize_at=past(harness, minutes=m))
            for m in (1, 2, 3)
        ]

        first, second = await asyncio.gather(run_job(harness), run_job(harness))

        assert first["finalized"] + second["finalized"] == 3  # type: ignore[operator]
        assert first["failed"] == second["failed"] == 0
        for market in markets:
            assert len(await shipment_rows(harness, market.booking_id)) == 1
            assert list((await bid_statuses(harness, market.booking_id)).values()).count("ACCEPTED") == 1
            assert len(await audit_for(harness, market.booking_id, "booking.finalized")) == 1


class TestOverlappingRuns:
    async def test_concurrent_runs_raise_one_rf14_ticket_per_ineligible_candidate(
        self, harness: Harness
    ) -> None:
        """Only one run evaluates a booking at a time; the others skip it as already done
        instead of asking ACS about the same candidates again (a second RF14 ticket)."""
        market = await seeded_market(
            harness, [1_400_000, 1_500_000], auto_finalize_at=past(harness, seconds=1)
        )
        ineligible, runner_up = market.bids
        await reject_kyc(harness, ineligible.operator)

        summaries = await asyncio.gather(*(run_job(harness) for _ in range(6)))

        assert sum(int(str(s["finalized"])) for s in summaries) == 1, summaries
        assert sum(int(str(s["alreadyDone"])) for s in summaries) == 5, summaries
        assert all(s["failed"] == 0 for s in summaries)
        assert len(await tickets_referring_to(harness, ineligible.id)) == 1
        assert len(await acs_decisions(harness, "bid.evaluate")) == 1
        assert [d["context"]["winner"]["bidId"] for d in await acs_decisions(harness, "bid.finalize")] == [
            ineligible.id,
            runner_up.id,
        ]
        assert len(await outbox_for(harness, "bid.finalize.retry", market.booking_id)) == 1
        assert (await shipment_rows(harness, market.booking_id))[0]["bid_id"] == runner_up.id

    async def test_a_run_skips_a_booking_another_evaluation_holds(self, harness: Harness) -> None:
        """The lock itself: while it is held, a run counts the booking as already done and
        changes nothing; once released, the next run finalizes it."""
        services = harness.app.state.services
        market = await seeded_market(harness, [1_400_000], auto_finalize_at=past(harness, seconds=1))

        async with repo.evaluation_lock(services.db, market.booking_id) as acquired:
            assert acquired
            assert await run_job(harness) == EMPTY | {"examined": 1, "alreadyDone": 1}
            assert (await booking_row(harness, market.booking_id))["status"] == "NEGOTIATION"
            assert await acs_decisions(harness, "bid.evaluate") == []

        assert await run_job(harness) == EMPTY | {"examined": 1, "finalized": 1}


class TestStandingLostAfterAcs:
    async def test_the_next_candidate_wins_when_the_first_loses_its_standing(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """RF14 allowed the lowest bid, then its operator was blocked before the winning
        transaction: that transaction's re-check rolls back and the runner-up wins."""
        market = await seeded_market(
            harness, [1_400_000, 1_500_000], auto_finalize_at=past(harness, seconds=1)
        )
        lowest, runner_up = market.bids
        block_after_acs(harness, monkeypatch, lowest.operator)

        assert await run_job(harness) == EMPTY | {"examined": 1, "finalized": 1, "skippedCandidates": 1}

        assert await bid_statuses(harness, market.booking_id) == {
            lowest.id: "REJECTED",
            runner_up.id: "ACCEPTED",
        }
        [shipment] = await shipment_rows(harness, market.booking_id)
        assert shipment["operator_id"] == runner_up.operator.user_id
        [entry] = await audit_for(harness, market.booking_id, "booking.finalized")
        assert (entry["data"]["bidId"], entry["data"]["skippedBidIds"]) == (runner_up.id, [lowest.id])
        assert [d["outcome"] for d in await acs_decisions(harness, "bid.finalize")] == ["ALLOW", "ALLOW"]
        assert await notifications_of(harness, lowest.operator.user_id) == [
            f"Your bid {lowest.id} on booking {market.booking_id} was not selected."
        ]


class TestJobRegistration:
    def test_the_job_is_exported_for_the_cli(self) -> None:
        spec = JOBS["auto-finalize"]
        assert (spec.name, spec.run) == ("auto-finalize", auto_finalize)
