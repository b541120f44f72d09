"""The GPS spoof heuristic: each signal on its own, the weights, the [0, 1] range and the
monotonic behaviour the threshold relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from rodistaa.tracking.spoof import WEIGHTS, Fix, Signal, signals, spoof_score

T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
KM_PER_DEGREE_LAT = 111.195


def fix_at(seconds: float, km_north: float = 0.0, **extra: float | None) -> Fix:
    return Fix(19.0 + km_north / KM_PER_DEGREE_LAT, 72.8, T0 + timedelta(seconds=seconds), **extra)


def drive(count: int, *, every_s: float, step_km: float, **extra: float | None) -> list[Fix]:
    return [fix_at(i * every_s, i * step_km, **extra) for i in range(count)]


class TestSignals:
    def test_no_history_and_no_accuracy_scores_zero(self) -> None:
        assert spoof_score([], fix_at(0)) == 0.0

    def test_impossible_speed_over_a_minute(self) -> None:
        history = [fix_at(0)]
        assert signals(history, fix_at(60, 2.6)) == {Signal.IMPOSSIBLE_SPEED}  # 156 km/h
        assert signals(history, fix_at(60, 2.4)) == frozenset()  # 144 km/h

    def test_short_intervals_are_not_judged(self) -> None:
        # 1 km in 10 s is 360 km/h, but over 10 s GPS noise alone can do that.
        assert signals([fix_at(0)], fix_at(10, 1.0, speed_kmh=0.0)) == frozenset()

    def test_reported_speed_far_from_computed(self) -> None:
        history = [fix_at(0)]
        assert signals(history, fix_at(120, 2.0, speed_kmh=125.0)) == {Signal.SPEED_MISMATCH}  # 60 vs 125
        assert signals(history, fix_at(120, 2.0, speed_kmh=115.0)) == frozenset()

    def test_replayed_cadence_needs_five_identical_steps(self) -> None:
        track = drive(6, every_s=30, step_km=0.5)
        assert Signal.REPLAYED_CADENCE in signals(track[:-1], track[-1])
        assert Signal.REPLAYED_CADENCE not in signals(track[:-2], track[-2])  # only four steps

    def test_jitter_in_time_or_distance_is_not_a_replay(self) -> None:
        track = drive(6, every_s=30, step_km=0.5)
        jittered_time = [*track[:-1], fix_at(151, 2.5)]
        jittered_space = [*track[:-1], fix_at(150, 2.52)]
        for fixes in (jittered_time, jittered_space):
            assert Signal.REPLAYED_CADENCE not in signals(fixes[:-1], fixes[-1])

    def test_a_parked_truck_is_not_a_replay(self) -> None:
        parked = drive(6, every_s=30, step_km=0.0)
        assert signals(parked[:-1], parked[-1]) == frozenset()

    def test_zero_accuracy(self) -> None:
        assert signals([], fix_at(0, accuracy_m=0.0)) == {Signal.ZERO_ACCURACY}
        assert signals([], fix_at(0, accuracy_m=0.5)) == frozenset()

    def test_constant_accuracy_over_six_fixes(self) -> None:
        # Irregular steps (no replay), all 20-40 km/h.
        fixes = [fix_at(i * 45 + i * i, i * 0.3 + 0.02 * i * i, accuracy_m=12.0) for i in range(6)]
        assert signals(fixes[:-1], fixes[-1]) == {Signal.CONSTANT_ACCURACY}
        assert signals(fixes[:-2], fixes[-2]) == frozenset()
        varied = [*fixes[:-1], fix_at(250, 2.0, accuracy_m=11.0)]
        assert signals(varied[:-1], varied[-1]) == frozenset()

    def test_stuck_coordinates_while_reporting_speed(self) -> None:
        stuck = [fix_at(i * 20, 0.0, speed_kmh=40.0) for i in range(3)]
        assert signals(stuck[:-1], stuck[-1]) == {Signal.STUCK_WHILE_MOVING}
        stopped = [fix_at(i * 20, 0.0, speed_kmh=0.0) for i in range(3)]
        assert signals(stopped[:-1], stopped[-1]) == frozenset()

    def test_no_single_signal_reaches_the_threshold(self) -> None:
        assert max(WEIGHTS.values()) < 0.8

    def test_converging_evidence_reaches_it(self) -> None:
        # Replayed at 180 km/h with a perfect accuracy: 0.35 + 0.35 + 0.15 + 0.10 constant.
        track = drive(6, every_s=60, step_km=3.0, accuracy_m=0.0)
        assert spoof_score(track[:-1], track[-1]) == 0.95

    def test_the_score_is_the_clipped_sum_of_weights(self) -> None:
        track = drive(6, every_s=60, step_km=3.0, accuracy_m=0.0, speed_kmh=40.0)
        found = signals(track[:-1], track[-1])
        assert sum(WEIGHTS[s] for s in found) > 1.0
        assert spoof_score(track[:-1], track[-1]) == 1.0


coordinates = st.tuples(st.floats(-89.0, 89.0), st.floats(-179.0, 179.0))
optional_speed = st.none() | st.floats(0, 1000)
optional_accuracy = st.none() | st.floats(0, 100_000)


@st.composite
def fixes(draw: st.DrawFn, *, min_size: int = 0, max_size: int = 10) -> list[Fix]:
    gaps = draw(st.lists(st.floats(0, 3600), min_size=min_size, max_size=max_size))
    moment, result = T0, []
    for gap in gaps:
        moment += timedelta(seconds=gap)
        lat, lng = draw(coordinates)
        result.append(Fix(lat, lng, moment, draw(optional_speed), draw(optional_accuracy)))
    return result


class TestProperties:
    @given(fixes(min_size=1))
    def test_score_is_within_zero_and_one(self, track: list[Fix]) -> None:
        assert 0.0 <= spoof_score(track[:-1], track[-1]) <= 1.0

    @given(
        st.floats(60, 3600),
        st.floats(0, 500),
        st.floats(0, 500),
        optional_accuracy,
    )
    def test_a_longer_jump_never_scores_lower(
        self, seconds: float, km_a: float, km_b: float, accuracy: float | None
    ) -> None:
        near, far = sorted((km_a, km_b))
        history = [fix_at(0, accuracy_m=accuracy)]
        assert spoof_score(history, fix_at(seconds, near, accuracy_m=accuracy)) <= spoof_score(
            history, fix_at(seconds, far, accuracy_m=accuracy)
        )

    @given(fixes(min_size=1))
    def test_claiming_a_perfect_accuracy_never_scores_lower(self, track: list[Fix]) -> None:
        *history, last = track
        unknown = Fix(last.lat, last.lng, last.at, last.speed_kmh, None)
        perfect = Fix(last.lat, last.lng, last.at, last.speed_kmh, 0.0)
        assert spoof_score(history, unknown) <= spoof_score(history, perfect)

    @given(fixes(min_size=1), st.integers(1, 5))
    def test_more_repeated_fixes_while_moving_never_score_lower(self, track: list[Fix], repeats: int) -> None:
        """Appending copies of the last fix (later, same place, reporting 40 km/h) to a track
        never lowers the score of the final copy below that of the first."""
        last = track[-1]
        copies = [
            Fix(last.lat, last.lng, last.at + timedelta(seconds=20 * (i + 1)), 40.0, last.accuracy_m)
            for i in range(repeats + 1)
        ]
        first = spoof_score(track, copies[0])
        final = spoof_score([*track, *copies[:-1]], copies[-1])
        assert final >= first
