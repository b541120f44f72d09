"""Rate limits on Redis: one budget for every instance of the service, and a Redis outage that
degrades to per-instance budgets (with a warning and a metric), never to no limit at all."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import REGISTRY

from rodistaa.ops.logging import configure_logging
from tests.conftest import make_settings, running_app

PHONE_LIMIT = "3/hour"


def otp_body(index: int) -> dict[str, str]:
    return {"mobile": f"+91970000{index:04d}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def disposable_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of this test's own, so the test can stop it."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but redis-server is not installed")
        pytest.skip("redis-server not installed")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url, server
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)


async def test_two_instances_share_one_budget(clean_database: str, redis_url: str) -> None:
    prefix = f"test-{secrets.token_hex(4)}"
    first_settings = make_settings(
        clean_database, redis_url=redis_url, redis_key_prefix=prefix, rate_limit_auth_per_phone=PHONE_LIMIT
    )
    async with running_app(first_settings) as first, running_app(first_settings) as second:
        assert (await first.client.post("/v1/auth/otp", json=otp_body(1))).status_code == 200
        assert (await second.client.post("/v1/auth/otp", json=otp_body(1))).status_code == 200
        third = await first.client.post("/v1/auth/otp", json=otp_body(1))
        assert (third.status_code, third.headers["X-RateLimit-Remaining"]) == (200, "0")
        refused = await second.client.post("/v1/auth/otp", json=otp_body(1))
        assert refused.status_code == 429
        assert refused.json()["code"] == "RATE_LIMIT_EXCEEDED"
        assert int(refused.headers["Retry-After"]) > 0
        assert len(first.sms.sent) + len(second.sms.sent) == 3


def gauge(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_redis_stopped_mid_test_degrades_to_local_limits(
    clean_database: str, disposable_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, server = disposable_redis
    settings = make_settings(
        clean_database, redis_url=url, redis_key_prefix="degraded", rate_limit_auth_per_phone=PHONE_LIMIT
    )
    stream = io.StringIO()
    async with running_app(settings) as h:
        configure_logging("INFO", json=True, stream=stream)
        fallbacks_before = gauge("rate_limit_fallback_hits_total", policy="otp_request_phone")
        assert (await h.client.post("/v1/auth/otp", json=otp_body(2))).status_code == 200
        assert redis.Redis.from_url(url).keys("degraded-rl*"), "the hit was counted in Redis"

        server.terminate()
        server.wait(timeout=10)

        # This instance now counts on its own, from zero: three more, then refused.
        statuses = [(await h.client.post("/v1/auth/otp", json=otp_body(2))).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert gauge("rate_limit_degraded") == 1.0
        assert gauge("rate_limit_fallback_hits_total", policy="otp_request_phone") >= fallbacks_before + 4
    events = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    warnings = [e for e in events if e["event"] == "rate_limit_degraded"]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert "+91970000" not in stream.getvalue()
