"""Rate limits per route class (issue 7, item 1): booking creation per shipper, GPS fixes per
shipment, every authenticated request per user; each refusal is 429 `RATE_LIMIT_EXCEEDED` with
`Retry-After` and the `X-RateLimit-*` headers, and refuses before anything is written.

The login limits (per phone, per address) are tested in `test_identity.py`; the Redis-shared and
degraded behaviour in `test_rate_limits_redis.py`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from rodistaa.bookings.tables import bookings
from rodistaa.core.roles import Role
from rodistaa.tracking.tables import gps_pings
from tests.api.booking_flows import post_booking, verified_shipper
from tests.api.flows import sign_up
from tests.api.freight_setup import next_mobile, seeded_trip
from tests.api.test_tracking_pings import at, batch, fix, post_ping
from tests.conftest import Harness


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "rate_limit_booking_create_per_user": "2/day",
        "rate_limit_gps_per_shipment": "3/hour",
        "rate_limit_default_per_user": "60/hour",
    }


def assert_refused(response: httpx.Response, *, limit: int, window_s: int, remaining: int = 0) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "RATE_LIMIT_EXCEEDED"
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == str(remaining)
    assert 0 < int(response.headers["Retry-After"]) <= window_s


async def count(h: Harness, statement: Any) -> int:
    async with h.app.state.services.db.transaction() as conn:
        return int((await conn.execute(statement)).scalar_one())


class TestBookingCreation:
    async def test_third_booking_of_the_day_is_refused_and_not_created(self, harness: Harness) -> None:
        shipper = await verified_shipper(harness)
        remaining = []
        for _ in range(2):
            response = await post_booking(harness, shipper)
            assert response.status_code == 201, response.text
            remaining.append(response.headers["X-RateLimit-Remaining"])
        assert remaining == ["1", "0"]
        assert_refused(await post_booking(harness, shipper), limit=2, window_s=86_400)
        mine = select(func.count()).select_from(bookings).where(bookings.c.shipper_id == shipper.user_id)
        assert await count(harness, mine) == 2

    async def test_budgets_are_per_shipper(self, harness: Harness) -> None:
        first, second = await verified_shipper(harness), await verified_shipper(harness)
        for _ in range(2):
            assert (await post_booking(harness, first)).status_code == 201
        response = await post_booking(harness, second)
        assert response.status_code == 201, response.text


class TestGpsPings:
    async def test_fixes_beyond_the_hourly_budget_are_refused_and_not_stored(self, harness: Harness) -> None:
        trip = await seeded_trip(harness)
        assert trip.driver is not None
        first = await post_ping(
            harness, trip.driver, batch(trip.shipment_id, [fix(at(harness, -20)), fix(at(harness, -10))])
        )
        assert first.status_code == 200, first.text
        assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("3", "1")
        # Every fix of a batch counts: two more would make four (one alone would still fit).
        refused = await post_ping(
            harness, trip.driver, batch(trip.shipment_id, [fix(at(harness, -5)), fix(at(harness))])
        )
        assert_refused(refused, limit=3, window_s=3600, remaining=1)
        stored = (
            select(func.count()).select_from(gps_pings).where(gps_pings.c.shipment_id == trip.shipment_id)
        )
        assert await count(harness, stored) == 2

    async def test_a_stranger_cannot_spend_a_shipments_budget(self, harness: Harness) -> None:
        trip = await seeded_trip(harness)
        other = await seeded_trip(harness)
        assert trip.driver is not None and other.driver is not None
        for _ in range(4):  # another shipment's driver: 404 each time, nothing counted
            response = await post_ping(harness, other.driver, batch(trip.shipment_id, [fix(at(harness))]))
            assert response.status_code == 404
        response = await post_ping(harness, trip.driver, batch(trip.shipment_id, [fix(at(harness))]))
        assert response.status_code == 200, response.text
        assert response.headers["X-RateLimit-Remaining"] == "2"


class TestDefaultPerUser:
    async def test_the_61st_authenticated_request_in_an_hour_is_refused(self, harness: Harness) -> None:
        session = await sign_up(harness, next_mobile(), role=Role.SHIPPER)
        statuses = [
            (await harness.client.get("/v1/users/me", headers=session.headers)).status_code for _ in range(60)
        ]
        assert statuses == [200] * 60
        assert_refused(
            await harness.client.get("/v1/users/me", headers=session.headers), limit=60, window_s=3600
        )
        # Another user is not affected.
        other = await sign_up(harness, next_mobile(), role=Role.SHIPPER)
        response = await harness.client.get("/v1/users/me", headers=other.headers)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "60"

    async def test_an_idempotent_request_is_charged_once(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The idempotency middleware and the route both need the caller: the session is looked
        up once and the default budget charged once per request, replays included."""
        session = await sign_up(harness, next_mobile(), role=Role.SHIPPER)
        lookups = 0
        authenticate = harness.app.state.services.auth.authenticate

        async def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal lookups
            lookups += 1
            return await authenticate(*args, **kwargs)

        monkeypatch.setattr(harness.app.state.services.auth, "authenticate", counting)
        before = await harness.client.get("/v1/users/me", headers=session.headers)
        start = int(before.headers["X-RateLimit-Remaining"])
        headers = {**session.headers, "Idempotency-Key": "read-once-0001"}
        remaining = []
        for _ in range(2):  # the first runs the route, the second is replayed
            response = await harness.client.post("/v1/notifications/NTF-unknown/read", headers=headers)
            assert response.status_code == 404
            remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        assert remaining == [start - 1, start - 2]
        assert response.headers["Idempotent-Replayed"] == "true"
        assert lookups == 3
