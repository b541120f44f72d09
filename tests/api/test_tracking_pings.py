"""`POST /v1/tracking/ping` (PRODUCT §6 "Tracking"): who may ping, validation, states,
duplicates, batches and late fixes, and what each stored fix feeds ACS `gps.ping`.
RF05/RF06 and concurrency are in `test_tracking_fraud.py`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rodistaa.acs.tables import acs_events
from rodistaa.core.roles import Role
from rodistaa.shipments.status import ShipmentStatus
from rodistaa.shipments.tables import shipments
from rodistaa.tracking.tables import gps_pings, shipment_positions
from tests.api.booking_flows import session_with_role
from tests.api.flows import Session
from tests.api.freight_setup import Trip, fleet_driver, seeded_trip
from tests.conftest import Harness

MUMBAI = {"lat": 19.076, "lng": 72.8777}
# One degree of latitude along a meridian, in km (great circle, IUGG mean radius).
KM_PER_DEGREE_LAT = 111.195


# --- helpers (imported by the other tracking test modules) ---------------------------------------


def iso(moment: datetime) -> str:
    return moment.isoformat()


def at(h: Harness, seconds: float = 0) -> datetime:
    return h.clock.now() + timedelta(seconds=seconds)


def north_of(point: dict[str, float], km: float) -> dict[str, float]:
    return {"lat": point["lat"] + km / KM_PER_DEGREE_LAT, "lng": point["lng"]}


def fix(when: datetime, point: dict[str, float] | None = None, **extra: Any) -> dict[str, Any]:
    return {"coordinates": dict(point or MUMBAI), "timestamp": iso(when), **extra}


def single(shipment_id: str, point: dict[str, float] | None = None, **extra: Any) -> dict[str, Any]:
    return {"shipmentId": shipment_id, "coordinates": dict(point or MUMBAI), **extra}


def batch(shipment_id: str, fixes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"shipmentId": shipment_id, "pings": fixes}


async def post_ping(h: Harness, session: Session, body: dict[str, Any]) -> httpx.Response:
    return await h.client.post("/v1/tracking/ping", json=body, headers=session.headers)


async def ping_ok(h: Harness, session: Session, body: dict[str, Any]) -> dict[str, Any]:
    response = await post_ping(h, session, body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def ping_rows(h: Harness, shipment_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = await conn.execute(
            select(gps_pings).where(gps_pings.c.shipment_id == shipment_id).order_by(gps_pings.c.recorded_at)
        )
        return [dict(r) for r in rows.mappings()]


async def position_row(h: Harness, shipment_id: str) -> dict[str, Any] | None:
    async with h.app.state.services.db.read() as conn:
        row = (
            (
                await conn.execute(
                    select(shipment_positions).where(shipment_positions.c.shipment_id == shipment_id)
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def gps_contexts(h: Harness, driver: Session) -> list[dict[str, Any]]:
    """The contexts ACS evaluated for the driver's `gps.ping` events, in fix time order."""
    async with h.app.state.services.db.read() as conn:
        rows = await conn.execute(
            select(acs_events.c.context).where(
                acs_events.c.event_type == "gps.ping", acs_events.c.actor_id == driver.user_id
            )
        )
        contexts = [json.loads(r.context) for r in rows]
    return sorted(contexts, key=lambda c: c["gps"]["timestamp"])


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"]["field"] == field, body


async def driver_trip(h: Harness, status: ShipmentStatus = ShipmentStatus.IN_TRANSIT) -> tuple[Trip, Session]:
    """A trip started two hours ago (so fixes of the last two hours are in its window)."""
    trip = await seeded_trip(h, status=status, started_at=at(h, -7200))
    assert trip.driver is not None
    return trip, trip.driver


# --- who may ping --------------------------------------------------------------------------------


