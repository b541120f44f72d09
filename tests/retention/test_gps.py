"""`gps-retention`: whole UTC days of raw fixes past GPS_RETENTION_DAYS become one summary row per
shipment and day, in the same transaction that deletes them; running trips and the evidence of
frozen shipments are kept. On SQLite and PostgreSQL (the `harness` fixture runs both)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select, update

from rodistaa.acs.tables import acs_blocks, acs_shipment_freezes
from rodistaa.core.roles import Role
from rodistaa.retention.gps import gps_retention
from rodistaa.retention.policy import gps_due_before
from rodistaa.shipments.status import ShipmentStatus
from rodistaa.tracking.tables import gps_daily_summaries, shipment_positions
from tests.api.freight_setup import Trip, seeded_trip, verified_user
from tests.api.shipment_flows import acs_block_shipment, acs_freeze
from tests.conftest import Harness
from tests.retention.seeding import (
    SeedFix,
    audit_head_seq,
    audit_since,
    fix_times,
    insert_fixes,
    insert_position,
    rows,
    summaries,
)

MEAN_EARTH_RADIUS_KM = 6371.0088
LNG = 73.8


def boundary(h: Harness) -> datetime:
    """The first instant whose fixes are kept with the default 30 days."""
    return gps_due_before(h.clock.now(), 30)


async def ended_trip(h: Harness, status: ShipmentStatus = ShipmentStatus.COMPLETED, **kwargs: object) -> Trip:
    return await seeded_trip(h, status=status, **kwargs)  # type: ignore[arg-type]


def driver_of(trip: Trip) -> str:
    assert trip.driver is not None
    return trip.driver.user_id


class TestSummaries:
    async def test_each_due_day_becomes_one_summary_and_its_fixes_are_deleted(self, harness: Harness) -> None:
        h = harness
        trip = await ended_trip(h)
        edge = boundary(h)
        day_a, day_b = edge - timedelta(days=2), edge - timedelta(days=1)
        # A known track along one meridian: its length is the arc, R * delta-latitude.
        track = [
            SeedFix(day_a + timedelta(hours=10), 18.00, LNG, speed_kmh=40.0),
            SeedFix(day_a + timedelta(hours=10, minutes=10), 18.01, LNG, speed_kmh=55.5, mock=True),
            SeedFix(day_a + timedelta(hours=10, minutes=20), 18.03, LNG),
            SeedFix(day_a + timedelta(hours=10, minutes=30), 18.06, LNG, speed_kmh=20.0),
        ]
        last_instant = edge - timedelta(microseconds=1)
        kept = [edge, edge + timedelta(hours=5), h.clock.now() - timedelta(days=1)]
        await insert_fixes(h, trip.shipment_id, driver_of(trip), list(reversed(track)))
        await insert_fixes(
            h, trip.shipment_id, driver_of(trip), [SeedFix(day_b), SeedFix(last_instant, 19.0, 74.0)]
        )
        await insert_fixes(h, trip.shipment_id, driver_of(trip), [SeedFix(at) for at in kept])
        await insert_position(h, trip.shipment_id, kept[-1])
        seq = await audit_head_seq(h)

        result = await gps_retention(h.app.state.services)

        assert result.summary() == {
            "job": "gps-retention",
            "before": edge.isoformat(),
            "summarisedDays": 2,
            "deletedFixes": 6,
            "conflicts": 0,
        }
        assert await fix_times(h, trip.shipment_id) == kept
        found = await summaries(h, trip.shipment_id)
        assert sorted(found) == [f"{day_a:%Y-%m-%d}", f"{day_b:%Y-%m-%d}"]
        first = found[f"{day_a:%Y-%m-%d}"]
        expected_km = MEAN_EARTH_RADIUS_KM * math.radians(0.06)
        assert abs(first["distance_km"] - expected_km) < 0.001  # within a metre
        assert (first["ping_count"], first["max_speed_kmh"], first["mock_location_count"]) == (4, 55.5, 1)
        assert (first["first_recorded_at"], first["last_recorded_at"]) == (track[0].at, track[-1].at)
        assert (first["first_lat"], first["first_lng"], first["last_lat"], first["last_lng"]) == (
            18.00,
            LNG,
            18.06,
            LNG,
        )
        second = found[f"{day_b:%Y-%m-%d}"]
        assert (second["ping_count"], second["first_recorded_at"], second["last_recorded_at"]) == (
            2,
            day_b,
            last_instant,
        )
        assert (second["last_lat"], second["last_lng"], second["max_speed_kmh"]) == (19.0, 74.0, None)
        assert second["distance_km"] > 0 and second["mock_location_count"] == 0
        assert await audit_since(h, seq) == [
            ("tracking.fixes_summarised", trip.shipment_id, {"day": f"{day_a:%Y-%m-%d}", "pingCount": 4}),
            ("tracking.fixes_summarised", trip.shipment_id, {"day": f"{day_b:%Y-%m-%d}", "pingCount": 2}),
        ]
        position = await rows(
            h, select(shipment_positions).where(shipment_positions.c.shipment_id == trip.shipment_id)
        )
        assert [p["recorded_at"] for p in position] == [kept[-1]]

        again = await gps_retention(h.app.state.services)
        assert (again.days, again.deleted) == (0, 0)
        assert await summaries(h, trip.shipment_id) == found

    async def test_a_single_fix_day_has_no_distance(self, harness: Harness) -> None:
        h = harness
        trip = await ended_trip(h, ShipmentStatus.CANCELLED)
        at = boundary(h) - timedelta(days=3, hours=-7)
        await insert_fixes(h, trip.shipment_id, driver_of(trip), [SeedFix(at, speed_kmh=0.0, mock=True)])

        await gps_retention(h.app.state.services)

        [summary] = (await summaries(h, trip.shipment_id)).values()
        assert (summary["ping_count"], summary["distance_km"], summary["max_speed_kmh"]) == (1, 0.0, 0.0)
        assert summary["mock_location_count"] == 1 and await fix_times(h, trip.shipment_id) == []

    async def test_a_shorter_setting_moves_the_cut_off(self, harness: Harness) -> None:
        h = harness
        trip = await ended_trip(h)
        now = h.clock.now()
        at = [now - timedelta(days=12), now - timedelta(days=5)]
        await insert_fixes(h, trip.shipment_id, driver_of(trip), [SeedFix(t) for t in at])
        services = h.app.state.services
        services = replace(services, settings=services.settings.model_copy(update={"gps_retention_days": 10}))

        result = await gps_retention(services)

        assert result.before == gps_due_before(now, 10) and result.deleted == 1
        assert await fix_times(h, trip.shipment_id) == [at[1]]


class TestWhatIsKept:
    async def test_running_trips_and_held_shipments_keep_their_raw_fixes(self, harness: Harness) -> None:
        h = harness
        shipper = await verified_user(h, Role.SHIPPER)
        operator = await verified_user(h, Role.OPERATOR)
        parties = {"shipper": shipper, "operator": operator}
        en_route = await ended_trip(h, ShipmentStatus.IN_TRANSIT, **parties)
        broken_down = await ended_trip(h, ShipmentStatus.DRIVER_PENDING_APPROVAL, **parties)
        frozen = await ended_trip(h, **parties)
        blocked = await ended_trip(h, ShipmentStatus.FAILED, **parties)
        unfrozen = await ended_trip(h, **parties)
        block_expired = await ended_trip(h, **parties)
        await acs_freeze(h, frozen.shipment_id)
        await acs_block_shipment(h, blocked.shipment_id)
        await acs_freeze(h, unfrozen.shipment_id)
        await lift_freezes(h, unfrozen.shipment_id)
        await acs_block_shipment(h, block_expired.shipment_id)
        await expire_blocks(h, block_expired.shipment_id)
        old = boundary(h) - timedelta(days=5)
        trips = [en_route, broken_down, frozen, blocked, unfrozen, block_expired]
        for trip in trips:
            await insert_fixes(
                h, trip.shipment_id, driver_of(trip), [SeedFix(old), SeedFix(old + timedelta(days=1))]
            )

        result = await gps_retention(h.app.state.services)

        assert (result.days, result.deleted) == (4, 4)
        for kept in (en_route, broken_down, frozen, blocked):
            assert len(await fix_times(h, kept.shipment_id)) == 2
            assert await summaries(h, kept.shipment_id) == {}
        for summarised in (unfrozen, block_expired):
            assert await fix_times(h, summarised.shipment_id) == []
            assert len(await summaries(h, summarised.shipment_id)) == 2

        # The evidence goes only once the review is over and the hold lifted.
        await lift_freezes(h, frozen.shipment_id)
        after = await gps_retention(h.app.state.services)
        assert (after.days, after.deleted) == (2, 2)
        assert await fix_times(h, frozen.shipment_id) == []

    async def test_a_day_already_summarised_is_left_alone_and_reported(self, harness: Harness) -> None:
        h = harness
        trip = await ended_trip(h)
        day = boundary(h) - timedelta(days=4)
        earlier = day - timedelta(days=1)
        await insert_fixes(h, trip.shipment_id, driver_of(trip), [SeedFix(earlier), SeedFix(day)])
        existing = {
            "shipment_id": trip.shipment_id,
            "day": f"{day:%Y-%m-%d}",
            "ping_count": 7,
            "first_recorded_at": day,
            "last_recorded_at": day,
            "first_lat": 1.0,
            "first_lng": 2.0,
            "last_lat": 1.0,
            "last_lng": 2.0,
            "distance_km": 3.0,
            "max_speed_kmh": None,
            "mock_location_count": 0,
        }
        async with h.app.state.services.db.transaction() as conn:
            await conn.execute(gps_daily_summaries.insert().values(**existing))

        result = await gps_retention(h.app.state.services)

        assert (result.days, result.deleted, result.conflicts) == (
            1,
            1,
            [f"{trip.shipment_id}/{day:%Y-%m-%d}"],
        )
        assert await fix_times(h, trip.shipment_id) == [day]  # rolled back: the raw fix stays
        assert (await summaries(h, trip.shipment_id))[f"{day:%Y-%m-%d}"] == existing


class TestBatches:
    async def test_concurrent_runs_over_several_pages_summarise_each_day_once(self, harness: Harness) -> None:
        h = harness
        shipper = await verified_user(h, Role.SHIPPER)
        operator = await verified_user(h, Role.OPERATOR)
        trips = [await ended_trip(h, shipper=shipper, operator=operator) for _ in range(3)]
        start = boundary(h) - timedelta(days=3)
        for trip in trips:
            fixes = [SeedFix(start + timedelta(hours=n * 8), 18 + n / 100, LNG) for n in range(9)]
            await insert_fixes(h, trip.shipment_id, driver_of(trip), fixes)
        services = h.app.state.services

        first, second = await asyncio.gather(gps_retention(services, page=1), gps_retention(services, page=2))

        assert first.days + second.days == 9 and first.deleted + second.deleted == 27
        assert first.conflicts == second.conflicts == []
        for trip in trips:
            assert await fix_times(h, trip.shipment_id) == []
            found = await summaries(h, trip.shipment_id)
            assert [found[day]["ping_count"] for day in sorted(found)] == [3, 3, 3]


async def lift_freezes(h: Harness, shipment_id: str) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            update(acs_shipment_freezes)
            .where(acs_shipment_freezes.c.shipment_id == shipment_id)
            .values(lifted_at=h.clock.now(), lifted_by="USR-AD-TEST")
        )


async def expire_blocks(h: Harness, shipment_id: str) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            update(acs_blocks)
            .where(acs_blocks.c.entity_id == shipment_id)
            .values(expires_at=h.clock.now() - timedelta(seconds=1))
        )
