"""The Redis moving window of `RateLimiter`: one script, one round trip per check, with the semantics
of `limits`' moving window (`hit` then `get_window_stats`), which it replaced."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio.connection import Connection

from rodistaa.http.ratelimit import LimitResult, RateLimiter, hashed_identifier

POLICIES = {"pair": "2/second", "batch": "5/minute", "default": "4/hour"}


class FakeClock:
    """Stands in for `time.time` (the window clock of both implementations)."""

    def __init__(self) -> None:
        self.now_s = float(int(time.time())) + 0.125

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
async def limiter(redis_url: str) -> AsyncIterator[RateLimiter]:
    prefix = f"rodistaa-rl-test-{secrets.token_hex(6)}"
    limiter = RateLimiter(POLICIES, redis_url=redis_url, key_prefix=prefix)
    yield limiter
    await limiter.reset()
    await limiter.aclose()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(time, "time", fake)
    return fake


def shape(result: LimitResult) -> tuple[bool, int, float]:
    return result.allowed, result.remaining, result.reset_at


async def test_the_window_moves_in_real_time(limiter: RateLimiter) -> None:
    first = await limiter.hit("pair", "driver-1")
    await asyncio.sleep(0.4)
    second_sent_s = time.time()
    second = await limiter.hit("pair", "driver-1")
    second_answered_s = time.time()
    refused = await limiter.hit("pair", "driver-1")
    assert [r.allowed for r in (first, second, refused)] == [True, True, False]
    assert (second.remaining, refused.remaining) == (0, 0)
    assert refused.reset_at == pytest.approx(first.reset_at, abs=1e-3)  # the oldest hit leaves first
    await asyncio.sleep(max(0.0, refused.reset_at - time.time()) + 0.05)
    again = await limiter.hit("pair", "driver-1")
    assert (again.allowed, again.remaining) == (True, 0)  # the second hit is still in the window
    assert second_sent_s + 1 <= again.reset_at <= second_answered_s + 1  # and leaves next


async def test_remaining_and_reset_follow_the_oldest_hit(limiter: RateLimiter, clock: FakeClock) -> None:
    start_s = clock.now_s
    assert shape(await limiter.hit("batch", "s-1")) == (True, 4, start_s + 60)
    clock.now_s += 20
    assert shape(await limiter.hit("batch", "s-1", cost=2)) == (True, 2, start_s + 60)
    clock.now_s = start_s + 60  # a hit exactly one window old still counts, as in `limits`
    assert shape(await limiter.hit("batch", "s-1", cost=3)) == (False, 2, start_s + 60)
    clock.now_s += 0.001  # it has left: the 20 s hits are the oldest now
    assert shape(await limiter.hit("batch", "s-1", cost=3)) == (True, 0, start_s + 80)


async def test_a_batch_that_does_not_fit_counts_nothing(limiter: RateLimiter, clock: FakeClock) -> None:
    assert (await limiter.hit("batch", "s-2", cost=4)).remaining == 1
    refused = await limiter.hit("batch", "s-2", cost=2)
    assert (refused.allowed, refused.remaining) == (False, 1)
    assert (await limiter.hit("batch", "s-2", cost=6)).allowed is False  # above the limit itself
    last = await limiter.hit("batch", "s-2")
    assert (last.allowed, last.remaining) == (True, 0)


async def test_an_empty_window_resets_one_period_from_now(limiter: RateLimiter, clock: FakeClock) -> None:
    refused = await limiter.hit("batch", "s-3", cost=6)
    assert shape(refused) == (False, 5, clock.now_s + 60)


async def test_two_limiters_share_one_budget(limiter: RateLimiter, redis_url: str) -> None:
    other = RateLimiter(POLICIES, redis_url=redis_url, key_prefix=limiter.key_prefix)
    try:
        assert (await limiter.hit("default", "user-1", cost=3)).remaining == 1
        assert (await other.hit("default", "user-1")).remaining == 0
        assert (await limiter.hit("default", "user-1")).allowed is False
        assert (await other.hit("default", "user-2")).remaining == 3
    finally:
        await other.aclose()


async def test_keys_are_hashed_bounded_and_expire(
    limiter: RateLimiter, redis_url: str, clock: FakeClock
) -> None:
    await limiter.hit("batch", "+919800000010", cost=5)
    clock.now_s += 61
    await limiter.hit("batch", "+919800000010", cost=5)
    client = redis_asyncio.from_url(redis_url)
    try:
        keys = [k.decode() async for k in client.scan_iter(f"{limiter.key_prefix}:*")]
        length, ttl_s = await client.llen(keys[0]), await client.ttl(keys[0])
    finally:
        await client.aclose()
    assert keys == [limiter.redis_key("batch", hashed_identifier("+919800000010"))]
    assert "9800000010" not in keys[0]
    assert length == 5  # never more entries than the limit
    assert 0 < ttl_s <= 60


async def test_one_round_trip_per_check(limiter: RateLimiter, monkeypatch: pytest.MonkeyPatch) -> None:
    await limiter.hit("default", "warm-up")  # connects and loads the script once
    sent: list[int] = []
    original: Callable[..., Awaitable[None]] = Connection.send_packed_command

    async def counted(self: Connection, command: Any, check_health: bool = True) -> None:
        sent.append(1)
        await original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    for policy, cost in [("default", 1), ("batch", 3), ("batch", 9)]:  # the last one is refused
        sent.clear()
        await limiter.hit(policy, "user-9", cost=cost)
        assert len(sent) == 1, (policy, cost)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_same_results_as_limits_moving_window(
    limiter: RateLimiter, redis_url: str, clock: FakeClock, seed: int
) -> None:
    """The replaced implementation (`limits`' hit + get_window_stats on Redis), step by step."""
    storage = RedisStorage(
        "async+" + redis_url, implementation="redispy", key_prefix=f"rodistaa-rl-test-{secrets.token_hex(6)}"
    )
    reference = MovingWindowRateLimiter(storage)
    rng = random.Random(seed)
    try:
        for _ in range(120):
            policy = rng.choice(["pair", "batch"])
            item = parse(POLICIES[policy])
            clock.now_s += rng.choice([0.0, 0.001, 0.3, 1.0, 7.5, 21.0])
            cost = rng.choice([1, 1, 1, 2, 3, 6])
            allowed = await reference.hit(item, policy, "id", cost=cost)
            stats = await reference.get_window_stats(item, policy, "id")
            result = await limiter.hit(policy, "id", cost=cost)
            assert (result.allowed, result.remaining) == (allowed, max(0, stats.remaining))
            assert result.reset_at == pytest.approx(stats.reset_time, abs=1e-3)
    finally:
        await storage.reset()