class TestPingAccess:
    async def test_anonymous_is_unauthorized(self, harness: Harness) -> None:
        trip, _ = await driver_trip(harness)
        response = await harness.client.post("/v1/tracking/ping", json=single(trip.shipment_id))
        assert response.status_code == 401
        assert await ping_rows(harness, trip.shipment_id) == []

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.OPERATOR, Role.ADMIN, Role.KYC_ADMIN])
    async def test_other_roles_are_forbidden(self, harness: Harness, role: Role) -> None:
        trip, _ = await driver_trip(harness)
        session = await session_with_role(harness, role)
        response = await post_ping(harness, session, single(trip.shipment_id))
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert await ping_rows(harness, trip.shipment_id) == []

    async def test_the_shipments_own_parties_other_than_the_driver_are_forbidden(
        self, harness: Harness
    ) -> None:
        trip, _ = await driver_trip(harness)
        for session in (trip.shipper, trip.operator):
            response = await post_ping(harness, session, single(trip.shipment_id))
            assert response.status_code == 403
        assert await ping_rows(harness, trip.shipment_id) == []

    async def test_another_driver_gets_not_found(self, harness: Harness) -> None:
        trip, _ = await driver_trip(harness)
        other_trip, other_driver = await driver_trip(harness)
        idle_driver = await fleet_driver(harness, trip.operator.user_id)
        for session in (other_driver, idle_driver):
            response = await post_ping(harness, session, single(trip.shipment_id))
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
        assert await ping_rows(harness, trip.shipment_id) == []
        assert await ping_rows(harness, other_trip.shipment_id) == []

    async def test_unknown_shipment_is_not_found(self, harness: Harness) -> None:
        _, driver = await driver_trip(harness)
        response = await post_ping(harness, driver, single("SH-01ARZ3NDEKTSV4RRFFQ69G5FAV"))
        assert response.status_code == 404


# --- validation ----------------------------------------------------------------------------------


