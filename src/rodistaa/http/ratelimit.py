"""Named rate-limit policies on the `limits` library: Redis storage when `REDIS_URL` is set (one
budget shared by every instance), memory otherwise.

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

import structlog
from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
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
        self._storage: RedisStorage | None = None
        self._shared: MovingWindowRateLimiter | None = None
        self._retry_shared_after_s = retry_shared_after_s
        self._shared_down_until = 0.0  # monotonic time; 0 while Redis is believed healthy
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            self._storage = RedisStorage(
                uri,
                implementation="redispy",
                key_prefix=key_prefix,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
            self._shared = MovingWindowRateLimiter(self._storage)

    @property
    def degraded(self) -> bool:
        return self._shared_down_until > 0.0

    async def hit(self, policy: str, identifier: str, *, cost: int = 1) -> LimitResult:
        item = self._items[policy]
        key = hashed_identifier(identifier)
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                result = await self._hit(self._shared, policy, item, key, cost)
            except Exception as exc:  # any storage failure: fall back, never fail open
                REDIS_ERRORS.inc()
                self._mark_shared_down(policy, exc)
            else:
                self._mark_shared_up()
                return result
        if self._shared is not None:
            FALLBACK_HITS.labels(policy).inc()
        return await self._hit(self._memory, policy, item, key, cost)

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

    @staticmethod
    async def _hit(
        limiter: MovingWindowRateLimiter, policy: str, item: RateLimitItem, key: str, cost: int
    ) -> LimitResult:
        allowed = await limiter.hit(item, policy, key, cost=cost)
        stats = await limiter.get_window_stats(item, policy, key)
        return LimitResult(policy, allowed, item.amount, max(0, stats.remaining), stats.reset_time)

    async def enforce(self, checks: Sequence[tuple[str, str]], *, cost: int = 1) -> LimitResult:
        """Count `cost` hits on every (policy, identifier); raise 429 if any budget is spent.

        Returns the most constrained result so the caller can publish its headers."""
        results = [await self.hit(policy, identifier, cost=cost) for policy, identifier in checks]
        now_s = time.time()  # the window clock of the `limits` storages
        refused = [r for r in results if not r.allowed]
        if refused:
            worst = max(refused, key=lambda r: r.reset_at)
            REFUSED.labels(worst.policy).inc()
            raise RateLimited(headers=worst.headers(now_s))
        return min(results, key=lambda r: r.remaining)

    async def reset(self) -> None:
        await self._memory.storage.reset()
        if self._storage is not None:
            await self._storage.reset()

    async def ping(self) -> bool:
        """Readiness: True without Redis; a failed check counts as a Redis error."""
        if self._storage is None:
            return True
        try:
            healthy = bool(await self._storage.check())
        except Exception:
            REDIS_ERRORS.inc()
            raise
        if not healthy:
            REDIS_ERRORS.inc()
        return healthy


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
