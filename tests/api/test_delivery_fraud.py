"""Fraud rules on delivery (RF07 duplicate POD, RF08 POD timestamp, RF19 triad collusion) and
the concurrency guarantees of completion and of the OTP attempt counter."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone
from pathlib import Path

from rodistaa.core.roles import Role
from rodistaa.shipments.status import ShipmentStatus
from tests.api.delivery_flows import (
    audit_rows,
    block_rows,
    complete,
    freeze_rows,
    mark_completed,
    other_code,
    otp_row,
    outbox_rows,
    pdf_file,
    pod_rows,
    shipment_row,
    suspension_rows,
    ticket_rows,
    trip_with_otp,
    upload_pod,
    watchlist_reasons,
)
from tests.api.freight_setup import Trip, fleet_driver, seeded_trip, verified_user
from tests.conftest import Harness

IST = timezone(timedelta(hours=5, minutes=30))


def stored_files(harness: Harness, shipment_id: str) -> list[Path]:
    folder = Path(harness.settings.storage_local_dir) / "pod" / shipment_id
    return sorted(folder.iterdir()) if folder.exists() else []


class TestDuplicatePod:
    async def test_a_file_used_on_another_shipment_freezes_and_stores_nothing(self, harness: Harness) -> None:
        first, first_code = await trip_with_otp(harness)
        second, second_code = await trip_with_otp(harness)
        assert first.driver is not None and second.driver is not None
        content = pdf_file()
        assert (
            await upload_pod(harness, first.driver, first.shipment_id, otp=first_code, content=content)
        ).status_code == 201

        response = await upload_pod(
            harness, second.driver, second.shipment_id, otp=second_code, content=content
        )
        assert (response.status_code, response.json()["code"]) == (403, "POD_DUPLICATE")
        assert response.json()["details"]["ruleId"] == "RF07_POD_DUPLICATE_HASH"
        row = await shipment_row(harness, second.shipment_id)
        assert (row["status"], row["completed_at"]) == ("IN_TRANSIT", None)
        assert await pod_rows(harness, second.shipment_id) == []
        assert stored_files(harness, second.shipment_id) == []
        assert (await otp_row(harness, second.shipment_id))["attempts"] == 0
        [freeze] = await freeze_rows(harness, second.shipment_id)
        assert freeze["reason"] == "POD_REUSE_SUSPECT"
        assert await watchlist_reasons(harness, second.driver.user_id) == ["POD_DUPLICATE"]
        assert [t["team"] for t in await ticket_rows(harness, second.shipment_id)] == ["fraud"]
        assert await freeze_rows(harness, first.shipment_id) == []

        # Frozen: even a fresh file and the right code no longer move it.
        again = await upload_pod(harness, second.driver, second.shipment_id, otp=second_code)
        assert (again.status_code, again.json()["code"]) == (409, "SHIPMENT_FROZEN")
        assert await pod_rows(harness, second.shipment_id) == []

    async def test_one_file_uploaded_to_four_shipments_at_once_completes_one(self, harness: Harness) -> None:
        """All four are judged by ACS before any is stored; the hash lock in the recording
        transaction makes the later ones find the first and ACS judge them again (RF07)."""
        trips = [await trip_with_otp(harness) for _ in range(4)]
        content = pdf_file()
        responses = await asyncio.gather(
            *(
                upload_pod(harness, trip.driver, trip.shipment_id, otp=code, content=content)
                for trip, code in trips
                if trip.driver is not None
            )
        )
        outcomes = sorted((r.status_code, r.json().get("code")) for r in responses)
        assert outcomes == [(201, None)] + [(403, "POD_DUPLICATE")] * 3, [r.text for r in responses]
        stored = [p for trip, _ in trips for p in await pod_rows(harness, trip.shipment_id)]
        assert len(stored) == 1
        for (trip, _), response in zip(trips, responses, strict=True):
            if response.status_code == 403:
                assert [f["reason"] for f in await freeze_rows(harness, trip.shipment_id)] == [
                    "POD_REUSE_SUSPECT"
                ]
                assert stored_files(harness, trip.shipment_id) == []

    async def test_the_same_file_on_the_same_shipment_is_no_fraud(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        content = pdf_file()
        for _ in range(2):
            response = await upload_pod(
                harness, trip.driver, trip.shipment_id, otp=other_code(code), content=content
            )
            assert (response.status_code, response.json()["code"]) == (403, "OTP_REQUIRED")
        assert len(await pod_rows(harness, trip.shipment_id)) == 2
        assert await freeze_rows(harness, trip.shipment_id) == []
        assert await watchlist_reasons(harness, trip.driver.user_id) == []


class TestPodTimestamp:
    async def test_a_capture_time_outside_the_trip_is_refused(self, harness: Harness) -> None:
        started = harness.clock.now() - timedelta(hours=6)
        trip, code = await trip_with_otp(harness, started_at=started)
        assert trip.driver is not None
        too_early = started - timedelta(hours=24, seconds=1)
        too_late = harness.clock.now() + timedelta(hours=24, seconds=1)
        for stamp in (too_early, too_late):
            response = await upload_pod(
                harness, trip.driver, trip.shipment_id, otp=code, metadata_timestamp=stamp.isoformat()
            )
            assert (response.status_code, response.json()["code"]) == (403, "POD_TIMESTAMP_MISMATCH")
        assert [t["team"] for t in await ticket_rows(harness, trip.shipment_id)] == ["operations"] * 2
        assert await pod_rows(harness, trip.shipment_id) == []
        assert stored_files(harness, trip.shipment_id) == []
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "IN_TRANSIT"
        assert await freeze_rows(harness, trip.shipment_id) == []

    async def test_the_window_edges_are_accepted(self, harness: Harness) -> None:
        started = harness.clock.now() - timedelta(hours=6)
        for stamp in (started - timedelta(hours=24), harness.clock.now() + timedelta(hours=24)):
            trip, code = await trip_with_otp(harness, started_at=started)
            assert trip.driver is not None
            ist = stamp.astimezone(IST).isoformat()  # any offset is the same instant
            response = await upload_pod(
                harness, trip.driver, trip.shipment_id, otp=code, metadata_timestamp=ist
            )
            assert response.status_code == 201, response.text
            [pod] = await pod_rows(harness, trip.shipment_id)
            assert pod["metadata_timestamp"] == stamp
            assert await ticket_rows(harness, trip.shipment_id) == []


class TestTriadCollusion:
    async def _triad_history(self, harness: Harness, *, ages_days: list[float]) -> tuple[Trip, str]:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await verified_user(harness, Role.OPERATOR)
        driver = await fleet_driver(harness, operator.user_id)
        for age in ages_days:
            past = await seeded_trip(
                harness, status=ShipmentStatus.COMPLETED, shipper=shipper, operator=operator, driver=driver
            )
            await mark_completed(
                harness, past.shipment_id, completed_at=harness.clock.now() - timedelta(days=age)
            )
        return await trip_with_otp(harness, shipper=shipper, operator=operator, driver=driver)

    async def test_the_fifth_completion_in_30_days_freezes_and_suspends(self, harness: Harness) -> None:
        trip, code = await self._triad_history(harness, ages_days=[1, 7, 20, 29.9])
        assert trip.driver is not None
        response = await upload_pod(harness, trip.driver, trip.shipment_id, otp=code)
        assert response.status_code == 201, response.text
        assert response.json()["shipmentStatus"] == "COMPLETED"  # the driver is not tipped off
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "COMPLETED"
        [freeze] = await freeze_rows(harness, trip.shipment_id)
        assert (freeze["reason"], freeze["rule_id"]) == ("TRIAD_COLLUSION", "RF19_COLLUSION_TRIAD_FREQ")
        [suspension] = await suspension_rows(harness, trip.operator.user_id)
        assert suspension["reason"] == "POSSIBLE_COLLUSION"
        assert [t["team"] for t in await ticket_rows(harness, trip.shipment_id)] == ["fraud"]
        for party in (trip.shipper, trip.operator, trip.driver):
            assert await watchlist_reasons(harness, party.user_id) == ["TRIAD_COLLUSION"]

    async def test_completions_older_than_30_days_do_not_count(self, harness: Harness) -> None:
        trip, code = await self._triad_history(harness, ages_days=[1, 7, 20, 30.1])
        assert trip.driver is not None
        response = await upload_pod(harness, trip.driver, trip.shipment_id, otp=code)
        assert response.status_code == 201, response.text
        assert await freeze_rows(harness, trip.shipment_id) == []
        assert await suspension_rows(harness, trip.operator.user_id) == []

    async def test_another_driver_breaks_the_triad(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await verified_user(harness, Role.OPERATOR)
        regular = await fleet_driver(harness, operator.user_id)
        for _ in range(4):
            past = await seeded_trip(
                harness, status=ShipmentStatus.COMPLETED, shipper=shipper, operator=operator, driver=regular
            )
            await mark_completed(
                harness, past.shipment_id, completed_at=harness.clock.now() - timedelta(days=2)
            )
        trip, code = await trip_with_otp(harness, shipper=shipper, operator=operator)  # a new driver
        assert trip.driver is not None
        assert (await upload_pod(harness, trip.driver, trip.shipment_id, otp=code)).status_code == 201
        assert await freeze_rows(harness, trip.shipment_id) == []


class TestConcurrency:
    async def test_concurrent_correct_uploads_complete_exactly_once(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        driver = trip.driver
        content = pdf_file()
        responses = await asyncio.gather(
            *(upload_pod(harness, driver, trip.shipment_id, otp=code, content=content) for _ in range(10))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 9, [r.text for r in responses]
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"INVALID_STATE"}
        [winner] = [r.json() for r in responses if r.status_code == 201]
        assert [p["id"] for p in await pod_rows(harness, trip.shipment_id)] == [winner["id"]]
        assert [f.name for f in stored_files(harness, trip.shipment_id)] == [winner["id"]]
        assert len(await audit_rows(harness, trip.shipment_id, "shipment.completed")) == 1
        completed = [
            e
            for e in await outbox_rows(harness, "shipment.completed")
            if e["payload"]["shipmentId"] == trip.shipment_id
        ]
        assert len(completed) == 1
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "COMPLETED"

    async def test_concurrent_retries_complete_exactly_once(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        driver = trip.driver
        assert (await upload_pod(harness, driver, trip.shipment_id, otp=other_code(code))).status_code == 403
        responses = await asyncio.gather(
            *(complete(harness, driver, trip.shipment_id, otp=code) for _ in range(10))
        )
        assert sorted(r.status_code for r in responses) == [200] + [409] * 9, [r.text for r in responses]
        assert len(await audit_rows(harness, trip.shipment_id, "shipment.completed")) == 1
        assert (await otp_row(harness, trip.shipment_id))["attempts"] == 1

    async def test_concurrent_wrong_codes_are_counted_exactly_and_lock_once(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        driver, wrong = trip.driver, other_code(code)
        responses = await asyncio.gather(
            *(upload_pod(harness, driver, trip.shipment_id, otp=wrong) for _ in range(10))
        )
        codes = [(r.status_code, r.json()["code"]) for r in responses]
        assert set(codes) <= {(403, "OTP_REQUIRED"), (409, "SHIPMENT_FROZEN")}, codes
        otp = await otp_row(harness, trip.shipment_id)
        assert otp["attempts"] == 5 and otp["locked_at"] is not None
        rejected = await audit_rows(harness, trip.shipment_id, "shipment.otp_rejected")
        assert sum(1 for e in rejected if e["data"]["attemptCounted"]) == 5
        assert sum(1 for e in rejected if e["data"]["otpLocked"] and e["data"]["attemptCounted"]) == 1
        assert len(await block_rows(harness, trip.shipment_id)) == 1
        assert [t["team"] for t in await ticket_rows(harness, trip.shipment_id)] == ["security"]
        # Every refused upload kept its POD; a frozen refusal stored nothing.
        kept = [r.json()["details"]["podId"] for r in responses if r.status_code == 403]
        assert sorted(p["id"] for p in await pod_rows(harness, trip.shipment_id)) == sorted(kept)
        assert len(stored_files(harness, trip.shipment_id)) == len(kept)
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "OTP_PENDING"
