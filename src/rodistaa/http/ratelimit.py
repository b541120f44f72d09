"""Named rate-limit policies: a moving window in Redis when `REDIS_URL` is set (one budget shared
by every instance), in this process's memory (the `limits` library) otherwise.

A check against Redis is one round trip: one Lua script takes the hits and reads the window back
(see `_ACQUIRE_SCRIPT`).

If Redis fails, counting continues in this process's memory (degraded mode: per-instance budgets)
with a warning and the `rate_limit_degraded` gauge at 1, rather than letting requests through
unmetered: an outage must never open the door to OTP brute force. While degraded, Redis is tried
again every `retry_shared_after_s` seconds, so a dead Redis costs one timeout per interval, not
one per request.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis.asyncio as redis_asyncio
import structlog
from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rodistaa.core.errors import RateLimited

log = structlog.get_logger("rodistaa.ratelimit")

# livemax: 1 while any live worker is degraded; a dead worker's flag must not stay raised.
DEGRADED = Gauge(
    "rate_limit_degraded",
    "1 while rate limits are counted per instance because Redis failed",
    multiprocess_mode="livemax",
)
REDIS_ERRORS = Counter("redis_errors_total", "Redis operations that failed (rate-limit storage)")
FALLBACK_HITS = Counter(
    "rate_limit_fallback_hits_total", "Rate-limit hits counted in memory because Redis failed", ["policy"]
)
REFUSED = Counter("rate_limit_refused_total", "Requests refused with 429", ["policy"])

# A Redis that does not answer must not hold requests for long.
REDIS_TIMEOUT_S = 0.5

# `limits`' moving window (its `acquire_moving_window.lua` + `moving_window.lua`) as one script,
# so taking the hits and reading the window back costs one round trip instead of two.
# The key is a list of hit timestamps (epoch seconds), newest first, trimmed to `limit` entries: the
# same keys and layout as `limits`' RedisStorage, so instances of the previous release share the
# budget during a rolling deploy. `cost` hits are taken together or not at all: they fit when the
# entry `cost` places from the end of a full window (index limit - cost) is absent or has left it.
# The expiry is refreshed by each accepted hit, so an idle key vanishes once its hits have all left
# the window. Returns {allowed (0/1), hits in the window after this check, oldest hit in the window
# (as stored, absent when the window is empty)}.
# Clock: the caller's `time.time()` (ARGV[1]), as `limits` does: timestamps written by older
# instances stay comparable, `reset_at` is on the same clock as the `Retry-After` computed from it,
# and tests can drive it. Instances' clocks are NTP-synchronised; a skew of milliseconds is nothing
# against windows of minutes and hours.
_ACQUIRE_SCRIPT = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local window_start = now - expiry
local allowed = 0
if cost <= limit then
    local blocker = redis.call('LINDEX', KEYS[1], limit - cost)
    if not blocker or tonumber(blocker) < window_start then
        for first = 1, cost, 5000 do
            local batch = {}
            for i = first, math.min(first + 4999, cost) do
                batch[#batch + 1] = ARGV[1]
            end
            redis.call('LPUSH', KEYS[1], unpack(batch))
        end
        redis.call('LTRIM', KEYS[1], 0, limit - 1)
        redis.call('EXPIRE', KEYS[1], expiry)
        allowed = 1
    end
end
local low, high, oldest = 0, redis.call('LLEN', KEYS[1]) - 1, -1
while low <= high do
    local mid = math.floor((low + high) / 2)
    if tonumber(redis.call('LINDEX', KEYS[1], mid)) >= window_start then
        oldest = mid
        low = mid + 1
    else
        high = mid - 1
    end
end
if oldest < 0 then
    return {allowed, 0}
end
return {allowed, oldest + 1, redis.call('LINDEX', KEYS[1], oldest)}
"""


@dataclass(frozen=True)
class LimitResult:
    policy: str
    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    def headers(self, now_epoch_s: float) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_at - now_epoch_s)))
        return headers


