"""A GPS spoofing score for one ping, from the fixes before it: a pure, explainable heuristic
that feeds ACS `telemetry.spoofScore` (RF06 freezes at `system.config.spoofThreshold`, 0.8).

Each signal is a yes/no observation with a fixed weight; the score is the sum of the weights
of the signals present, clipped to [0, 1]. No single signal reaches the 0.8 threshold on its
own: a real truck on a bad road, a tunnel or a cheap phone trips one of them now and then, and a
false freeze stops a legitimate delivery. It takes converging evidence (for example a replayed
track at an impossible speed with a perfect accuracy) to freeze. The device's own mock-location
flag is not part of the score: RF06 reads it directly (`telemetry.mockLocation`).

Signals and weights (speeds in km/h, times in seconds, distances in km):

* IMPOSSIBLE_SPEED 0.35 — the speed computed from the previous fix exceeds 150 km/h over an
  interval of at least 60 s. A loaded truck cannot sustain it; over shorter intervals GPS noise
  alone can produce it, so they are not judged.
* SPEED_MISMATCH 0.20 — the speed the device reports differs from the computed one by more than
  60 km/h (same ≥ 60 s interval). Spoofing apps move the fix and forget the speed (or the other
  way round); real receivers agree to within traffic stops.
* REPLAYED_CADENCE 0.35 — the last 5 steps (6 fixes, this one included) have identical
  intervals (within 0.5 s) and identical distances (within 1 %, each over 10 m). Real
  receivers jitter in both; an emulator replaying a route at a fixed rate does not.
* ZERO_ACCURACY 0.15 — the device claims an accuracy of exactly 0 m. No real receiver does.
* CONSTANT_ACCURACY 0.10 — the last 6 fixes (this one included) report the very same accuracy.
  Real accuracy changes with satellites and surroundings from fix to fix.
* STUCK_WHILE_MOVING 0.25 — this fix and the 2 before it have identical coordinates while each
  reports a speed above 5 km/h: a frozen location with a moving speedometer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise

from rodistaa.bookings.pricing import GeoPoint, great_circle_km


class Signal(StrEnum):
    IMPOSSIBLE_SPEED = "IMPOSSIBLE_SPEED"
    SPEED_MISMATCH = "SPEED_MISMATCH"
    REPLAYED_CADENCE = "REPLAYED_CADENCE"
    ZERO_ACCURACY = "ZERO_ACCURACY"
    CONSTANT_ACCURACY = "CONSTANT_ACCURACY"
    STUCK_WHILE_MOVING = "STUCK_WHILE_MOVING"


WEIGHTS: dict[Signal, float] = {
    Signal.IMPOSSIBLE_SPEED: 0.35,
    Signal.SPEED_MISMATCH: 0.20,
    Signal.REPLAYED_CADENCE: 0.35,
    Signal.ZERO_ACCURACY: 0.15,
    Signal.CONSTANT_ACCURACY: 0.10,
    Signal.STUCK_WHILE_MOVING: 0.25,
}

MAX_TRUCK_SPEED_KMH = 150.0
MIN_JUDGED_INTERVAL_S = 60.0
MAX_SPEED_MISMATCH_KMH = 60.0
REPLAY_STEPS = 5
REPLAY_INTERVAL_TOLERANCE_S = 0.5
REPLAY_DISTANCE_TOLERANCE = 0.01
REPLAY_MIN_STEP_KM = 0.010
CONSTANT_ACCURACY_FIXES = 6
STUCK_FIXES = 3
STUCK_MIN_SPEED_KMH = 5.0
# The most history any signal looks at: callers need to pass no more than this.
HISTORY_NEEDED = max(REPLAY_STEPS, CONSTANT_ACCURACY_FIXES, STUCK_FIXES)


@dataclass(frozen=True)
class Fix:
    """One GPS fix as the device reported it (speed in km/h, accuracy in metres)."""

    lat: float
    lng: float
    at: datetime
    speed_kmh: float | None = None
    accuracy_m: float | None = None


def distance_km(a: Fix, b: Fix) -> float:
    return great_circle_km(GeoPoint(a.lat, a.lng), GeoPoint(b.lat, b.lng))


def interval_s(a: Fix, b: Fix) -> float:
    return (b.at - a.at).total_seconds()


def signals(history: Sequence[Fix], ping: Fix) -> frozenset[Signal]:
    """The signals present for `ping`, given the fixes before it in time order (oldest first)."""
    found: set[Signal] = set()
    if history:
        found |= _speed_signals(history[-1], ping)
    if _replayed_cadence([*history, ping]):
        found.add(Signal.REPLAYED_CADENCE)
    if ping.accuracy_m == 0:
        found.add(Signal.ZERO_ACCURACY)
    if _constant_accuracy([*history, ping]):
        found.add(Signal.CONSTANT_ACCURACY)
    if _stuck_while_moving([*history, ping]):
        found.add(Signal.STUCK_WHILE_MOVING)
    return frozenset(found)


def spoof_score(history: Sequence[Fix], ping: Fix) -> float:
    """The weighted sum of `signals(history, ping)`, clipped to [0, 1] and rounded to 3 dp."""
    total = sum(WEIGHTS[s] for s in signals(history, ping))
    return round(min(1.0, max(0.0, total)), 3)


def _speed_signals(previous: Fix, ping: Fix) -> set[Signal]:
    seconds = interval_s(previous, ping)
    if seconds < MIN_JUDGED_INTERVAL_S:
        return set()
    computed_kmh = distance_km(previous, ping) / (seconds / 3600)
    found = set()
    if computed_kmh > MAX_TRUCK_SPEED_KMH:
        found.add(Signal.IMPOSSIBLE_SPEED)
    if ping.speed_kmh is not None and abs(ping.speed_kmh - computed_kmh) > MAX_SPEED_MISMATCH_KMH:
        found.add(Signal.SPEED_MISMATCH)
    return found


def _replayed_cadence(fixes: Sequence[Fix]) -> bool:
    if len(fixes) < REPLAY_STEPS + 1:
        return False
    window = fixes[-(REPLAY_STEPS + 1) :]
    steps = list(pairwise(window))
    intervals = [interval_s(a, b) for a, b in steps]
    distances = [distance_km(a, b) for a, b in steps]
    if min(distances) < REPLAY_MIN_STEP_KM or min(intervals) <= 0:
        return False
    regular_time = max(intervals) - min(intervals) <= REPLAY_INTERVAL_TOLERANCE_S
    regular_space = (max(distances) - min(distances)) <= REPLAY_DISTANCE_TOLERANCE * min(distances)
    return regular_time and regular_space


def _constant_accuracy(fixes: Sequence[Fix]) -> bool:
    if len(fixes) < CONSTANT_ACCURACY_FIXES:
        return False
    accuracies = {f.accuracy_m for f in fixes[-CONSTANT_ACCURACY_FIXES:]}
    return len(accuracies) == 1 and None not in accuracies


def _stuck_while_moving(fixes: Sequence[Fix]) -> bool:
    if len(fixes) < STUCK_FIXES:
        return False
    window = fixes[-STUCK_FIXES:]
    same_place = len({(f.lat, f.lng) for f in window}) == 1
    moving = all(f.speed_kmh is not None and f.speed_kmh > STUCK_MIN_SPEED_KMH for f in window)
    return same_place and moving
