"""`/metrics` in one process: request metrics by route template and status, histogram counts
matching request counts, pool gauges, database and Redis errors, job and webhook outcomes, and
business counters moved exactly by the traffic that should move them (and not by refusals).

The registry is the process's, shared by every test of an xdist worker, so each test reads the
values before and after its own traffic and asserts the difference."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from rodistaa.acs.audit import record_verification, verify_chain
from rodistaa.bookings.tables import bookings
from rodistaa.core.roles import Role
from rodistaa.db.engine import Database, create_engine
from rodistaa.http.ratelimit import DEGRADED, RateLimiter
from rodistaa.jobs.worker import run_if_due
from rodistaa.ops.metrics import REQUEST_DURATION_BUCKETS_S
from rodistaa.settings import Environment, Settings
from rodistaa.webhooks.delivery import MAX_ATTEMPTS, deliver_outbox
from rodistaa.webhooks.tables import webhook_deliveries
from tests.api.bid_flows import STANDARD_FEE_PAISE, fee_entries, funded_operator, post_bid, seed_booking
from tests.api.booking_flows import booking_body, create_booking, next_mobile, post_booking, verified_shipper
from tests.api.delivery_flows import complete, other_code, shipment_row, trip_with_otp, upload_pod
from tests.api.flows import admin_session, login
from tests.api.freight_setup import verified_user
from tests.conftest import Harness, make_settings, running_app
from tests.jobs.test_registry import Counted, counting_job
from tests.ops.metrics_text import FAMILIES, Scrape, parse
from tests.webhooks.flows import delivery_rows, emit, register
from tests.webhooks.receiver import running_receiver

METRICS_TOKEN = "metrics-token-0123456789abcdef0123456789abcdef"


async def scrape(h: Harness, **headers: str) -> Scrape:
    response = await h.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


def requests_of(s: Scrape, method: str, route: str, status: str) -> float:
    return s.value("http_requests_total", {"method": method, "route": route, "status": status})


class TestRequests:
    async def test_traffic_is_counted_by_route_template_and_status(self, harness: Harness) -> None:
        h = harness
        shipper = await verified_shipper(h)
        before = await scrape(h)

        await login(h, next_mobile())
        booking = await create_booking(h, shipper)
        refused = await post_booking(h, shipper, booking_body(tonnage=-1))
        assert (refused.status_code, refused.json()["details"]["field"]) == (400, "tonnage")
        missing = await h.client.get("/v1/bookings/RID-20990101-9999", headers=shipper.headers)
        assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")
        assert (await h.client.get("/v1/no/such/route")).status_code == 404

        after = await scrape(h)
        expected = {
            ("POST", "/v1/auth/otp", "200"): 1,
            ("POST", "/v1/auth/login", "200"): 1,
            ("POST", "/v1/bookings", "201"): 1,
            ("POST", "/v1/bookings", "400"): 1,
            ("GET", "/v1/bookings/{bookingId}", "404"): 1,
            ("GET", "<unmatched>", "404"): 1,
        }
        for key, count in expected.items():
            assert requests_of(after, *key) - requests_of(before, *key) == count, key
        # Raw paths never become labels: the booking id appears in no series.
        assert booking["id"] not in str(after.samples)
        assert all(
            dict(labels)["route"] != "/v1/no/such/route" for labels in after.series("http_requests_total")
        )

        async with h.app.state.services.db.read() as conn:
            stored = (await conn.execute(select(func.count()).select_from(bookings))).scalar_one()
        assert stored == 1
        assert after.value("bookings_created_total") - before.value("bookings_created_total") == 1

    async def test_duration_histogram_counts_match_request_counts(self, harness: Harness) -> None:
        h = harness
        shipper = await verified_shipper(h)
        await create_booking(h, shipper)
        await post_booking(h, shipper, booking_body(tonnage=-1))
        s = await scrape(h)

        routes = {(dict(k)["method"], dict(k)["route"]) for k in s.series("http_requests_total")}
        assert ("POST", "/v1/bookings") in routes
        for method, route in routes:
            answered = sum(
                value
                for labels, value in s.series("http_requests_total").items()
                if dict(labels)["method"] == method and dict(labels)["route"] == route
            )
            labels = {"method": method, "route": route}
            assert s.value("http_request_duration_seconds_count", labels) == answered, (method, route)
            assert s.value("http_request_duration_seconds_bucket", {**labels, "le": "+Inf"}) == answered
            assert s.value("http_request_duration_seconds_sum", labels) > 0
        bounds = {
            float(dict(labels)["le"])
            for labels in s.series("http_request_duration_seconds_bucket")
            if dict(labels)["route"] == "/v1/bookings"
        }
        assert bounds == {*REQUEST_DURATION_BUCKETS_S, math.inf}

    async def test_every_family_is_declared_with_its_type(self, harness: Harness) -> None:
        s = await scrape(harness)
        for name, kind in FAMILIES.items():
            assert s.families.get(name) == kind, name
        assert "# TYPE http_requests_created" not in (await harness.client.get("/metrics")).text


class TestProtection:
    async def test_a_token_is_required_when_set(self, clean_database: str) -> None:
        settings = make_settings(clean_database, metrics_token=METRICS_TOKEN)
        async with running_app(settings) as h:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
                response = await h.client.get("/metrics", headers=headers)
                assert response.status_code == 401, headers
                assert response.json() == {
                    "code": "UNAUTHORIZED",
                    "message": "A valid metrics token is required",
                }
                assert response.headers["www-authenticate"] == "Bearer"
            scraped = await scrape(h, Authorization=f"Bearer {METRICS_TOKEN}")
            assert scraped.families["http_requests"] == "counter"

    async def test_disabled_metrics_are_not_served(self, clean_database: str) -> None:
        async with running_app(make_settings(clean_database, metrics_enabled=False)) as h:
            response = await h.client.get("/metrics")
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")

    @pytest.mark.parametrize(
        ("token", "refused"), [(None, False), ("", True), ("short", True), (METRICS_TOKEN, False)]
    )
    def test_production_refuses_a_weak_token(self, token: str | None, refused: bool) -> None:
        settings = Settings(_env_file=None, env=Environment.PRODUCTION, metrics_token=token)  # type: ignore[call-arg]
        named = [p for p in settings.production_problems() if p.startswith("METRICS_TOKEN")]
        assert bool(named) is refused, named

    async def test_metrics_are_not_in_the_openapi_document(self, harness: Harness) -> None:
        document = (await harness.client.get("/v1/openapi.json")).json()
        assert "/metrics" not in document["paths"]
        assert not any(path.endswith("/metrics") for path in document["paths"])


class TestBusinessCounters:
    async def test_a_placed_bid_counts_once_with_its_fee_and_a_refused_one_not_at_all(
        self, harness: Harness
    ) -> None:
        h = harness
        shipper = await verified_user(h, Role.SHIPPER)
        operator = await funded_operator(h)
        booking_id = await seed_booking(h, shipper.user_id)
        before = await scrape(h)

        placed = await post_bid(h, operator, booking_id)
        assert placed.status_code == 201, placed.text
        again = await post_bid(h, operator, booking_id)
        assert again.status_code == 409, again.text

        after = await scrape(h)
        assert after.value("bids_placed_total") - before.value("bids_placed_total") == 1
        fees = after.value("bidding_fees_paise_total") - before.value("bidding_fees_paise_total")
        assert fees == STANDARD_FEE_PAISE
        assert sum(-e["amount_paise"] for e in await fee_entries(h, operator.user_id)) == fees

    async def test_a_completed_shipment_counts_once_and_a_wrong_code_not_at_all(
        self, harness: Harness
    ) -> None:
        h = harness
        trip, code = await trip_with_otp(h)
        assert trip.driver is not None
        before = await scrape(h)

        wrong = await upload_pod(h, trip.driver, trip.shipment_id, otp=other_code(code))
        assert wrong.status_code == 403, wrong.text
        middle = await scrape(h)
        done = await complete(h, trip.driver, trip.shipment_id, otp=code)
        assert done.status_code == 200, done.text
        after = await scrape(h)

        assert middle.value("shipments_completed_total") == before.value("shipments_completed_total")
        assert after.value("shipments_completed_total") - before.value("shipments_completed_total") == 1
        assert (await shipment_row(h, trip.shipment_id))["status"] == "COMPLETED"


async def insert_booking_row(db: Database, row: dict[str, object]) -> None:
    async with db.transaction() as conn:
        await conn.execute(bookings.insert().values(**row))


async def select_from_missing_table(db: Database) -> None:
    async with db.read() as conn:
        await conn.execute(text("SELECT * FROM no_such_table"))


async def open_connection(db: Database) -> None:
    async with db.read() as conn:
        await conn.execute(text("SELECT 1"))


class TestDatabaseMetrics:
    async def test_the_pool_gauges_follow_checkouts_for_the_life_of_a_database(
        self, clean_database: str, harness: Harness
    ) -> None:
        base = await scrape(harness)
        db = Database(create_engine(clean_database, pool_size=3, max_overflow=2))
        capacity = 5 if not db.is_sqlite else 15  # SQLite keeps SQLAlchemy's 5 + 10
        try:
            opened = await scrape(harness)
            assert opened.value("db_pool_size") - base.value("db_pool_size") == capacity
            async with db.read() as conn:
                await conn.execute(text("SELECT 1"))
                held = await scrape(harness)
                assert (
                    held.value("db_pool_connections_in_use") - base.value("db_pool_connections_in_use") == 1
                )
            released = await scrape(harness)
            assert released.value("db_pool_connections_in_use") == base.value("db_pool_connections_in_use")
        finally:
            await db.dispose()
            await db.dispose()  # a second dispose counts nothing out
        closed = await scrape(harness)
        assert closed.value("db_pool_size") == base.value("db_pool_size")

    async def test_a_failed_statement_is_a_query_error_and_a_constraint_violation_is_not(
        self, harness: Harness
    ) -> None:
        db = harness.app.state.services.db
        before = await scrape(harness)
        with pytest.raises(ProgrammingError if not db.is_sqlite else OperationalError, match="no_such_table"):
            await select_from_missing_table(db)
        shipper = await verified_user(harness, Role.SHIPPER)
        booking_id = await seed_booking(harness, shipper.user_id)
        async with db.read() as conn:
            row = dict(
                (await conn.execute(select(bookings).where(bookings.c.id == booking_id))).mappings().one()
            )
        with pytest.raises(IntegrityError):
            await insert_booking_row(db, row)
        after = await scrape(harness)
        assert after.value("db_query_errors_total") - before.value("db_query_errors_total") == 1
        assert after.value("db_connection_errors_total") == before.value("db_connection_errors_total")

    async def test_a_failed_connect_is_a_connection_error(self, harness: Harness) -> None:
        before = await scrape(harness)
        # Port 1 on loopback: nothing listens there, the connect is refused at once.
        db = Database(create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
        try:
            with pytest.raises(OSError, match=r"(?i)connect"):
                await open_connection(db)
        finally:
            await db.dispose()
        after = await scrape(harness)
        assert after.value("db_connection_errors_total") - before.value("db_connection_errors_total") == 1
        assert after.value("db_query_errors_total") == before.value("db_query_errors_total")
        assert after.value("db_pool_connections_in_use") == before.value("db_pool_connections_in_use")


class TestRedisErrors:
    async def test_an_unreachable_redis_counts_errors_and_degrades(self, harness: Harness) -> None:
        # Port 1 on loopback: nothing listens there.
        limiter = RateLimiter({"default": "5/hour"}, redis_url="redis://127.0.0.1:1/0")
        before = await scrape(harness)
        try:
            result = await limiter.hit("default", "user-1")
            assert result.allowed and limiter.degraded
            assert await limiter.ping() is False
            after = await scrape(harness)
        finally:  # the gauge is the process's: leave it as the other tests expect it
            DEGRADED.set(before.value("rate_limit_degraded"))
        assert after.value("redis_errors_total") - before.value("redis_errors_total") == 2
        assert after.value("rate_limit_degraded") == 1


class TestJobMetrics:
    async def test_runs_are_counted_by_outcome_and_a_success_sets_its_start_time(
        self, harness: Harness
    ) -> None:
        h, counter = harness, Counted()
        services = h.app.state.services
        labels = {"job": "test-counting"}
        before = await scrape(h)

        await run_if_due(services, counting_job(counter, fail=True), runner="a")
        failed = await scrape(h)
        h.clock.advance(seconds=60)
        succeeded_at = h.clock.now()
        await run_if_due(services, counting_job(counter), runner="a")
        after = await scrape(h)

        def runs(s: Scrape, outcome: str) -> float:
            return s.value("job_runs_total", {**labels, "outcome": outcome})

        assert runs(failed, "failed") - runs(before, "failed") == 1
        assert failed.value("job_last_success_timestamp_seconds", labels) == before.value(
            "job_last_success_timestamp_seconds", labels
        )
        assert runs(after, "succeeded") - runs(before, "succeeded") == 1
        assert runs(after, "failed") - runs(before, "failed") == 1
        assert after.value("job_last_success_timestamp_seconds", labels) == succeeded_at.timestamp()


class TestWebhookMetrics:
    async def test_deliveries_are_counted_by_outcome_after_they_are_recorded(self, harness: Harness) -> None:
        h = harness
        admin = await admin_session(h)
        before = await scrape(h)
        for outcome in ("delivered", "failed", "given_up"):
            assert before.exists("webhook_deliveries_total", {"outcome": outcome})
        async with running_receiver(status=204) as receiver:
            await register(h, admin, receiver.url, ["booking.created"])
            await emit(h, "booking.created", {"bookingId": "RID-20250101-0001"})
            assert (await deliver_outbox(h.app.state.services)).delivered == 1
        async with running_receiver(status=500) as failing:
            webhook = await register(h, admin, failing.url, ["acs.block"])
            await emit(h, "acs.block", {"entityId": "TRK-1"})
            await emit(h, "acs.block", {"entityId": "TRK-2"})
            await deliver_outbox(h.app.state.services)  # fan out, first attempts fail
            [first, _second] = await delivery_rows(h, webhook["id"])
            async with h.app.state.services.db.transaction() as conn:
                await conn.execute(
                    update(webhook_deliveries)
                    .where(webhook_deliveries.c.id == first["id"])
                    .values(attempts=MAX_ATTEMPTS - 1)
                )
            h.clock.advance(hours=2)
            await deliver_outbox(h.app.state.services)
        after = await scrape(h)

        def delta(outcome: str) -> float:
            labels = {"outcome": outcome}
            return after.value("webhook_deliveries_total", labels) - before.value(
                "webhook_deliveries_total", labels
            )

        assert (delta("delivered"), delta("failed"), delta("given_up")) == (1, 3, 1)
        rows = await delivery_rows(h, webhook["id"])
        assert sorted((r["status"], r["attempts"]) for r in rows) == [
            ("FAILED", MAX_ATTEMPTS),
            ("PENDING", 2),
        ]


class TestAuditGauges:
    async def test_the_gauges_follow_the_newest_stored_verification(self, harness: Harness) -> None:
        h = harness
        admin = await admin_session(h)
        verified = await h.client.post("/v1/admin/audit/verify", headers=admin.headers)
        assert verified.status_code == 200, verified.text
        s = await scrape(h)
        assert s.value("audit_last_verification_ok") == 1
        assert s.value("audit_chain_length") == verified.json()["count"] > 0

        # A verification stored by someone else (`rodistaa audit verify` from cron) is what the
        # next scrape reports, even though this process never ran it.
        services = h.app.state.services
        report = await verify_chain(services.db, services.kms)
        failed = replace(report, ok=False)
        h.clock.advance(seconds=1)
        await record_verification(services.db, failed, now=h.clock.now())
        assert (await scrape(h)).value("audit_last_verification_ok") == 0
