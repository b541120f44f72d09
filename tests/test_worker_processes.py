"""Two real `rodistaa worker` OS processes on one PostgreSQL database: each periodic job starts
at most once per interval across both, due bookings are auto-finalized exactly once, their
`booking.finalized` webhooks reach a loopback receiver exactly once, and SIGKILLing the process
that last ran `auto-finalize` hands every job to the survivor.

How it is observed, without timing assertions:

* Every job start is read from the workers' own JSON logs (`job_started`, one line per run,
  with its timestamp; stderr is line-buffered, so a killed process's lines are all there) and
  from `job_runs`, polled every 0.2 s (a 1-second job's row changes at most once a second).
  A double run shows as two starts of one job far closer than its interval.
* Bookings due before the kill are all finalized (and their webhooks delivered) before the
  kill, so a worker killed in the middle of a delivery cannot make a legitimate at-least-once
  redelivery look like a double. Bookings seeded after the kill can only be finalized by the
  survivor. A booking is made due only once its bids exist (a run in between would cancel it
  with NO_VALID_BIDS, correctly, and the test would be measuring its own seeding).
* Both processes must have started runs before the kill (they race for every due run), so
  the test really exercises two workers, not one leader and a bystander.
* The seeding app (in this process, `worker_in_process` off) shares the database and keys.

Durations bound only how long the test waits for outcomes (generous deadlines); the assertions
are on counts, owners and the order of recorded starts."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from rodistaa.bookings.tables import bookings
from rodistaa.db import migrate
from rodistaa.jobs.tables import job_runs
from rodistaa.settings import Settings
from tests.api.finalization_setup import (
    audit_for,
    bid_statuses,
    booking_row,
    outbox_for,
    seeded_market,
    shipment_rows,
)
from tests.api.flows import admin_session
from tests.conftest import (
    DEFAULT_BUNDLE,
    TEST_HMAC_KEY,
    TEST_JWT_SECRET,
    TEST_KMS_KEYS,
    TEST_STORAGE_DIR,
    Harness,
    make_settings,
    running_app,
)
from tests.databases import fresh_database, require_backend
from tests.webhooks.flows import register
from tests.webhooks.receiver import Receiver, running_receiver

INTERVAL_S = 1.0
FAST_JOBS = ("auto-finalize", "audit-checkpoint", "webhook-delivery")
# Every other job keeps its default interval (five minutes to a day): due once, at start-up.
ONCE_JOBS = (
    "acs-events-retention",
    "document-expiry",
    "expiry-notifications",
    "inspection-due",
    "no-ping-alerts",
)
TOGETHER_S = 8.0  # both workers running, before the kill
SURVIVOR_S = 5.0  # the survivor alone, after the kill
OUTCOME_DEADLINE_S = 30.0
POLL_S = 0.2
# job_runs stores the exact claim time, read from the same host clock by both processes.
STORED_SLACK = timedelta(milliseconds=5)
# A log line is stamped a little after its claim; a double run would be milliseconds apart.
LOGGED_MIN_GAP = timedelta(seconds=INTERVAL_S * 0.5)
BOOKINGS_BEFORE_KILL = 4
BOOKINGS_AFTER_KILL = 3

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    require_backend("postgres")
    with fresh_database("postgres", tmp_path) as url:
        migrate.upgrade(url)
        yield url


# --- the worker processes ------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    label: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_events(self) -> list[dict[str, object]]:
        events = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:  # a traceback line: kept in the file for the failure message
                continue
        return events

    def job_starts(self) -> list[tuple[str, datetime]]:
        return [
            (str(e["job"]), datetime.fromisoformat(str(e["ts"]).replace("Z", "+00:00")))
            for e in self.log_events()
            if e.get("event") == "job_started"
        ]

    def has_started(self) -> bool:
        return any(e.get("event") == "worker_started" for e in self.log_events())

    def stop(self, sig: signal.Signals) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=20)


def runner_pid(runner: str) -> int:
    """The pid in a `job_runs.runner` (`hostname:pid`)."""
    return int(runner.rsplit(":", 1)[1])


def worker_env(database_url: str) -> dict[str, str]:
    """The test settings of `make_settings`, as the environment of a real process; any
    `Settings` variable of the calling environment is dropped so it cannot leak in."""
    fields = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.upper() not in fields}
    env.update(
        {
            "ENV": "test",
            "DATABASE_URL": database_url,
            "JWT_KEYS": f"k1:{TEST_JWT_SECRET}",
            "JWT_ACTIVE_KID": "k1",
            "HMAC_KEY": TEST_HMAC_KEY,
            "OTP_DEV_ECHO": "false",
            "LOG_JSON": "true",
            "LOG_LEVEL": "INFO",
            "LOCAL_KMS_KEY_ID": "test-kms",
            "LOCAL_KMS_KEYS": TEST_KMS_KEYS,
            "ACS_BUNDLE_PATH": str(DEFAULT_BUNDLE),
            "ACS_WATCH_BUNDLE": "false",
            "STORAGE_LOCAL_DIR": str(TEST_STORAGE_DIR),
            "WORKER_INTERVALS": ",".join(f"{name}={INTERVAL_S:g}" for name in FAST_JOBS),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_worker(label: str, database_url: str, workdir: Path) -> WorkerProcess:
    log_path = workdir / f"worker-{label}.log"
    with log_path.open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "rodistaa.cli", "worker"],
            env=worker_env(database_url),
            cwd=workdir,  # no stray .env file is read
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return WorkerProcess(label, process, log_path)


# --- observing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredStart:
    job: str
    started_at: datetime
    runner: str


async def poll_job_runs(h: Harness, seen: set[StoredStart], stop: asyncio.Event) -> None:
    while not stop.is_set():
        async with h.app.state.services.db.read() as conn:
            rows = await conn.execute(select(job_runs.c.name, job_runs.c.last_started_at, job_runs.c.runner))
            seen.update(StoredStart(r.name, r.last_started_at, r.runner) for r in rows)
        await asyncio.sleep(POLL_S)


async def wait_until(condition: Callable[[], Awaitable[bool]], *, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + OUTCOME_DEADLINE_S
    while not await condition():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(POLL_S)


def finalized_and_delivered(
    h: Harness, receiver: Receiver, booking_ids: list[str]
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        for booking_id in booking_ids:
            if (await booking_row(h, booking_id))["status"] != "AUTO_FINALIZED":
                return False
        delivered = {r.event_id for r in receiver.requests}
        for booking_id in booking_ids:
            if not {e["id"] for e in await outbox_for(h, "booking.finalized", booking_id)} <= delivered:
                return False
        return True

    return check


async def seed_due_bookings(h: Harness, count: int) -> list[str]:
    """Bookings with two ACTIVE bids each, made due only once all their bids exist: a worker
    running meanwhile would otherwise cancel a due booking still waiting for its bids."""
    booking_ids = [(await seeded_market(h, [1_500_000, 1_400_000])).booking_id for _ in range(count)]
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            update(bookings)
            .where(bookings.c.id.in_(booking_ids))
            .values(auto_finalize_at=h.clock.now() - timedelta(minutes=1))
        )
    return booking_ids


def assert_spaced(starts: list[datetime], min_gap: timedelta, job: str) -> None:
    gaps = [later - earlier for earlier, later in itertools.pairwise(sorted(starts))]
    assert all(gap >= min_gap for gap in gaps), (job, gaps)


async def assert_finalized_and_delivered_once(h: Harness, receiver: Receiver, booking_ids: list[str]) -> None:
    """Each booking: AUTO_FINALIZED once (one shipment, one winner, one audit entry, one outbox
    event) and that event's webhook received exactly once; nothing else was delivered."""
    deliveries = Counter(r.event_id for r in receiver.requests)
    for booking_id in booking_ids:
        assert (await booking_row(h, booking_id))["status"] == "AUTO_FINALIZED"
        assert len(await shipment_rows(h, booking_id)) == 1
        assert len(await audit_for(h, booking_id, "booking.finalized")) == 1
        assert sorted((await bid_statuses(h, booking_id)).values()) == ["ACCEPTED", "REJECTED"]
        [event] = await outbox_for(h, "booking.finalized", booking_id)
        assert deliveries[event["id"]] == 1, deliveries
    assert sum(deliveries.values()) == len(booking_ids), deliveries


