"""Database cost of the freight day's hot requests (issue 9): SQL statements and PostgreSQL
round trips per request, each held to a budget so a change that adds queries to a hot path
fails here and has to raise the budget on purpose.

Each test sets up its data outside the measurement (fixtures written straight into the
database, or earlier requests), then measures exactly one request, which must succeed.
`QUERY_BUDGET_REPORT=<file>` appends one JSON line per measured request (route, backend,
counts and the statements themselves) for the performance notes."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from rodistaa.core.roles import Role
from rodistaa.shipments.status import ShipmentStatus
from tests.api.bid_flows import funded_operator, place_bid, seed_booking
from tests.api.booking_flows import booking_body
from tests.api.delivery_flows import trip_with_otp, upload_pod
from tests.api.finalization_setup import seeded_market
from tests.api.flows import Session
from tests.api.freight_setup import Trip, active_fleet_truck, fleet_driver, seeded_trip, verified_user
from tests.conftest import Harness
from tests.perf.counting import Counts, counting

PINGS_PER_BATCH = 10


@dataclass(frozen=True)
class Budget:
    """At most this many statements (both backends) and round trips (PostgreSQL)."""

    statements: int
    round_trips: int


# The budget after issue 9's fixes (the numbers before them are in docs/performance.md).
BUDGETS: dict[str, Budget] = {
    "POST /v1/tracking/ping (10 fixes)": Budget(11, 17),
    "GET /v1/shipments/{id}": Budget(4, 6),
    "GET /v1/tracking/{id}/latest": Budget(3, 5),
    "GET /v1/tracking/{id}": Budget(3, 5),
    "GET /v1/bookings": Budget(3, 5),
    "GET /v1/bookings/{id}": Budget(2, 4),
    "GET /v1/bookings/{id}/bids": Budget(3, 5),
    "GET /v1/notifications": Budget(3, 5),
    "POST /v1/bookings": Budget(9, 18),
    "POST /v1/bids": Budget(24, 29),
    "PATCH /v1/bids/{id}": Budget(12, 20),
    "POST /v1/bids/{id}/accept": Budget(28, 35),
    "POST /v1/shipments/{id}/assign": Budget(24, 30),
    "POST /v1/shipments/{id}/approve-driver": Budget(11, 13),
    "POST /v1/shipments/{id}/start": Budget(22, 28),
    "GET /v1/shipments/{id}/otp": Budget(7, 9),
    "POST /v1/pod/upload": Budget(31, 46),
    "POST /v1/auth/refresh": Budget(5, 8),
}


def _report(route: str, backend: str, counts: Counts) -> None:
    path = os.environ.get("QUERY_BUDGET_REPORT")
    if not path:
        return
    line = {
        "route": route,
        "backend": backend,
        "statements": counts.statements,
        "transactions": counts.transactions,
        "checkouts": counts.checkouts,
        "pings": counts.pings,
        "round_trips": counts.round_trips,
        "sql": counts.sql,
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


async def measure(
    h: Harness, route: str, send: Callable[[], Awaitable[httpx.Response]], *, status: int = 200
) -> Counts:
    """Send one request, assert it succeeded and that it kept within its budget."""
    engine = h.app.state.services.db.engine
    with counting(engine) as counts:
        response = await send()
    assert response.status_code == status, response.text
    backend = engine.dialect.name
    _report(route, backend, counts)
    budget = BUDGETS[route]
    assert counts.statements <= budget.statements, (route, counts.statements, counts.sql)
    if backend == "postgresql":
        assert counts.round_trips <= budget.round_trips, (route, counts.round_trips, counts)
    return counts


def ping_batch(h: Harness, shipment_id: str, *, start_s: float) -> dict[str, Any]:
    """Ten fixes 30 s apart, a few hundred metres apart each (an ordinary truck)."""
    now = h.clock.now()
    fixes = [
        {
            "coordinates": {"lat": 19.076 + (start_s + 30 * i) * 0.00002, "lng": 72.8777},
            "timestamp": (now + timedelta(seconds=start_s + 30 * i)).isoformat(),
            "speed": 45.0,
        }
        for i in range(PINGS_PER_BATCH)
    ]
    return {"shipmentId": shipment_id, "pings": fixes}


async def en_route_trip(h: Harness) -> Trip:
    """A trip started 10 minutes ago that already sent one batch (a steady-state batch is the
    one measured: the first of a trip has no earlier fix to compare with)."""
    trip = await seeded_trip(h, started_at=h.clock.now())
    assert trip.driver is not None
    h.clock.advance(minutes=10)
    first = ping_batch(h, trip.shipment_id, start_s=-600)
    response = await h.client.post("/v1/tracking/ping", json=first, headers=trip.driver.headers)
    assert response.status_code == 200, response.text
    return trip


def get(h: Harness, session: Session, path: str, **params: Any) -> Callable[[], Awaitable[httpx.Response]]:
    return lambda: h.client.get(path, params=params, headers=session.headers)


def post(
    h: Harness, session: Session, path: str, body: dict[str, Any] | None = None
) -> Callable[[], Awaitable[httpx.Response]]:
    return lambda: h.client.post(path, json=body, headers=session.headers)


class TestTracking:
    async def test_a_batch_of_ten_fixes(self, harness: Harness) -> None:
        trip = await en_route_trip(harness)
        assert trip.driver is not None
        body = ping_batch(harness, trip.shipment_id, start_s=-290)
        send = post(harness, trip.driver, "/v1/tracking/ping", body)
        await measure(harness, "POST /v1/tracking/ping (10 fixes)", send)

    async def test_reads_of_a_shipment_en_route(self, harness: Harness) -> None:
        trip = await en_route_trip(harness)
        sid = trip.shipment_id
        await measure(harness, "GET /v1/shipments/{id}", get(harness, trip.shipper, f"/v1/shipments/{sid}"))
        await measure(
            harness, "GET /v1/tracking/{id}/latest", get(harness, trip.shipper, f"/v1/tracking/{sid}/latest")
        )
        await measure(harness, "GET /v1/tracking/{id}", get(harness, trip.shipper, f"/v1/tracking/{sid}"))


class TestMarketplace:
    async def test_booking_reads_and_creation(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        created = await measure(
            harness, "POST /v1/bookings", post(harness, shipper, "/v1/bookings", booking_body()), status=201
        )
        assert created.statements > 0
        operator = await funded_operator(harness)
        booking_id = await seed_booking(harness, shipper.user_id)
        await place_bid(harness, operator, booking_id, amount=12_000)
        await measure(harness, "GET /v1/bookings", get(harness, shipper, "/v1/bookings"))
        await measure(harness, "GET /v1/bookings/{id}", get(harness, shipper, f"/v1/bookings/{booking_id}"))
        await measure(
            harness, "GET /v1/bookings/{id}/bids", get(harness, shipper, f"/v1/bookings/{booking_id}/bids")
        )
        await measure(harness, "GET /v1/notifications", get(harness, operator, "/v1/notifications"))

    async def test_bidding(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await funded_operator(harness)
        booking_id = await seed_booking(harness, shipper.user_id)
        body = {"bookingId": booking_id, "amount": 12_000}
        send = post(harness, operator, "/v1/bids", body)
        counts = await measure(harness, "POST /v1/bids", send, status=201)
        assert counts.statements > 0
        bid_id = (await harness.client.get("/v1/bids", headers=operator.headers)).json()["data"][0]["id"]
        await measure(
            harness,
            "PATCH /v1/bids/{id}",
            lambda: harness.client.patch(
                f"/v1/bids/{bid_id}", json={"amount": 11_500}, headers=operator.headers
            ),
        )

    async def test_accepting_a_bid(self, harness: Harness) -> None:
        market = await seeded_market(harness, [1_200_000, 1_150_000, 1_300_000, 1_250_000])
        chosen = market.bids[1]
        send = post(harness, market.shipper, f"/v1/bids/{chosen.id}/accept")
        await measure(harness, "POST /v1/bids/{id}/accept", send)


class TestTrip:
    async def test_assign_approve_start_and_the_otp(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=ShipmentStatus.ASSIGNED)
        sid = trip.shipment_id
        driver = await fleet_driver(harness, trip.operator.user_id)
        truck_id = await active_fleet_truck(harness, trip.operator.user_id)
        crew = {"driverId": driver.user_id, "truckId": truck_id}
        send = post(harness, trip.operator, f"/v1/shipments/{sid}/assign", crew)
        await measure(harness, "POST /v1/shipments/{id}/assign", send)
        await measure(
            harness,
            "POST /v1/shipments/{id}/approve-driver",
            post(harness, trip.shipper, f"/v1/shipments/{sid}/approve-driver"),
        )
        await measure(
            harness, "POST /v1/shipments/{id}/start", post(harness, driver, f"/v1/shipments/{sid}/start")
        )
        send = get(harness, trip.shipper, f"/v1/shipments/{sid}/otp")
        await measure(harness, "GET /v1/shipments/{id}/otp", send)

    async def test_proof_of_delivery_with_the_otp(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        driver = trip.driver
        assert driver is not None
        await measure(
            harness,
            "POST /v1/pod/upload",
            lambda: upload_pod(harness, driver, trip.shipment_id, otp=code),
            status=201,
        )


class TestSessions:
    async def test_refreshing_the_access_token(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        body = {"refreshToken": shipper.refresh_token}
        await measure(
            harness,
            "POST /v1/auth/refresh",
            lambda: harness.client.post("/v1/auth/refresh", json=body),
        )