class TestPingValidation:
    @pytest.mark.parametrize(
        ("extra", "field"),
        [
            ({"coordinates": {"lat": 90.01, "lng": 72.0}}, "coordinates.lat"),
            ({"coordinates": {"lat": -91, "lng": 72.0}}, "coordinates.lat"),
            ({"coordinates": {"lat": 19.0, "lng": 180.5}}, "coordinates.lng"),
            ({"coordinates": {"lat": 19.0, "lng": -181}}, "coordinates.lng"),
            ({"coordinates": {"lat": 19.0}}, "coordinates.lng"),
            ({"speed": -0.1}, "speed"),
            ({"speed": 1000.5}, "speed"),
            ({"heading": 360}, "heading"),
            ({"heading": -1}, "heading"),
            ({"accuracy": -1}, "accuracy"),
            ({"timestamp": "2030-01-01T10:00:00"}, "timestamp"),
            ({"timestamp": "yesterday"}, "timestamp"),
            # Not convertible to UTC: refused up front, never a 500.
            ({"timestamp": "0001-01-01T00:00:00+05:30"}, "timestamp"),
            ({"mockLocation": "maybe"}, "mockLocation"),
            ({"altitude": 12}, "altitude"),
        ],
    )
    async def test_bad_single_ping_fields(self, harness: Harness, extra: dict[str, Any], field: str) -> None:
        trip, driver = await driver_trip(harness)
        assert_refused(await post_ping(harness, driver, single(trip.shipment_id, **extra)), field)
        assert await ping_rows(harness, trip.shipment_id) == []

    async def test_missing_coordinates(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        body = {"shipmentId": trip.shipment_id, "speed": 40}
        assert_refused(await post_ping(harness, driver, body), "coordinates")

    async def test_missing_shipment_id(self, harness: Harness) -> None:
        _, driver = await driver_trip(harness)
        assert_refused(await post_ping(harness, driver, {"coordinates": MUMBAI}), "shipmentId")

    async def test_timestamp_beyond_the_clock_skew_allowance(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        body = single(trip.shipment_id, timestamp=iso(at(harness, 121)))
        assert_refused(await post_ping(harness, driver, body), "timestamp")
        assert await ping_rows(harness, trip.shipment_id) == []

    async def test_timestamp_within_the_clock_skew_allowance_is_accepted(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        body = await ping_ok(harness, driver, single(trip.shipment_id, timestamp=iso(at(harness, 119))))
        assert body["accepted"] == 1

    async def test_timestamp_before_the_shipment_started(self, harness: Harness) -> None:
        start = at(harness, -3600)
        trip = await seeded_trip(harness, started_at=start)
        assert trip.driver is not None
        too_early = single(trip.shipment_id, timestamp=iso(start - timedelta(seconds=121)))
        assert_refused(await post_ping(harness, trip.driver, too_early), "timestamp")
        just_in = single(trip.shipment_id, timestamp=iso(start - timedelta(seconds=60)))
        assert (await ping_ok(harness, trip.driver, just_in))["accepted"] == 1

    async def test_single_and_batch_mixed(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        body = {**batch(trip.shipment_id, [fix(at(harness))]), "coordinates": MUMBAI}
        assert_refused(await post_ping(harness, driver, body), "coordinates")
        body = {**batch(trip.shipment_id, [fix(at(harness))]), "speed": 40}
        assert_refused(await post_ping(harness, driver, body), "speed")

    @pytest.mark.parametrize(
        ("bad_fix", "field"),
        [
            ({"coordinates": {"lat": 95, "lng": 72}}, "pings.1.coordinates.lat"),
            ({"heading": 400}, "pings.1.heading"),
            ({"speed": -5}, "pings.1.speed"),
            ({"timestamp": None}, "pings.1.timestamp"),
            ({"timestamp": "9999-12-31T23:59:59-05:00"}, "pings.1.timestamp"),
        ],
    )
    async def test_bad_fix_in_a_batch_is_named(
        self, harness: Harness, bad_fix: dict[str, Any], field: str
    ) -> None:
        trip, driver = await driver_trip(harness)
        fixes = [fix(at(harness, -60)), {**fix(at(harness, -30)), **bad_fix}, fix(at(harness))]
        assert_refused(await post_ping(harness, driver, batch(trip.shipment_id, fixes)), field)
        assert await ping_rows(harness, trip.shipment_id) == []

    async def test_future_fix_in_a_batch_is_named_by_its_request_position(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        fixes = [fix(at(harness, 600)), fix(at(harness, -60)), fix(at(harness))]
        assert_refused(await post_ping(harness, driver, batch(trip.shipment_id, fixes)), "pings.0.timestamp")
        assert await ping_rows(harness, trip.shipment_id) == []

    async def test_batch_size_limits(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        assert_refused(await post_ping(harness, driver, batch(trip.shipment_id, [])), "pings")
        too_many = [fix(at(harness, -i)) for i in range(501)]
        assert_refused(await post_ping(harness, driver, batch(trip.shipment_id, too_many)), "pings")
        assert await ping_rows(harness, trip.shipment_id) == []

    async def test_a_batch_of_500_is_accepted(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        # 500 fixes 2 s apart, each 10 m further north: an ordinary 18 km/h crawl.
        fixes = [fix(at(harness, -1000 + 2 * i), north_of(MUMBAI, 0.01 * i)) for i in range(500)]
        body = await ping_ok(harness, driver, batch(trip.shipment_id, fixes))
        assert (body["accepted"], body["duplicates"], body["frozen"]) == (500, 0, False)
        assert len(await ping_rows(harness, trip.shipment_id)) == 500


# --- states --------------------------------------------------------------------------------------


class TestPingStates:
    @pytest.mark.parametrize(
        "status",
        [
            ShipmentStatus.DRIVER_PENDING_APPROVAL,
            ShipmentStatus.APPROVED,
            ShipmentStatus.COMPLETED,
            ShipmentStatus.CANCELLED,
            ShipmentStatus.FAILED,
        ],
    )
    async def test_only_en_route_shipments_take_pings(self, harness: Harness, status: ShipmentStatus) -> None:
        trip, driver = await driver_trip(harness, status)
        before = await shipment_row(harness, trip.shipment_id)
        response = await post_ping(harness, driver, single(trip.shipment_id))
        assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")
        assert response.json()["details"] == {"status": status.value}
        assert await ping_rows(harness, trip.shipment_id) == []
        assert await position_row(harness, trip.shipment_id) is None
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await gps_contexts(harness, driver) == []

    async def test_otp_pending_takes_pings(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness, ShipmentStatus.OTP_PENDING)
        assert (await ping_ok(harness, driver, single(trip.shipment_id)))["accepted"] == 1


async def shipment_row(h: Harness, shipment_id: str) -> dict[str, Any]:
    async with h.app.state.services.db.read() as conn:
        row = (await conn.execute(select(shipments).where(shipments.c.id == shipment_id))).mappings().one()
    return dict(row)


# --- recording -----------------------------------------------------------------------------------


class TestPingRecording:
    async def test_a_single_ping_is_stored_with_its_position(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        when = at(harness, -30)
        body = await ping_ok(
            harness,
            driver,
            single(
                trip.shipment_id, speed=52.5, heading=90, timestamp=iso(when), accuracy=8, mockLocation=False
            ),
        )
        assert body == {
            "accepted": 1,
            "duplicates": 0,
            "conflicts": 0,
            "frozen": False,
            "latest": {"coordinates": MUMBAI, "recordedAt": when.isoformat().replace("+00:00", "Z")},
        }
        [row] = await ping_rows(harness, trip.shipment_id)
        assert (row["driver_id"], row["lat"], row["lng"]) == (driver.user_id, MUMBAI["lat"], MUMBAI["lng"])
        assert (row["speed_kmh"], row["heading"], row["accuracy_m"], row["mock_location"]) == (
            52.5,
            90,
            8,
            False,
        )
        assert (row["recorded_at"], row["received_at"]) == (when, harness.clock.now())
        position = await position_row(harness, trip.shipment_id)
        assert position is not None
        assert (position["lat"], position["recorded_at"], position["speed_kmh"]) == (
            MUMBAI["lat"],
            when,
            52.5,
        )

    async def test_a_ping_without_timestamp_is_taken_now(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        await ping_ok(harness, driver, single(trip.shipment_id))
        [row] = await ping_rows(harness, trip.shipment_id)
        assert row["recorded_at"] == harness.clock.now()
        assert (row["speed_kmh"], row["heading"], row["accuracy_m"], row["mock_location"]) == (
            None,
            None,
            None,
            False,
        )

    async def test_a_resent_ping_is_dropped_as_duplicate(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        body = single(trip.shipment_id, timestamp=iso(at(harness, -10)))
        await ping_ok(harness, driver, body)
        again = await ping_ok(harness, driver, body)
        assert (again["accepted"], again["duplicates"], again["conflicts"], again["frozen"]) == (
            0,
            1,
            0,
            False,
        )
        assert len(await ping_rows(harness, trip.shipment_id)) == 1
        assert len(await gps_contexts(harness, driver)) == 1  # no second ACS event

    async def test_a_batch_is_stored_in_time_order_without_duplicates(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        times = [at(harness, s) for s in (-300, -240, -180, -120)]
        points = [north_of(MUMBAI, km) for km in (0, 1, 2, 3)]
        await ping_ok(harness, driver, single(trip.shipment_id, points[1], timestamp=iso(times[1])))
        fixes = [fix(times[3], points[3]), fix(times[0], points[0]), fix(times[1], points[1])]
        fixes += [fix(times[2], points[2]), fix(times[3], points[3], speed=99)]
        body = await ping_ok(harness, driver, batch(trip.shipment_id, fixes))
        # times[1] was stored already; the second times[3] repeats the first within the batch.
        assert (body["accepted"], body["duplicates"], body["conflicts"]) == (3, 2, 0)
        assert body["latest"]["coordinates"] == points[3]
        rows = await ping_rows(harness, trip.shipment_id)
        assert [r["recorded_at"] for r in rows] == times
        assert rows[3]["speed_kmh"] is None  # the first of the repeated times was kept

    async def test_a_late_batch_fills_the_track_but_not_the_position(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        now_point = north_of(MUMBAI, 10)
        await ping_ok(harness, driver, single(trip.shipment_id, now_point, timestamp=iso(at(harness))))
        late = [fix(at(harness, -600), MUMBAI), fix(at(harness, -300), north_of(MUMBAI, 5))]
        body = await ping_ok(harness, driver, batch(trip.shipment_id, late))
        assert body["accepted"] == 2
        assert body["latest"] == {
            "coordinates": now_point,
            "recordedAt": at(harness).isoformat().replace("+00:00", "Z"),
        }
        position = await position_row(harness, trip.shipment_id)
        assert position is not None
        assert (position["lat"], position["recorded_at"]) == (now_point["lat"], at(harness))
        assert len(await ping_rows(harness, trip.shipment_id)) == 3

    async def test_each_new_fix_feeds_acs_with_deltas_in_time_order(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        await ping_ok(
            harness, driver, single(trip.shipment_id, north_of(MUMBAI, 10), timestamp=iso(at(harness)))
        )
        late = [
            fix(at(harness, -300), north_of(MUMBAI, 5), speed=60.0, heading=0),
            fix(at(harness, -600), MUMBAI),
        ]
        await ping_ok(harness, driver, batch(trip.shipment_id, late))
        contexts = await gps_contexts(harness, driver)
        assert [c["gps"]["timestamp"] for c in contexts] == [
            epoch_ms(at(harness, -600)),
            epoch_ms(at(harness, -300)),
            epoch_ms(at(harness)),
        ]
        first_late, second_late, live = contexts
        # The live fix came first, with no fix before it; each late one is measured against the
        # fix before it in time (the newest late one against the oldest, 5 km and 300 s back).
        assert (live["gps"]["deltaDistanceKm"], live["gps"]["deltaTimeSec"]) == (None, None)
        assert (first_late["gps"]["deltaDistanceKm"], first_late["gps"]["deltaTimeSec"]) == (None, None)
        assert second_late["gps"]["deltaDistanceKm"] == pytest.approx(5.0, abs=0.01)
        assert second_late["gps"]["deltaTimeSec"] == 300
        assert (second_late["gps"]["speed"], second_late["gps"]["heading"]) == (60.0, 0)
        assert second_late["telemetry"] == {"spoofScore": 0.0, "mockLocation": False}
        assert second_late["shipment"]["id"] == trip.shipment_id
        assert second_late["shipment"]["driverId"] == driver.user_id
        assert second_late["ctx"]["deviceId"] == driver.device_id
