"""Which refused codes count against the delivery OTP (PRODUCT §6 "Delivery", RF04).

Only a WRONG code typed against a live OTP counts: an honest driver whose code expired (or was
never issued, or is locked) must not be locked out and reported as a brute-forcer. The limit is
the one ACS's rules see (`system.config.otpRetryLimit`), and a failure of RF04's evaluation
after the count committed is logged and never turns the refusal into a 500."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from sqlalchemy import update

from rodistaa.acs.contract import DEFAULT_SYSTEM_CONFIG
from rodistaa.acs.engine import Decision
from rodistaa.acs.events import AcsEvent
from rodistaa.acs.facts import FactProvider
from rodistaa.acs.service import AcsService
from rodistaa.delivery import otp
from rodistaa.shipments.tables import delivery_otps
from tests.api.delivery_flows import (
    audit_rows,
    block_rows,
    complete,
    issue_otp,
    notification_rows,
    other_code,
    otp_attempt_events,
    otp_row,
    shipment_row,
    ticket_rows,
    trip_with_otp,
    upload_pod,
)
from tests.api.flows import refreshed
from tests.api.freight_setup import seeded_trip
from tests.conftest import Harness

RETRY_LIMIT: int = DEFAULT_SYSTEM_CONFIG["otpRetryLimit"]


async def _assert_nothing_counted(harness: Harness, shipment_id: str, shipper_id: str) -> None:
    """No attempt counted, no lock, and none of RF04's block, ticket, notification or event."""
    assert await otp_attempt_events(harness, shipment_id) == []
    assert await block_rows(harness, shipment_id) == []
    assert await ticket_rows(harness, shipment_id) == []
    assert await notification_rows(harness, shipper_id) == []
    rejected = await audit_rows(harness, shipment_id, "shipment.otp_rejected")
    assert [e["data"]["attemptCounted"] for e in rejected] == [False] * RETRY_LIMIT
    assert (await shipment_row(harness, shipment_id))["status"] == "OTP_PENDING"


