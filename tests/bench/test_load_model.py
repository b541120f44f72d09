"""The load test's model and verdicts (bench/load): the plan is the issue's freight day, the peak
rate follows from it, a step is judged against the targets, and the report states what was
measured. The scenario itself runs against a real server in `make loadtest-smoke` (CI)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

LOAD_DIR = Path(__file__).resolve().parents[2] / "bench" / "load"
sys.path.insert(0, str(LOAD_DIR))

import model  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import steps  # noqa: E402


def test_one_load_is_the_issues_freight_day() -> None:
    kinds = Counter(step.kind for step in model.load_plan())
    assert kinds["booking_create"] == 1
    assert kinds["bid_create"] == 4 and kinds["bid_modify"] == 1 and kinds["bid_accept"] == 1
    assert kinds["shipment_assign"] == kinds["driver_approve"] == kinds["shipment_start"] == 1
    assert kinds["gps_batch"] == 48 and model.FIXES_PER_BATCH == 10
    assert kinds["pod_upload"] == 1
    reads = sum(n for kind, n in kinds.items() if model.KINDS[kind][1] == "reads")
    assert reads == 20
    assert kinds["login"] == kinds["otp_request"] == 1
    assert model.requests_per_load() == 112


def test_the_peak_rate_follows_from_the_model() -> None:
    # 25,000 loads x 112 requests / 86,400 s x 3 (peak hour)
    assert model.average_rate() == pytest.approx(32.407, abs=1e-3)
    assert model.peak_rate() == pytest.approx(97.222, abs=1e-3)
    assert model.peak_loads_per_second() == pytest.approx(0.8681, abs=1e-4)
    assert run.users_for(1, 60) == 53 and run.users_for(10, 60) == 521


def test_every_step_names_a_known_route_and_the_bidders_are_distinct() -> None:
    plan = model.load_plan()
    assert {step.kind for step in plan} <= set(model.KINDS)
    assert {step.actor for step in plan} == {model.SHIPPER, model.DRIVER, *model.BIDDER_ROLES}
    assert len(set(model.BIDDER_ROLES)) == model.BIDDERS
    assert set(model.KINDS) >= model.IDEMPOTENT_KINDS


def test_a_trip_sends_ten_fixes_moving_forward_in_time_with_valid_headings() -> None:
    trip = steps.Trip(19.07, 72.87)
    first, second = trip.batch(), trip.batch()
    for batch in (first, second):
        assert len(batch) == model.FIXES_PER_BATCH
        times = [fix["timestamp"] for fix in batch]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert all(0 <= fix["heading"] < 360 for fix in batch)
        assert len({fix["accuracy"] for fix in batch}) > 1  # a constant accuracy looks spoofed
    assert first[-1]["timestamp"] < second[0]["timestamp"]


def test_only_money_and_delivery_requests_carry_an_idempotency_key() -> None:
    party = {"token": "t", "ip": "10.0.0.1", "device": "DEV-1"}
    request = steps.Request("POST", "/v1/bookings", 201)
    assert "Idempotency-Key" in steps.headers(party, request, "booking_create")
    headers = steps.headers(party, steps.Request("POST", "/v1/tracking/ping"), "gps_batch")
    assert "Idempotency-Key" not in headers
    assert headers["X-Device-Id"] == "DEV-1" and headers["X-Forwarded-For"] == "10.0.0.1"
    refresh = steps.Request("POST", "/v1/auth/refresh", signed_in=False)
    assert "Authorization" not in steps.headers(party, refresh, "refresh")


def _result(**overrides: Any) -> dict[str, Any]:
    route = {"requests": 100, "failures": 0, "rate": 97.0, "p50": 20.0, "p95": 80.0, "p99": 120.0}
    result = {
        "p50": 20.0,
        "p95": 80.0,
        "p99": 120.0,
        "rate": 97.5,
        "requests": 6000,
        "failures": 0,
        "errorRate": 0.0,
        "serverErrorsWholeRun": 0,
        "routes": {"POST /v1/tracking/ping": route},
        "failureSamples": [],
        "cpuMsPerRequest": {"api": 8.5, "postgresql": 1.8, "whole machine": 12.5},
        "cpuCoresBusy": {"api": 0.83, "postgresql": 0.18, "whole machine": 1.22},
    }
    return result | overrides


def test_a_step_holds_only_within_every_target() -> None:
    target = model.peak_rate()
    assert run.judge(_result(), target) == []
    assert run.judge(_result(p95=200.0), target) == ["p95 200 ms >= 200 ms"]
    assert run.judge(_result(errorRate=0.001), target) == ["error rate 0.100% >= 0.1%"]
    assert run.judge(_result(rate=90.0), target) == ["achieved 90.0 req/s < 95 % of 97.2"]
    assert run.judge(_result(serverErrorsWholeRun=1), target) == ["1 server errors"]


def test_the_smoke_test_fails_on_server_errors_and_broken_flows_not_on_latency() -> None:
    assert run.smoke_failures(_result(p95=900.0)) == []
    assert run.smoke_failures(_result(serverErrorsWholeRun=2)) == ["2 server errors"]
    assert run.smoke_failures(_result(errorRate=0.002)) == ["error rate 0.200% >= 0.1%"]


def test_the_report_states_the_measured_figures() -> None:
    held = {"multiple": 1.0, "users": 53, "target": 97.2, "result": _result(), "misses": []}
    missed = {"multiple": 1.5, "users": 79, "target": 145.8, "result": _result(p95=420.0), "misses": ["p95"]}
    burst = _result(rate=114.3, routes={"POST /v1/bookings": {"rate": 114.3}})
    results = {
        "loadSeconds": 60,
        "stepSeconds": 60,
        "workers": 2,
        "seedSeconds": 25.0,
        "totalSeconds": 600.0,
        "machine": {
            "cpu": "Test CPU",
            "cores": 2,
            "memory": "24 GiB",
            "os": "Linux",
            "python": "3.11.7",
            "postgresql": "15.19",
            "redis": "7.0.15",
            "commit": "abc1234",
        },
        "steps": [held, missed],
        "bookingBurst": burst,
        "ceilingBurst": _result(rate=1143.0),
    }
    text = report.render(results)
    assert "the seed's peak (1×) is 97.2 req/s" in text
    assert "Highest multiple sustained: 1× the seed's peak" in text
    assert "Booking creation reaches 10% of the ceiling" in text
    assert "Test CPU, 2 cores" in text
    assert "| 1.5× | 79 | 145.8 |" in text
    assert "| 1× | 8.50 | 1.80 | 12.50 | 1.22 |" in text  # CPU per request by process, cores busy
    assert "could serve at most 160 req/s of this mix (1.6× the peak)" in text