def hashed_identifier(value: str) -> str:
    """Keys in Redis must not carry phone numbers or addresses in clear."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class RateLimiter:
    def __init__(
        self,
        policies: Mapping[str, str],
        *,
        redis_url: str | None = None,
        key_prefix: str = "rodistaa-rl",
        retry_shared_after_s: float = 5.0,
    ) -> None:
        self.key_prefix = key_prefix
        self._items: dict[str, RateLimitItem] = {name: parse(spec) for name, spec in policies.items()}
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._redis: redis_asyncio.Redis | None = None
        self._retry_shared_after_s = retry_shared_after_s
        self._shared_down_until = 0.0  # monotonic time; 0 while Redis is believed healthy
        if redis_url:
            self._redis = redis_asyncio.Redis.from_url(
                redis_url.removeprefix("async+"),
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
            # EVALSHA, with one SCRIPT LOAD when the server does not know the script yet.
            self._acquire = self._redis.register_script(_ACQUIRE_SCRIPT)

    @property
    def degraded(self) -> bool:
        return self._shared_down_until > 0.0

    async def hit(self, policy: str, identifier: str, *, cost: int = 1) -> LimitResult:
        item = self._items[policy]
        key = hashed_identifier(identifier)
        if self._redis is not None and time.monotonic() >= self._shared_down_until:
            try:
                result = await self._hit_shared(policy, item, key, cost)
            except Exception as exc:  # any storage failure: fall back, never fail open
                REDIS_ERRORS.inc()
                self._mark_shared_down(policy, exc)
            else:
                self._mark_shared_up()
                return result
        if self._redis is not None:
            FALLBACK_HITS.labels(policy).inc()
        return await self._hit_memory(policy, item, key, cost)

    def _mark_shared_down(self, policy: str, exc: Exception) -> None:
        if not self.degraded:
            log.warning("rate_limit_degraded", policy=policy, error=type(exc).__name__)
        DEGRADED.set(1)
        self._shared_down_until = time.monotonic() + self._retry_shared_after_s

    def _mark_shared_up(self) -> None:
        if self.degraded:
            log.info("rate_limit_recovered")
            DEGRADED.set(0)
            self._shared_down_until = 0.0

    def redis_key(self, policy: str, key: str) -> str:
        """The Redis key of a policy's budget for a hashed identifier (`limits`' key layout)."""
        return f"{self.key_prefix}:{self._items[policy].key_for(policy, key)}"

    async def _hit_shared(self, policy: str, item: RateLimitItem, key: str, cost: int) -> LimitResult:
        expiry_s = item.get_expiry()
        now_s = time.time()
        reply = await self._acquire(
            keys=[self.redis_key(policy, key)], args=[repr(now_s), item.amount, expiry_s, cost]
        )
        allowed, count = bool(reply[0]), int(reply[1])
        oldest_s = float(reply[2]) if len(reply) > 2 else now_s  # an empty window starts now
        return LimitResult(policy, allowed, item.amount, max(0, item.amount - count), oldest_s + expiry_s)

    async def _hit_memory(self, policy: str, item: RateLimitItem, key: str, cost: int) -> LimitResult:
        allowed = await self._memory.hit(item, policy, key, cost=cost)
        stats = await self._memory.get_window_stats(item, policy, key)
        return LimitResult(policy, allowed, item.amount, max(0, stats.remaining), stats.reset_time)

    async def enforce(self, checks: Sequence[tuple[str, str]], *, cost: int = 1) -> LimitResult:
        """Count `cost` hits on every (policy, identifier); raise 429 if any budget is spent.

        Returns the most constrained result so the caller can publish its headers."""
        results = [await self.hit(policy, identifier, cost=cost) for policy, identifier in checks]
        now_s = time.time()  # the window clock of both storages
        refused = [r for r in results if not r.allowed]
        if refused:
            worst = max(refused, key=lambda r: r.reset_at)
            REFUSED.labels(worst.policy).inc()
            raise RateLimited(headers=worst.headers(now_s))
        return min(results, key=lambda r: r.remaining)

    async def reset(self) -> None:
        """Forget every count: this process's and every key under `key_prefix` in Redis."""
        await self._memory.storage.reset()
        if self._redis is not None:
            keys = [key async for key in self._redis.scan_iter(match=f"{self.key_prefix}:*", count=1000)]
            for first in range(0, len(keys), 1000):
                await self._redis.delete(*keys[first : first + 1000])

    async def ping(self) -> bool:
        """Readiness: True without Redis; a failed check counts as a Redis error."""
        if self._redis is None:
            return True
        try:
            healthy = bool(await self._redis.ping())
        except Exception:
            healthy = False
        if not healthy:
            REDIS_ERRORS.inc()
        return healthy

    async def aclose(self) -> None:
        """Close the Redis connection pool (the memory fallback holds nothing to close)."""
        if self._redis is not None:
            await self._redis.aclose()


def publish(request: Request, result: LimitResult) -> None:
    """Remember the most constrained budget a request used; `RateLimitHeadersMiddleware` puts it
    into the response's `X-RateLimit-*` headers."""
    current: LimitResult | None = getattr(request.state, "rate_limit", None)
    if current is None or result.remaining < current.remaining:
        request.state.rate_limit = result


class RateLimitHeadersMiddleware:
    """Adds `X-RateLimit-Limit` / `X-RateLimit-Remaining` of the budget a request used (see
    `publish`) unless the response already carries them (a 429 sets its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            result: LimitResult | None = (scope.get("state") or {}).get("rate_limit")
            if message["type"] == "http.response.start" and result is not None:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-ratelimit-limit" for name, _ in headers):
                    headers += [(k.lower().encode(), v.encode()) for k, v in result.headers(0).items()]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def limit_request(request: Request, checks: Sequence[tuple[str, str]], *, cost: int = 1) -> None:
    """Count this request against `checks` with the app's limiter (429 when a budget is spent)
    and publish the most constrained budget in the response headers."""
    limiter: RateLimiter = request.app.state.services.limiter
    publish(request, await limiter.enforce(checks, cost=cost))
