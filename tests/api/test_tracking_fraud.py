"""GPS fraud rules fired from `POST /v1/tracking/ping` (RF05 jump, RF06 spoofing), what a frozen
shipment does with further pings, and concurrent copies of one batch."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import select

from rodistaa.acs.tables import acs_blocks, acs_shipment_freezes, notifications, outbox_events, tickets
from rodistaa.shipments.repo import freeze_reason
from tests.api.test_tracking_pings import (
    MUMBAI,
    at,
    batch,
    driver_trip,
    fix,
    gps_contexts,
    iso,
    north_of,
    ping_ok,
    ping_rows,
    position_row,
    post_ping,
    shipment_row,
    single,
)
from tests.conftest import Harness


async def freezes(h: Harness, shipment_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = await conn.execute(
            select(acs_shipment_freezes).where(acs_shipment_freezes.c.shipment_id == shipment_id)
        )
        return [dict(r) for r in rows.mappings()]


async def current_freeze_reason(h: Harness, shipment_id: str) -> str | None:
    async with h.app.state.services.db.read() as conn:
        return await freeze_reason(conn, shipment_id, h.clock.now())


async def rows_of(h: Harness, table: Any, *conditions: Any) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(select(table).where(*conditions))).mappings()]


class TestGpsJump:
    async def test_250_km_in_two_minutes_freezes_the_shipment(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        first = await ping_ok(
            harness, driver, single(trip.shipment_id, MUMBAI, timestamp=iso(at(harness, -240)))
        )
        assert first["frozen"] is False
        jump = single(trip.shipment_id, north_of(MUMBAI, 250), timestamp=iso(at(harness, -120)))
        second = await ping_ok(harness, driver, jump)
        assert (second["accepted"], second["frozen"]) == (1, True)

        [freeze] = await freezes(harness, trip.shipment_id)
        assert (freeze["reason"], freeze["rule_id"], freeze["lifted_at"]) == (
            "GPS_JUMP",
            "RF05_GPS_JUMP_ANOMALY",
            None,
        )
        assert await current_freeze_reason(harness, trip.shipment_id) == "GPS_JUMP"
        # FROZEN is not stored: the workflow state stays and shows again once lifted.
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "IN_TRANSIT"
        [note] = await rows_of(harness, notifications, notifications.c.user_id == trip.operator.user_id)
        assert note["role"] == "OPERATOR" and trip.shipment_id in note["message"]
        [event] = await rows_of(harness, outbox_events, outbox_events.c.name == "gps.anomaly.detected")
        assert json.loads(event["payload"])["shipmentId"] == trip.shipment_id
        assert len(await ping_rows(harness, trip.shipment_id)) == 2  # the track keeps the jump
        contexts = await gps_contexts(harness, driver)
        assert contexts[1]["gps"]["deltaTimeSec"] == 120
        assert contexts[1]["gps"]["deltaDistanceKm"] >= 249.9

    async def test_the_same_distance_over_more_than_five_minutes_does_not_freeze(
        self, harness: Harness
    ) -> None:
        trip, driver = await driver_trip(harness)
        await ping_ok(harness, driver, single(trip.shipment_id, MUMBAI, timestamp=iso(at(harness, -400))))
        later = single(trip.shipment_id, north_of(MUMBAI, 250), timestamp=iso(at(harness, -99)))
        assert (await ping_ok(harness, driver, later))["frozen"] is False
        assert await freezes(harness, trip.shipment_id) == []

    async def test_a_frozen_shipment_keeps_recording_without_new_acs_events(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        fixes = [fix(at(harness, -240), MUMBAI), fix(at(harness, -120), north_of(MUMBAI, 250))]
        assert (await ping_ok(harness, driver, batch(trip.shipment_id, fixes)))["frozen"] is True
        evaluated = len(await gps_contexts(harness, driver))

        # Another jump back: stored as evidence, but no second freeze, ticket or notification.
        back = single(trip.shipment_id, MUMBAI, timestamp=iso(at(harness, -60)), mockLocation=True)
        body = await ping_ok(harness, driver, back)
        assert (body["accepted"], body["frozen"]) == (1, True)
        assert body["latest"]["coordinates"] == MUMBAI
        assert len(await ping_rows(harness, trip.shipment_id)) == 3
        assert len(await gps_contexts(harness, driver)) == evaluated == 2
        assert len(await freezes(harness, trip.shipment_id)) == 1
        assert await rows_of(harness, acs_blocks, acs_blocks.c.entity_type == "device") == []

    async def test_a_batch_stops_evaluating_once_a_fix_froze_the_shipment(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        far = north_of(MUMBAI, 250)
        fixes = [
            fix(at(harness, -400), MUMBAI),
            fix(at(harness, -300), far),  # the jump
            fix(at(harness, -200), north_of(far, 1)),
            fix(at(harness, -100), MUMBAI),  # a jump back
        ]
        body = await ping_ok(harness, driver, batch(trip.shipment_id, fixes))
        assert (body["accepted"], body["frozen"]) == (4, True)
        assert len(await ping_rows(harness, trip.shipment_id)) == 4
        assert len(await gps_contexts(harness, driver)) == 2
        assert len(await freezes(harness, trip.shipment_id)) == 1
        position = await position_row(harness, trip.shipment_id)
        assert position is not None and position["lat"] == MUMBAI["lat"]


class TestGpsSpoofing:
    async def test_a_mock_location_freezes_and_blocks_the_device(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        body = await ping_ok(harness, driver, single(trip.shipment_id, mockLocation=True))
        assert body["frozen"] is True
        [freeze] = await freezes(harness, trip.shipment_id)
        assert (freeze["reason"], freeze["rule_id"]) == ("GPS_SPOOF", "RF06_GPS_SPOOF_SIGNATURE")
        [block] = await rows_of(harness, acs_blocks, acs_blocks.c.entity_type == "device")
        assert (block["entity_id"], block["reason"]) == (driver.device_id, "DEVICE_SPOOF_DETECTED")
        [ticket] = await rows_of(harness, tickets, tickets.c.rule_id == "RF06_GPS_SPOOF_SIGNATURE")
        assert ticket["team"] == "fraud"
        assert json.loads(ticket["refs"]) == [driver.device_id, trip.shipment_id]
        [row] = await ping_rows(harness, trip.shipment_id)
        assert row["mock_location"] is True

        # The blocked device can no longer send anything.
        harness.clock.advance(seconds=30)
        response = await post_ping(harness, driver, single(trip.shipment_id))
        assert (response.status_code, response.json()["code"]) == (403, "DEVICE_BLOCKED")
        assert len(await ping_rows(harness, trip.shipment_id)) == 1

    async def test_a_replayed_track_scoring_above_the_threshold_freezes(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        # An emulator replay: a fix every 60 s exactly, 3 km further each time (180 km/h),
        # claiming a perfect accuracy. No mock-location flag.
        fixes = [
            fix(at(harness, -600 + 60 * i), north_of(MUMBAI, 3 * i), accuracy=0, speed=60.0) for i in range(8)
        ]
        body = await ping_ok(harness, driver, batch(trip.shipment_id, fixes))
        assert (body["accepted"], body["frozen"]) == (8, True)
        scores = [c["telemetry"]["spoofScore"] for c in await gps_contexts(harness, driver)]
        # zero accuracy; + impossible speed and speed mismatch; + replayed cadence and constant
        # accuracy once six fixes show it — where RF06 fires and evaluation stops.
        assert scores == [0.15, 0.7, 0.7, 0.7, 0.7, 1.0]
        [freeze] = await freezes(harness, trip.shipment_id)
        assert freeze["reason"] == "GPS_SPOOF"
        [block] = await rows_of(harness, acs_blocks, acs_blocks.c.entity_type == "device")
        assert block["entity_id"] == driver.device_id

    async def test_an_ordinary_drive_does_not_score(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        seconds = [0, 58, 121, 180, 242, 299, 361, 420]
        km = [0, 0.9, 1.95, 2.8, 3.9, 4.85, 5.9, 6.8]
        fixes = [
            fix(at(harness, -600 + s), north_of(MUMBAI, d), accuracy=5 + i % 3, speed=55.0 + i)
            for i, (s, d) in enumerate(zip(seconds, km, strict=True))
        ]
        body = await ping_ok(harness, driver, batch(trip.shipment_id, fixes))
        assert body["frozen"] is False
        assert {c["telemetry"]["spoofScore"] for c in await gps_contexts(harness, driver)} == {0.0}


class TestConcurrentBatches:
    async def test_the_same_batch_posted_five_times_at_once_is_stored_once(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        fixes = [fix(at(harness, -600 + 30 * i), north_of(MUMBAI, 0.4 * i)) for i in range(20)]
        responses = await asyncio.gather(
            *(post_ping(harness, driver, batch(trip.shipment_id, fixes)) for _ in range(5))
        )
        assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
        bodies = [r.json() for r in responses]
        assert sum(b["accepted"] for b in bodies) == 20
        assert sum(b["duplicates"] for b in bodies) == 80
        rows = await ping_rows(harness, trip.shipment_id)
        assert len(rows) == len({r["recorded_at"] for r in rows}) == 20
        # Only the request that stored the fixes raised their ACS events.
        assert len(await gps_contexts(harness, driver)) == 20
        position = await position_row(harness, trip.shipment_id)
        assert position is not None and position["recorded_at"] == rows[-1]["recorded_at"]