def assert_never_two_starts_in_one_interval(
    logged: list[tuple[str, datetime]], stored: set[StoredStart]
) -> None:
    for job in FAST_JOBS:
        starts = [at for name, at in logged if name == job]
        assert len(starts) >= (TOGETHER_S + SURVIVOR_S) / 2, (job, len(starts))  # it kept running
        assert_spaced(starts, LOGGED_MIN_GAP, job)
        exact = [s.started_at for s in stored if s.job == job]
        assert_spaced(exact, timedelta(seconds=INTERVAL_S) - STORED_SLACK, job)
    for job in ONCE_JOBS:  # due once, at start-up: started by exactly one of the two
        assert [name for name, _ in logged].count(job) == 1, job


async def job_runs_rows(h: Harness) -> dict[str, tuple[str, int]]:
    """The fast jobs' `job_runs` rows: name → (last status, runner's pid)."""
    async with h.app.state.services.db.read() as conn:
        rows = await conn.execute(select(job_runs.c.name, job_runs.c.last_status, job_runs.c.runner))
        return {r.name: (r.last_status, runner_pid(r.runner)) for r in rows if r.name in FAST_JOBS}


async def all_started(workers: list[WorkerProcess]) -> bool:
    for worker in workers:
        assert worker.process.poll() is None, worker.log_path.read_text()  # it exited: say why
    return all(w.has_started() for w in workers)


