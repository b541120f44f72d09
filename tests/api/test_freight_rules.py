"""Every freight ACS rule, fired the way a user would fire it and observed only through the API
(issue 5 "Done when"): the refusal (status, code, rule), the effect a user or an admin can see
(a FROZEN shipment, a block, a notification, a throttle, the winner of a booking), and the
`acs.rule_matched` audit entry an admin can browse.

Setup may seed the database (trips, bookings, a truck with expired documents, a completion
history, a rejected KYC document): those are states other parts of the product reach. The trigger
is always an HTTP request, or the auto-finalize job for RF14 and RF15, and every assertion reads
the API. The rules' internals (contexts, effect rows) are tested per domain (test_bids_acs.py,
test_finalization_job.py, test_tracking_fraud.py, test_delivery*.py, test_shipments_crew.py).
"""

from __future__ import annotations

from datetime import timedelta

from rodistaa.core.roles import Role
from rodistaa.finalization.jobs import auto_finalize
from rodistaa.shipments.status import ShipmentStatus
from tests.api.bid_flows import funded_operator, modify_bid, place_bid, post_bid, seed_booking
from tests.api.delivery_flows import complete, mark_completed, other_code, pdf_file, trip_with_otp, upload_pod
from tests.api.finalization_setup import reject_kyc
from tests.api.flows import admin_session, sign_up
from tests.api.freight_setup import (
    Trip,
    fleet_driver,
    next_mobile,
    next_registration,
    seeded_trip,
    verified_user,
)
from tests.api.ledger_flows import fund_operator
from tests.api.onboarding_setup import insert_truck
from tests.api.rule_flows import (
    AuditTrail,
    balance_rupees,
    blocks_on,
    booking_bids,
    inbox,
    maintenance_window,
    ok,
    own_bids,
    refused,
    shipment_seen_by,
)
from tests.api.test_tracking_pings import MUMBAI, at, driver_trip, iso, north_of, ping_ok, single
from tests.conftest import Harness


async def open_booking(h: Harness, *, window: timedelta = timedelta(hours=24)) -> str:
    """The standard booking (10 t x 500 km: fee ₹175, expected ₹12,500, range ₹5,000-₹20,000)."""
    shipper = await verified_user(h, Role.SHIPPER)
    return await seed_booking(h, shipper.user_id, window=window)


async def watch(h: Harness) -> AuditTrail:
    """An admin signed in, and the audit trail from now on."""
    return await AuditTrail.start(h, await admin_session(h))


# --- bidding: refusals (RF01, RF02, RF13, RF16, RF21, RF22, RF20) -------------------------------


async def test_rf01_an_operator_without_verified_kyc_cannot_bid(harness: Harness) -> None:
    trail = await watch(harness)
    booking_id = await open_booking(harness)
    operator = await sign_up(harness, next_mobile(), role=Role.OPERATOR, name="New Fleet")
    await fund_operator(harness, operator.user_id, 1000)

    body = refused(await post_bid(harness, operator, booking_id), 403, "KYC_REQUIRED", "RF01_KYC_MANDATORY")

    assert await own_bids(harness, operator) == []
    assert await balance_rupees(harness, operator) == 1000  # no fee taken
    await trail.assert_matched("RF01", "bid.create", event_id=body["details"]["eventId"])


async def test_rf02_bidding_with_a_truck_whose_documents_expired_blocks_the_truck(harness: Harness) -> None:
    trail = await watch(harness)
    admin = trail.admin
    booking_id = await open_booking(harness)
    operator = await funded_operator(harness)
    truck_id = await insert_truck(
        harness, operator.user_id, registration=next_registration(), unit_id=None, status="EXPIRED_DOCS"
    )

    response = await post_bid(harness, operator, booking_id, truckId=truck_id)

    body = refused(response, 403, "TRUCK_DOCS_EXPIRED", "RF02_TRUCK_DOCS_EXPIRED")
    [block] = await blocks_on(harness, admin, "truck", truck_id)
    assert (block["reason"], block["severity"], block["source"], block["ruleId"]) == (
        "EXPIRED_DOCUMENTS",
        "CRITICAL",
        "ACS",
        "RF02_TRUCK_DOCS_EXPIRED",
    )
    assert await own_bids(harness, operator) == []
    await trail.assert_matched("RF02", "bid.create", event_id=body["details"]["eventId"])


async def test_rf13_a_balance_below_the_bidding_fee_is_refused_with_422(harness: Harness) -> None:
    trail = await watch(harness)
    booking_id = await open_booking(harness)
    operator = await funded_operator(harness, rupees=174.99)  # the fee is ₹175.00

    response = await post_bid(harness, operator, booking_id)

    body = refused(response, 422, "LEDGER_INSUFFICIENT", "RF13_LEDGER_NEGATIVE_PREVENTION")
    assert await balance_rupees(harness, operator) == 174.99
    assert await own_bids(harness, operator) == []
    await trail.assert_matched("RF13", "bid.create", event_id=body["details"]["eventId"])


