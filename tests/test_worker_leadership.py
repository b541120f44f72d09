"""Two workers (two service containers, two engines) on one PostgreSQL database, in real time
with a 1-second job: every interval's run happens once, never two in one interval, and
killing the worker in the middle of a run hands the job to the other.

Assertions are on what the job recorded (one row per run) and on `job_runs`; the only times
compared are the runs' own start times (two starts closer than an interval would be a double
run)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from rodistaa.app import build_services
from rodistaa.core.clock import SystemClock
from rodistaa.http.services import Services
from rodistaa.jobs.leadership import RUNNING
from rodistaa.jobs.registry import PeriodicJob
from rodistaa.jobs.worker import run_worker_forever
from tests.conftest import make_settings

INTERVAL_S = 1.0
RUN_S = 0.3  # each run takes a while, so the other worker tries while it runs
JOB = "test-worker-count"
# A run's recorded time is taken just after its claim; allow for that delay in the spacing check.
SLACK = timedelta(milliseconds=100)


@pytest.fixture
async def postgres_services(clean_database: str) -> AsyncIterator[tuple[Services, Services]]:
    if clean_database.startswith("sqlite"):
        pytest.skip("several workers need PostgreSQL; on SQLite the one process is the leader")
    first = await build_services(make_settings(clean_database), clock=SystemClock())
    second = await build_services(make_settings(clean_database), clock=SystemClock())
    async with first.db.transaction() as conn:
        await conn.execute(
            text("CREATE TABLE worker_test_runs (runner TEXT NOT NULL, started_at TIMESTAMPTZ NOT NULL)")
        )
    try:
        yield first, second
    finally:
        async with first.db.transaction() as conn:
            await conn.execute(text("DROP TABLE worker_test_runs"))
        await first.db.dispose()
        await second.db.dispose()


def counting_job(runner: str, running: asyncio.Event) -> PeriodicJob:
    async def run(services: Services) -> _Summary:
        async with services.db.transaction() as conn:
            await conn.execute(
                text("INSERT INTO worker_test_runs (runner, started_at) VALUES (:runner, :at)"),
                {"runner": runner, "at": services.clock.now()},
            )
        running.set()
        await asyncio.sleep(RUN_S)
        return _Summary()

    return PeriodicJob(JOB, "Records each run.", INTERVAL_S, run)


class _Summary:
    def summary(self) -> dict[str, object]:
        return {}


async def recorded_runs(services: Services) -> list[tuple[str, datetime]]:
    async with services.db.read() as conn:
        rows = await conn.execute(text("SELECT runner, started_at FROM worker_test_runs ORDER BY started_at"))
        return [(runner, at) for runner, at in rows]


async def job_run_row(services: Services) -> tuple[str, str]:
    async with services.db.read() as conn:
        row = (
            await conn.execute(text("SELECT runner, last_status FROM job_runs WHERE name = :n"), {"n": JOB})
        ).one()
        return row[0], row[1]


def assert_never_two_runs_in_one_interval(runs: list[tuple[str, datetime]]) -> None:
    starts = [at for _, at in runs]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap >= timedelta(seconds=INTERVAL_S) - SLACK for gap in gaps), gaps


async def test_two_workers_run_each_interval_once_and_hand_over_when_one_dies(
    postgres_services: tuple[Services, Services],
) -> None:
    a_services, b_services = postgres_services
    a_running, b_running = asyncio.Event(), asyncio.Event()
    a_stop, b_stop = asyncio.Event(), asyncio.Event()
    worker_a = asyncio.create_task(
        run_worker_forever(a_services, a_stop, jobs=[counting_job("a", a_running)], runner="worker-a")
    )
    worker_b = asyncio.create_task(
        run_worker_forever(b_services, b_stop, jobs=[counting_job("b", b_running)], runner="worker-b")
    )
    try:
        await asyncio.sleep(4 * INTERVAL_S)
        together = await recorded_runs(a_services)
        assert 3 <= len(together) <= 5, together  # one run per elapsed interval, not two
        assert_never_two_runs_in_one_interval(together)

        # Kill worker A in the middle of one of its runs (its row stays RUNNING, like a crash).
        a_running.clear()
        await asyncio.wait_for(a_running.wait(), timeout=10 * INTERVAL_S)
        worker_a.cancel()
        await asyncio.gather(worker_a, return_exceptions=True)
        assert await job_run_row(b_services) == ("worker-a", RUNNING)
        killed_at = len(await recorded_runs(b_services))

        await asyncio.sleep(3 * INTERVAL_S)
        runs = await recorded_runs(b_services)
        after = runs[killed_at:]
        assert [runner for runner, _ in after] == ["b"] * len(after)
        assert 2 <= len(after) <= 4, after  # B took over at the next due time and kept the pace
        assert_never_two_runs_in_one_interval(runs)
    finally:
        worker_a.cancel()
        a_stop.set()
        b_stop.set()
        await asyncio.wait_for(asyncio.gather(worker_a, worker_b, return_exceptions=True), timeout=10)
    runner, status = await job_run_row(b_services)
    assert runner == "worker-b" and status != RUNNING  # the graceful stop let B's run finish