# --- the test ------------------------------------------------------------------------------------


async def test_two_worker_processes_run_each_job_once_per_interval_and_survive_a_kill(
    postgres_url: str, tmp_path: Path
) -> None:
    async with running_app(make_settings(postgres_url)) as h, running_receiver() as receiver:
        admin = await admin_session(h)
        await register(h, admin, receiver.url, ["booking.finalized"])
        before_kill = await seed_due_bookings(h, BOOKINGS_BEFORE_KILL)

        workers = [start_worker("a", postgres_url, tmp_path), start_worker("b", postgres_url, tmp_path)]
        stored: set[StoredStart] = set()
        stop_polling = asyncio.Event()
        poller = asyncio.create_task(poll_job_runs(h, stored, stop_polling))
        try:
            await wait_until(lambda: all_started(workers), what="both workers to start")
            await asyncio.sleep(TOGETHER_S)
            await wait_until(finalized_and_delivered(h, receiver, before_kill), what="the first bookings")

            # Kill the process that ran auto-finalize last: its leases die with its connections.
            last_run = max((s for s in stored if s.job == "auto-finalize"), key=lambda s: s.started_at)
            [leader] = [w for w in workers if w.process.pid == runner_pid(last_run.runner)]
            [survivor] = [w for w in workers if w is not leader]
            assert leader.stop(signal.SIGKILL) == -signal.SIGKILL
            killed_at = datetime.now(UTC)  # the host clock the workers stamp their claims with

            after_kill = await seed_due_bookings(h, BOOKINGS_AFTER_KILL)
            await asyncio.sleep(SURVIVOR_S)
            await wait_until(finalized_and_delivered(h, receiver, after_kill), what="the later bookings")
            assert survivor.stop(signal.SIGTERM) == 0, survivor.log_path.read_text()
        finally:
            stop_polling.set()
            await asyncio.gather(poller, return_exceptions=True)
            for worker in workers:
                if worker.process.poll() is None:
                    worker.stop(signal.SIGKILL)
        poller.result()  # a failed poll would leave `stored` incomplete: fail loudly instead

        await assert_finalized_and_delivered_once(h, receiver, before_kill + after_kill)
        assert_never_two_starts_in_one_interval(leader.job_starts() + survivor.job_starts(), stored)

        # Both processes shared the work before the kill; after it the survivor ran every fast
        # job, alone, at the job's pace.
        assert {runner_pid(s.runner) for s in stored if s.started_at < killed_at} == {
            leader.process.pid,
            survivor.process.pid,
        }
        for job in FAST_JOBS:
            later = [s for s in stored if s.job == job and s.started_at > killed_at]
            assert {runner_pid(s.runner) for s in later} == {survivor.process.pid}, (job, later)
            assert len(later) >= SURVIVOR_S - 2, (job, later)

        # SIGTERM let the survivor's last runs finish and record themselves.
        assert await job_runs_rows(h) == {job: ("SUCCEEDED", survivor.process.pid) for job in FAST_JOBS}