async def test_rf16_a_phone_number_in_the_bid_notes_is_refused(harness: Harness) -> None:
    trail = await watch(harness)
    booking_id = await open_booking(harness)
    operator = await funded_operator(harness)

    response = await post_bid(harness, operator, booking_id, notes="Call me on 98765 43210 for a better rate")

    body = refused(response, 403, "PII_REDACTED", "RF16_PII_LEAK_REDACTION")
    assert "98765" not in response.text
    assert await own_bids(harness, operator) == []
    assert await balance_rupees(harness, operator) == 1000
    entry = await trail.assert_matched("RF16", "bid.create", event_id=body["details"]["eventId"])
    assert "98765" not in str(entry)  # the audit trail does not keep the number either


async def test_rf21_a_bid_far_below_the_estimated_price_is_held(harness: Harness) -> None:
    # Expected ₹12,500: the estimator's floor is ₹11,250 and RF21 holds bids under half of it
    # (₹5,625), which the shipper's range (from ₹5,000) still allows.
    trail = await watch(harness)
    booking_id = await open_booking(harness)
    operator = await funded_operator(harness)

    response = await post_bid(harness, operator, booking_id, 5_624.99)

    body = refused(response, 403, "PREDATORY_BID_HOLD", "RF21_PREDATORY_BID_DETECT")
    assert await own_bids(harness, operator) == []
    assert await balance_rupees(harness, operator) == 1000
    await trail.assert_matched("RF21", "bid.create", event_id=body["details"]["eventId"])


async def test_rf22_an_operator_in_a_maintenance_window_cannot_bid(harness: Harness) -> None:
    trail = await watch(harness)
    admin = trail.admin
    booking_id = await open_booking(harness)
    operator = await funded_operator(harness)
    other = await funded_operator(harness)
    await maintenance_window(harness, admin, operator.user_id)

    response = await post_bid(harness, operator, booking_id)

    body = refused(response, 403, "MAINTENANCE_WINDOW", "RF22_MAINTENANCE_WINDOW_BLOCK")
    assert await own_bids(harness, operator) == []
    assert await balance_rupees(harness, operator) == 1000
    await trail.assert_matched("RF22", "bid.create", event_id=body["details"]["eventId"])
    await place_bid(harness, other, booking_id)  # the window is this operator's only


async def test_rf20_the_eleventh_bid_change_in_a_minute_is_throttled_with_retry_after(
    harness: Harness,
) -> None:
    trail = await watch(harness)
    booking_id = await open_booking(harness)
    operator = await funded_operator(harness)
    bid = await place_bid(harness, operator, booking_id, 12_000)
    for n in range(10):
        harness.clock.advance(seconds=5)
        ok(await modify_bid(harness, operator, bid["id"], 11_000 + n))

    harness.clock.advance(seconds=5)
    response = await modify_bid(harness, operator, bid["id"], 10_500)

    body = refused(response, 429, "RATE_LIMIT_EXCEEDED", "RF20_BID_FLOOD_RATE_LIMIT")
    assert response.headers["Retry-After"] == "60"
    [kept] = await own_bids(harness, operator)
    assert (kept["amount"], kept["modificationCount"]) == (11_009, 10)
    await trail.assert_matched("RF20", "bid.modify", event_id=body["details"]["eventId"])


# --- finalization (RF14, RF15): the auto-finalize job at the bidding deadline --------------------


async def run_auto_finalize(h: Harness) -> dict[str, object]:
    return (await auto_finalize(h.app.state.services)).summary()


async def test_rf14_a_winner_whose_kyc_was_rejected_is_skipped_for_the_next_bid(harness: Harness) -> None:
    trail = await watch(harness)
    admin = trail.admin
    booking_id = await open_booking(harness, window=timedelta(minutes=10))
    cheapest, runner_up = await funded_operator(harness), await funded_operator(harness)
    skipped = await place_bid(harness, cheapest, booking_id, 11_000)
    winner = await place_bid(harness, runner_up, booking_id, 12_000)
    await reject_kyc(harness, cheapest)  # after bidding: KYC review found a forged PAN
    harness.clock.advance(minutes=10)

    summary = await run_auto_finalize(harness)

    assert (summary["finalized"], summary["skippedCandidates"]) == (1, 1)
    assert await booking_bids(harness, admin, booking_id) == {
        skipped["id"]: "REJECTED",
        winner["id"]: "ACCEPTED",
    }
    assert [n["message"] for n in await inbox(harness, cheapest)] == [
        f"Your bid {skipped['id']} on booking {booking_id} was not selected."
    ]
    [won] = [n["message"] for n in await inbox(harness, runner_up)]
    assert won.startswith(f"Your bid {winner['id']} on booking {booking_id} was accepted")
    entry = await trail.assert_matched("RF14", "bid.finalize")
    assert entry["metadata"]["outcome"] == "REJECT"


