"""The rate limiter on memory and on Redis, and its behaviour when Redis is down."""

from __future__ import annotations

import secrets

import pytest
import redis.asyncio as redis_asyncio

from rodistaa.core.errors import RateLimited
from rodistaa.http.ratelimit import RateLimiter, hashed_identifier

POLICIES = {"login_phone": "3/hour", "login_ip": "5/hour"}


def isolated(redis_url: str) -> RateLimiter:
    """A limiter with a key prefix of its own: `reset` deletes every key under the prefix, so
    tests (and anything else on the same Redis database) must not share one."""
    return RateLimiter(POLICIES, redis_url=redis_url, key_prefix=f"rodistaa-rl-test-{secrets.token_hex(6)}")


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return RateLimiter(POLICIES)
    return isolated(request.getfixturevalue("redis_url"))


class TestRateLimiter:
    async def test_counts_down_then_refuses_with_headers(self, limiter: RateLimiter) -> None:
        phone = f"+9198{secrets.randbelow(10**8):08d}"
        remaining = [(await limiter.enforce([("login_phone", phone)])).remaining for _ in range(3)]
        assert remaining == [2, 1, 0]
        with pytest.raises(RateLimited) as refused:
            await limiter.enforce([("login_phone", phone)])
        headers = refused.value.headers or {}
        assert headers["X-RateLimit-Limit"] == "3" and headers["X-RateLimit-Remaining"] == "0"
        assert 3500 <= int(headers["Retry-After"]) <= 3600

    async def test_budgets_are_per_identifier(self, limiter: RateLimiter) -> None:
        for _ in range(3):
            await limiter.enforce([("login_phone", "+919800000001")])
        result = await limiter.enforce([("login_phone", "+919800000002")])
        assert result.allowed and result.remaining == 2

    async def test_most_constrained_policy_is_reported(self, limiter: RateLimiter) -> None:
        result = await limiter.enforce([("login_phone", "+919800000003"), ("login_ip", "10.0.0.1")])
        assert (result.policy, result.remaining) == ("login_phone", 2)


async def test_redis_budget_is_shared_between_instances(redis_url: str) -> None:
    first = isolated(redis_url)
    second = RateLimiter(POLICIES, redis_url=redis_url, key_prefix=first.key_prefix)
    for _ in range(3):
        await first.enforce([("login_phone", "+919800000004")])
    with pytest.raises(RateLimited):
        await second.enforce([("login_phone", "+919800000004")])


async def test_redis_keys_do_not_contain_the_phone(redis_url: str) -> None:
    limiter = isolated(redis_url)
    await limiter.enforce([("login_phone", "+919800000005")])
    client = redis_asyncio.from_url(redis_url)
    try:
        keys = [k.decode() async for k in client.scan_iter(f"{limiter.key_prefix}*")]
    finally:
        await client.aclose()
    assert keys and not any("9800000005" in k for k in keys)
    assert any(hashed_identifier("+919800000005") in k for k in keys)


async def test_redis_outage_falls_back_to_local_limits_not_to_no_limits() -> None:
    limiter = RateLimiter(POLICIES, redis_url="redis://127.0.0.1:1/0")
    for _ in range(3):
        await limiter.enforce([("login_phone", "+919800000006")])
    with pytest.raises(RateLimited):
        await limiter.enforce([("login_phone", "+919800000006")])
