"""`GET /v1/tracking/{shipmentId}` (the track) and `GET /v1/tracking/{shipmentId}/latest`."""

from __future__ import annotations

from datetime import datetime

import pytest

from rodistaa.core.roles import Role
from tests.api.booking_flows import session_with_role
from tests.api.flows import admin_session
from tests.api.freight_setup import seeded_trip
from tests.api.test_tracking_pings import (
    MUMBAI,
    assert_refused,
    at,
    batch,
    driver_trip,
    fix,
    north_of,
    ping_ok,
)
from tests.conftest import Harness


def z(moment: datetime) -> str:
    """How the API writes a UTC time."""
    return moment.isoformat().replace("+00:00", "Z")


class TestTrack:
    async def test_every_party_and_admins_read_the_track_in_time_order(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        times = [at(harness, s) for s in (-180, -120, -60)]
        fixes = [
            fix(times[2], north_of(MUMBAI, 2), speed=40.0, heading=10.0, accuracy=6.0),
            fix(times[0], MUMBAI),
            fix(times[1], north_of(MUMBAI, 1)),
        ]
        await ping_ok(harness, driver, batch(trip.shipment_id, fixes))
        admin = await admin_session(harness)
        for session in (trip.shipper, trip.operator, driver, admin):
            response = await harness.client.get(f"/v1/tracking/{trip.shipment_id}", headers=session.headers)
            assert response.status_code == 200, response.text
            track = response.json()
            assert [p["timestamp"] for p in track] == [z(t) for t in times]
            assert track[2] == {
                "shipmentId": trip.shipment_id,
                "coordinates": north_of(MUMBAI, 2),
                "speed": 40.0,
                "heading": 10.0,
                "timestamp": z(times[2]),
                "accuracy": 6.0,
            }
            # Figures the device did not report are absent, never null (the contract types them
            # as numbers; the reference conformance run found the nulls).
            assert track[0] == {
                "shipmentId": trip.shipment_id,
                "coordinates": MUMBAI,
                "timestamp": z(times[0]),
            }

    async def test_since_is_exclusive_and_limit_caps(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        times = [at(harness, -600 + 60 * i) for i in range(6)]
        fixes = [fix(t, north_of(MUMBAI, i)) for i, t in enumerate(times)]
        await ping_ok(harness, driver, batch(trip.shipment_id, fixes))
        url = f"/v1/tracking/{trip.shipment_id}"
        response = await harness.client.get(
            url, params={"since": times[2].isoformat()}, headers=driver.headers
        )
        assert [p["timestamp"] for p in response.json()] == [z(t) for t in times[3:]]
        response = await harness.client.get(url, params={"limit": 2}, headers=driver.headers)
        assert [p["timestamp"] for p in response.json()] == [z(t) for t in times[:2]]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"limit": 0}, "query.limit"),
            ({"limit": 5001}, "query.limit"),
            ({"since": "2025-01-01T10:00:00"}, "query.since"),
            ({"since": "soon"}, "query.since"),
            # Once a 500 each: a time that cannot be converted to UTC.
            ({"since": "0001-01-01T00:00:00+05:30"}, "query.since"),
            ({"since": "9999-12-31T23:59:59-05:00"}, "query.since"),
        ],
    )
    async def test_bad_query(self, harness: Harness, params: dict[str, str | int], field: str) -> None:
        trip, driver = await driver_trip(harness)
        response = await harness.client.get(
            f"/v1/tracking/{trip.shipment_id}", params=params, headers=driver.headers
        )
        assert_refused(response, field)

    async def test_an_empty_track(self, harness: Harness) -> None:
        trip, _ = await driver_trip(harness)
        response = await harness.client.get(f"/v1/tracking/{trip.shipment_id}", headers=trip.shipper.headers)
        assert (response.status_code, response.json()) == (200, [])

    async def test_other_owners_get_not_found(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        await ping_ok(harness, driver, batch(trip.shipment_id, [fix(at(harness, -60))]))
        other = await seeded_trip(harness)
        assert other.driver is not None
        for session in (other.shipper, other.operator, other.driver):
            for suffix in ("", "/latest"):
                response = await harness.client.get(
                    f"/v1/tracking/{trip.shipment_id}{suffix}", headers=session.headers
                )
                assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")

    @pytest.mark.parametrize("role", [Role.KYC_ADMIN, Role.FRANCHISE_UNIT, Role.FRANCHISE_DISTRICT])
    async def test_other_roles_are_forbidden(self, harness: Harness, role: Role) -> None:
        trip, _ = await driver_trip(harness)
        session = await session_with_role(harness, role)
        for suffix in ("", "/latest"):
            response = await harness.client.get(
                f"/v1/tracking/{trip.shipment_id}{suffix}", headers=session.headers
            )
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")

    async def test_anonymous_is_unauthorized(self, harness: Harness) -> None:
        trip, _ = await driver_trip(harness)
        for suffix in ("", "/latest"):
            assert (await harness.client.get(f"/v1/tracking/{trip.shipment_id}{suffix}")).status_code == 401

    async def test_unknown_shipment(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        response = await harness.client.get("/v1/tracking/SH-NOPE", headers=admin.headers)
        assert response.status_code == 404


class TestLatest:
    async def test_latest_is_the_newest_fix_not_the_last_received(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        newest = at(harness, -30)
        await ping_ok(
            harness, driver, batch(trip.shipment_id, [fix(newest, north_of(MUMBAI, 3), speed=30.0)])
        )
        harness.clock.advance(seconds=5)
        await ping_ok(harness, driver, batch(trip.shipment_id, [fix(at(harness, -600), MUMBAI)]))
        for session in (trip.shipper, trip.operator, driver):
            response = await harness.client.get(
                f"/v1/tracking/{trip.shipment_id}/latest", headers=session.headers
            )
            assert response.status_code == 200, response.text
            assert response.json() == {
                "shipmentId": trip.shipment_id,
                "coordinates": north_of(MUMBAI, 3),
                "speed": 30.0,
                "heading": None,
                "recordedAt": z(newest),
                "receivedAt": z(at(harness, -5)),
            }

    async def test_no_position_before_the_first_fix(self, harness: Harness) -> None:
        trip, _ = await driver_trip(harness)
        response = await harness.client.get(
            f"/v1/tracking/{trip.shipment_id}/latest", headers=trip.shipper.headers
        )
        assert (response.status_code, response.json()["code"]) == (404, "NO_POSITION")