async def test_rf15_equal_lowest_bids_go_to_the_earlier_bid(harness: Harness) -> None:
    trail = await watch(harness)
    admin = trail.admin
    booking_id = await open_booking(harness, window=timedelta(minutes=10))
    # The later bid comes from the smaller operator id: time decides before the operator id.
    smaller, larger = sorted(
        [await funded_operator(harness), await funded_operator(harness)], key=lambda s: s.user_id
    )
    earlier = await place_bid(harness, larger, booking_id, 12_000)
    harness.clock.advance(seconds=30)
    later = await place_bid(harness, smaller, booking_id, 12_000)
    dearer = await place_bid(harness, await funded_operator(harness), booking_id, 12_500)
    harness.clock.advance(minutes=10)

    summary = await run_auto_finalize(harness)

    assert (summary["finalized"], summary["skippedCandidates"]) == (1, 0)
    assert await booking_bids(harness, admin, booking_id) == {
        earlier["id"]: "ACCEPTED",
        later["id"]: "REJECTED",
        dearer["id"]: "REJECTED",
    }
    [won] = [n["message"] for n in await inbox(harness, larger)]
    assert won.startswith(f"Your bid {earlier['id']} on booking {booking_id} was accepted")
    entry = await trail.assert_matched("RF15", "bid.evaluate")
    assert entry["metadata"]["outcome"] == "ALLOW"


# --- tracking (RF05) ------------------------------------------------------------------------------


async def test_rf05_a_250_km_jump_in_two_minutes_freezes_the_shipment(harness: Harness) -> None:
    trail = await watch(harness)
    admin = trail.admin
    trip, driver = await driver_trip(harness)
    await ping_ok(harness, driver, single(trip.shipment_id, MUMBAI, timestamp=iso(at(harness, -240))))

    jump = single(trip.shipment_id, north_of(MUMBAI, 250), timestamp=iso(at(harness, -120)))
    assert (await ping_ok(harness, driver, jump))["frozen"] is True

    seen = await shipment_seen_by(harness, admin, trip.shipment_id)
    assert (seen["status"], seen["workflowStatus"], seen["frozenReason"]) == (
        "FROZEN",
        "IN_TRANSIT",
        "GPS_JUMP",
    )
    [note] = await inbox(harness, trip.operator)
    assert (note["ruleId"], trip.shipment_id in note["message"]) == ("RF05_GPS_JUMP_ANOMALY", True)
    await trail.assert_matched("RF05", "gps.ping")


# --- delivery (RF03, RF04, RF07, RF08, RF19) -----------------------------------------------------


async def test_rf03_a_wrong_delivery_otp_does_not_complete_the_shipment(harness: Harness) -> None:
    trail = await watch(harness)
    trip, code = await trip_with_otp(harness)
    assert trip.driver is not None

    response = await upload_pod(harness, trip.driver, trip.shipment_id, otp=other_code(code))

    body = refused(response, 403, "OTP_REQUIRED", "RF03_OTP_MANDATORY_COMPLETION")
    assert body["details"]["attemptsRemaining"] == 4
    seen = await shipment_seen_by(harness, trip.shipper, trip.shipment_id)
    assert (seen["status"], seen["completedAt"]) == ("OTP_PENDING", None)
    await trail.assert_matched("RF03", "shipment.complete", event_id=body["details"]["eventId"])


async def test_rf04_five_wrong_otps_block_the_shipment_and_tell_the_shipper(harness: Harness) -> None:
    trail = await watch(harness)
    admin = trail.admin
    trip, code = await trip_with_otp(harness)
    assert trip.driver is not None
    wrong = other_code(code)
    refused(
        await upload_pod(harness, trip.driver, trip.shipment_id, otp=wrong),
        403,
        "OTP_REQUIRED",
        "RF03_OTP_MANDATORY_COMPLETION",
    )
    for _ in range(4):
        response = await complete(harness, trip.driver, trip.shipment_id, otp=wrong)
        refused(response, 403, "OTP_REQUIRED", "RF03_OTP_MANDATORY_COMPLETION")

    [block] = await blocks_on(harness, admin, "shipment", trip.shipment_id)
    assert (block["reason"], block["ruleId"]) == ("OTP_BRUTE_FORCE", "RF04_OTP_BRUTE_FORCE_PROTECTION")
    assert (await shipment_seen_by(harness, admin, trip.shipment_id))["status"] == "FROZEN"
    [note] = await inbox(harness, trip.shipper)
    assert note["ruleId"] == "RF04_OTP_BRUTE_FORCE_PROTECTION"
    assert "locked" in note["message"] and trip.shipment_id in note["message"]
    assert code not in note["message"]
    # Even the right code no longer completes it.
    right = await complete(harness, trip.driver, trip.shipment_id, otp=code)
    assert (right.status_code, right.json()["code"]) == (409, "SHIPMENT_FROZEN")
    await trail.assert_matched("RF04", "security.otp_attempt")


