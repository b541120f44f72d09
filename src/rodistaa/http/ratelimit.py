"""Named rate-limit policies on the `limits` library: Redis storage when `REDIS_URL` is set (one
budget shared by every instance), memory otherwise.

If Redis fails, counting continues in this process's memory with a warning rather than letting
requests through unmetered: an outage must never open the door to OTP brute force.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from rodistaa.core.errors import RateLimited

log = structlog.get_logger("rodistaa.ratelimit")


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
        self, policies: Mapping[str, str], *, redis_url: str | None = None, key_prefix: str = "rodistaa-rl"
    ) -> None:
        self.key_prefix = key_prefix
        self._items: dict[str, RateLimitItem] = {name: parse(spec) for name, spec in policies.items()}
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self._storage: Storage | None = None
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            self._storage = RedisStorage(uri, implementation="redispy", key_prefix=key_prefix)
            self._shared = MovingWindowRateLimiter(self._storage)

    async def hit(self, policy: str, identifier: str) -> LimitResult:
        item = self._items[policy]
        key = hashed_identifier(identifier)
        if self._shared is not None:
            try:
                return await self._hit(self._shared, policy, item, key)
            except Exception as exc:  # any storage failure: fall back, never fail open
                log.warning("rate_limit_storage_unavailable", policy=policy, error=type(exc).__name__)
        return await self._hit(self._memory, policy, item, key)

    @staticmethod
    async def _hit(
        limiter: MovingWindowRateLimiter, policy: str, item: RateLimitItem, key: str
    ) -> LimitResult:
        allowed = await limiter.hit(item, policy, key)
        stats = await limiter.get_window_stats(item, policy, key)
        return LimitResult(policy, allowed, item.amount, max(0, stats.remaining), stats.reset_time)

    async def enforce(self, checks: Sequence[tuple[str, str]]) -> LimitResult:
        """Count one hit on every (policy, identifier); raise 429 if any budget is spent.

        Returns the most constrained result so the caller can publish its headers."""
        results = [await self.hit(policy, identifier) for policy, identifier in checks]
        now_s = time.time()  # the window clock of the `limits` storages
        refused = [r for r in results if not r.allowed]
        if refused:
            worst = max(refused, key=lambda r: r.reset_at)
            raise RateLimited(headers=worst.headers(now_s))
        return min(results, key=lambda r: r.remaining)

    async def reset(self) -> None:
        await self._memory.storage.reset()
        if self._storage is not None:
            await self._storage.reset()

    async def ping(self) -> bool:
        return True if self._storage is None else bool(await self._storage.check())