class TestOnlyWrongCodesCount:
    async def test_five_tries_with_the_right_but_expired_code_neither_lock_nor_block(
        self, harness: Harness
    ) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        harness.clock.advance(seconds=harness.settings.delivery_otp_validity_s)
        driver = await refreshed(harness, trip.driver)
        first = await upload_pod(harness, driver, trip.shipment_id, otp=code)
        responses = [first] + [
            await complete(harness, driver, trip.shipment_id, otp=code) for _ in range(RETRY_LIMIT - 1)
        ]
        for response in responses:
            assert (response.status_code, response.json()["code"]) == (403, "OTP_REQUIRED")
            details = response.json()["details"]
            assert (details["otpVerdict"], details["attemptsRemaining"]) == ("EXPIRED", RETRY_LIMIT)
        row = await otp_row(harness, trip.shipment_id)
        assert (row["attempts"], row["locked_at"], row["consumed_at"]) == (0, None, None)
        await _assert_nothing_counted(harness, trip.shipment_id, trip.shipper.user_id)

        # The shipper re-issues and the honest driver completes.
        new_code = await issue_otp(harness, trip)
        done = await complete(harness, driver, trip.shipment_id, otp=new_code)
        assert done.status_code == 200, done.text

    async def test_a_wrong_code_against_an_expired_otp_is_not_counted_either(self, harness: Harness) -> None:
        # Expiry is judged before the code is compared: nothing is learnt, nothing is counted.
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        harness.clock.advance(seconds=harness.settings.delivery_otp_validity_s)
        driver = await refreshed(harness, trip.driver)
        response = await upload_pod(harness, driver, trip.shipment_id, otp=other_code(code))
        assert response.json()["details"]["otpVerdict"] == "EXPIRED"
        assert (await otp_row(harness, trip.shipment_id))["attempts"] == 0
        assert await otp_attempt_events(harness, trip.shipment_id) == []

    async def test_five_tries_without_an_issued_otp_neither_count_nor_block(self, harness: Harness) -> None:
        trip = await seeded_trip(harness)
        assert trip.driver is not None
        first = await upload_pod(harness, trip.driver, trip.shipment_id, otp="123456")
        responses = [first] + [
            await complete(harness, trip.driver, trip.shipment_id, otp="123456")
            for _ in range(RETRY_LIMIT - 1)
        ]
        for response in responses:
            assert (response.status_code, response.json()["code"]) == (403, "OTP_REQUIRED")
            assert response.json()["details"]["otpVerdict"] == "NOT_ISSUED"
        await _assert_nothing_counted(harness, trip.shipment_id, trip.shipper.user_id)

    async def test_wrong_codes_still_count_and_raise_the_attempt_event(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        await upload_pod(harness, trip.driver, trip.shipment_id, otp=other_code(code))
        await complete(harness, trip.driver, trip.shipment_id, otp=other_code(code))
        assert (await otp_row(harness, trip.shipment_id))["attempts"] == 2
        events = await otp_attempt_events(harness, trip.shipment_id)
        assert sorted(e["payload"]["attempts"] for e in events) == [1, 2]


class TestCountingIsBoundToTheCheckedOtp:
    """`count_failed_attempt` re-checks in its UPDATE what the verdict was judged on: a code
    checked before a re-issue or before expiry is not counted against what the row is now."""

    async def _checked_state(self, harness: Harness) -> tuple[Any, otp.OtpState]:
        trip, _ = await trip_with_otp(harness)
        async with harness.app.state.services.db.read() as conn:
            state = await otp.get_state(conn, trip.shipment_id)
        assert state is not None
        return trip, state

    async def test_a_re_issued_otp_is_not_charged_for_the_old_check(self, harness: Harness) -> None:
        trip, checked = await self._checked_state(harness)
        await issue_otp(harness, trip)
        async with harness.app.state.services.db.transaction() as conn:
            counted = await otp.count_failed_attempt(
                conn, checked, retry_limit=RETRY_LIMIT, now=harness.clock.now()
            )
        assert counted is None
        assert (await otp_row(harness, trip.shipment_id))["attempts"] == 0

    async def test_an_otp_expired_since_the_check_is_not_charged(self, harness: Harness) -> None:
        trip, checked = await self._checked_state(harness)
        async with harness.app.state.services.db.transaction() as conn:
            counted = await otp.count_failed_attempt(
                conn, checked, retry_limit=RETRY_LIMIT, now=checked.expires_at
            )
        assert counted is None
        assert (await otp_row(harness, trip.shipment_id))["attempts"] == 0

    async def test_the_live_checked_otp_is_charged_and_locks_at_the_limit(self, harness: Harness) -> None:
        trip, checked = await self._checked_state(harness)
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(
                update(delivery_otps)
                .where(delivery_otps.c.shipment_id == trip.shipment_id)
                .values(attempts=RETRY_LIMIT - 1)
            )
            counted = await otp.count_failed_attempt(
                conn, checked, retry_limit=RETRY_LIMIT, now=harness.clock.now()
            )
        assert counted is not None
        assert (counted.attempts, counted.locked_at) == (RETRY_LIMIT, harness.clock.now())


class TestTheRetryLimitIsAcsConfig:
    async def test_the_otp_locks_at_the_limit_the_rules_see(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        services = harness.app.state.services
        acs = AcsService(
            db=services.db, clock=services.clock, system_config={**DEFAULT_SYSTEM_CONFIG, "otpRetryLimit": 3}
        )
        await acs.start(harness.settings.acs_bundle_path)
        monkeypatch.setattr(services, "acs", acs)
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        wrong = other_code(code)
        first = await upload_pod(harness, trip.driver, trip.shipment_id, otp=wrong)
        responses = [first] + [
            await complete(harness, trip.driver, trip.shipment_id, otp=wrong) for _ in range(2)
        ]
        assert [r.json()["details"]["attemptsRemaining"] for r in responses] == [2, 1, 0]
        row = await otp_row(harness, trip.shipment_id)
        assert (row["attempts"], row["locked_at"]) == (3, harness.clock.now())
        [block] = await block_rows(harness, trip.shipment_id)
        assert block["reason"] == "OTP_BRUTE_FORCE"


class TestAnRf04FailureAfterTheCount:
    async def test_it_is_logged_without_the_code_and_the_driver_gets_otp_required(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        acs = harness.app.state.services.acs
        evaluate = acs.evaluate

        async def failing_on_attempts(event: AcsEvent, provider: FactProvider) -> Decision:
            if event.type == "security.otp_attempt":
                raise RuntimeError("ACS store unavailable")
            return await evaluate(event, provider)

        monkeypatch.setattr(acs, "evaluate", failing_on_attempts)
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        wrong = other_code(code)
        with structlog.testing.capture_logs() as logs:
            first = await upload_pod(harness, trip.driver, trip.shipment_id, otp=wrong)
            responses = [first] + [
                await complete(harness, trip.driver, trip.shipment_id, otp=wrong)
                for _ in range(RETRY_LIMIT - 1)
            ]
        for response in responses:
            assert (response.status_code, response.json()["code"]) == (403, "OTP_REQUIRED")
        # The lock itself committed: brute force is stopped even without RF04's block.
        row = await otp_row(harness, trip.shipment_id)
        assert (row["attempts"], row["locked_at"]) == (RETRY_LIMIT, harness.clock.now())
        assert await block_rows(harness, trip.shipment_id) == []
        failures = [e for e in logs if e["event"] == "delivery_otp_attempt_not_observed"]
        assert [e["otp_attempts"] for e in failures] == list(range(1, RETRY_LIMIT + 1))
        assert [e["otp_locked"] for e in failures] == [False] * (RETRY_LIMIT - 1) + [True]
        for entry in failures:
            assert entry["log_level"] == "error" and entry["shipment_id"] == trip.shipment_id
            assert set(entry) == {
                "event",
                "log_level",
                "shipment_id",
                "otp_attempts",
                "otp_locked",
                "exc_info",
            }
        assert all(code not in repr(entry) and wrong not in repr(entry) for entry in failures)