async def test_rf07_a_pod_already_used_on_another_shipment_freezes_this_one(harness: Harness) -> None:
    trail = await watch(harness)
    admin = trail.admin
    first, first_code = await trip_with_otp(harness)
    second, second_code = await trip_with_otp(harness)
    assert first.driver is not None and second.driver is not None
    content = pdf_file()
    ok(await upload_pod(harness, first.driver, first.shipment_id, otp=first_code, content=content), 201)

    response = await upload_pod(harness, second.driver, second.shipment_id, otp=second_code, content=content)

    body = refused(response, 403, "POD_DUPLICATE", "RF07_POD_DUPLICATE_HASH")
    seen = await shipment_seen_by(harness, admin, second.shipment_id)
    assert (seen["status"], seen["frozenReason"]) == ("FROZEN", "POD_REUSE_SUSPECT")
    assert (await shipment_seen_by(harness, second.shipper, second.shipment_id))["frozenReason"] is None
    assert (await shipment_seen_by(harness, admin, first.shipment_id))["status"] == "COMPLETED"
    await trail.assert_matched("RF07", "pod.uploaded", event_id=body["details"]["eventId"])


async def test_rf08_a_pod_photographed_long_before_the_trip_is_refused(harness: Harness) -> None:
    trail = await watch(harness)
    admin = trail.admin
    started = harness.clock.now() - timedelta(hours=6)
    trip, code = await trip_with_otp(harness, started_at=started)
    assert trip.driver is not None
    taken = (started - timedelta(hours=24, seconds=1)).isoformat()

    response = await upload_pod(harness, trip.driver, trip.shipment_id, otp=code, metadata_timestamp=taken)

    body = refused(response, 403, "POD_TIMESTAMP_MISMATCH", "RF08_POD_METADATA_MISMATCH")
    seen = await shipment_seen_by(harness, trip.shipper, trip.shipment_id)
    assert (seen["status"], seen["completedAt"]) == ("IN_TRANSIT", None)
    pods = await harness.client.get(f"/v1/shipments/{trip.shipment_id}/pods", headers=admin.headers)
    assert ok(pods) == []
    await trail.assert_matched("RF08", "pod.uploaded", event_id=body["details"]["eventId"])


async def completion_history(h: Harness, trips: int) -> Trip:
    """`trips` completed trips of one shipper, operator and driver in the last 30 days, and a
    new trip of theirs in transit (its OTP issued: `extra["code"]`)."""
    shipper = await verified_user(h, Role.SHIPPER)
    operator = await verified_user(h, Role.OPERATOR)
    driver = await fleet_driver(h, operator.user_id)
    for age_days in range(1, trips + 1):
        past = await seeded_trip(
            h, status=ShipmentStatus.COMPLETED, shipper=shipper, operator=operator, driver=driver
        )
        await mark_completed(h, past.shipment_id, completed_at=h.clock.now() - timedelta(days=age_days))
    trip, code = await trip_with_otp(h, shipper=shipper, operator=operator, driver=driver)
    trip.extra["code"] = code
    return trip


async def test_rf19_a_fifth_trip_of_the_same_triad_in_30_days_is_frozen_and_the_operator_suspended(
    harness: Harness,
) -> None:
    trail = await watch(harness)
    admin = trail.admin
    trip = await completion_history(harness, trips=4)
    assert trip.driver is not None

    response = await upload_pod(harness, trip.driver, trip.shipment_id, otp=trip.extra["code"])

    assert ok(response, 201)["shipmentStatus"] == "COMPLETED"  # the driver is not tipped off
    seen = await shipment_seen_by(harness, admin, trip.shipment_id)
    assert (seen["status"], seen["workflowStatus"], seen["frozenReason"]) == (
        "FROZEN",
        "COMPLETED",
        "TRIAD_COLLUSION",
    )
    suspended = await harness.client.get("/v1/notifications", headers=trip.operator.headers)
    assert (suspended.status_code, suspended.json()["code"]) == (403, "ACCOUNT_SUSPENDED")
    await trail.assert_matched("RF19", "shipment.completed")
