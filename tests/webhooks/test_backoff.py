"""The retry schedule: exponential from 30 s, capped at one hour, with ±50 % jitter."""

from __future__ import annotations

import random
from datetime import timedelta

from rodistaa.webhooks.delivery import backoff


class _Fixed(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.value


def test_backoff_doubles_from_thirty_seconds_and_stops_at_an_hour() -> None:
    middle = _Fixed(0.5)  # jitter factor 1.0
    assert [backoff(n, middle).total_seconds() for n in range(1, 9)] == [
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert backoff(500, middle) == timedelta(hours=1)


def test_jitter_spans_half_to_one_and_a_half_times() -> None:
    assert backoff(1, _Fixed(0.0)) == timedelta(seconds=30)
    assert backoff(1, _Fixed(1.0)) == timedelta(seconds=90)
    samples = {backoff(3, random.Random(seed)) for seed in range(50)}
    assert all(timedelta(seconds=120) <= s <= timedelta(seconds=360) for s in samples)
    assert len(samples) > 1
