"""Fixes for a time already stored (PRODUCT §6 "Tracking"): one fix per shipment and time is
kept; a repeat with the same coordinates is an exact duplicate (a resent batch), one with
DIFFERENT coordinates is a conflict: not stored, counted apart and logged, never dropped
silently."""

from __future__ import annotations

import structlog

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
    single,
)
from tests.conftest import Harness


def conflict_logs(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [entry for entry in logs if entry["event"] == "tracking_fix_conflicts"]


class TestConflictingFixes:
    async def test_a_stored_time_with_other_coordinates_is_a_conflict_not_a_duplicate(
        self, harness: Harness
    ) -> None:
        trip, driver = await driver_trip(harness)
        when = at(harness, -10)
        await ping_ok(harness, driver, single(trip.shipment_id, MUMBAI, timestamp=iso(when)))
        elsewhere = north_of(MUMBAI, 3)
        with structlog.testing.capture_logs() as logs:
            body = await ping_ok(harness, driver, single(trip.shipment_id, elsewhere, timestamp=iso(when)))
        assert (body["accepted"], body["duplicates"], body["conflicts"]) == (0, 0, 1)
        assert body["latest"]["coordinates"] == MUMBAI
        # The first fix of that time stays; the track and the position are not rewritten.
        [row] = await ping_rows(harness, trip.shipment_id)
        assert (row["lat"], row["lng"], row["recorded_at"]) == (MUMBAI["lat"], MUMBAI["lng"], when)
        position = await position_row(harness, trip.shipment_id)
        assert position is not None and position["lat"] == MUMBAI["lat"]
        assert len(await gps_contexts(harness, driver)) == 1  # the conflict raised no ACS event
        [entry] = conflict_logs(logs)
        assert entry["log_level"] == "warning"
        assert (entry["shipment_id"], entry["driver_id"], entry["conflicts"]) == (
            trip.shipment_id,
            driver.user_id,
            1,
        )
        assert (entry["fixes"], entry["recorded_at"]) == (["(single)"], [when.isoformat()])
        # Ids and times only: where the driver is never reaches the log.
        assert str(elsewhere["lat"]) not in repr(entry) and str(MUMBAI["lat"]) not in repr(entry)

    async def test_duplicates_and_conflicts_are_counted_apart_in_a_batch(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        times = [at(harness, s) for s in (-300, -200, -100)]
        points = [north_of(MUMBAI, km) for km in (0, 1, 2)]
        await ping_ok(
            harness, driver, batch(trip.shipment_id, [fix(times[0], points[0]), fix(times[1], points[1])])
        )
        fixes = [
            fix(times[0], points[0]),  # exact duplicate of a stored fix
            fix(times[1], north_of(MUMBAI, 9)),  # conflicts with a stored fix
            fix(times[2], points[2]),  # new
            fix(times[2], north_of(MUMBAI, 7)),  # conflicts with the new fix of this batch
            fix(times[2], points[2], speed=40.0),  # same place: a duplicate of the new fix
        ]
        with structlog.testing.capture_logs() as logs:
            body = await ping_ok(harness, driver, batch(trip.shipment_id, fixes))
        assert (body["accepted"], body["duplicates"], body["conflicts"]) == (1, 2, 2)
        rows = await ping_rows(harness, trip.shipment_id)
        assert [(r["recorded_at"], r["lat"]) for r in rows] == [
            (when, point["lat"]) for when, point in zip(times, points, strict=True)
        ]
        [entry] = conflict_logs(logs)
        assert entry["conflicts"] == 2
        assert entry["fixes"] == ["pings.1.", "pings.3."]
        assert entry["recorded_at"] == [times[1].isoformat(), times[2].isoformat()]

    async def test_exact_duplicates_log_nothing(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        body = single(trip.shipment_id, timestamp=iso(at(harness, -10)))
        await ping_ok(harness, driver, body)
        with structlog.testing.capture_logs() as logs:
            again = await ping_ok(harness, driver, body)
        assert (again["duplicates"], again["conflicts"]) == (1, 0)
        assert conflict_logs(logs) == []
