"""Due-ness, bookkeeping and the job lease (`jobs.leadership`) on both databases, with explicit
times: a job is due an interval after its last start, whoever started it, crashed or not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from rodistaa.db.engine import Database, create_engine
from rodistaa.jobs.leadership import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    Claim,
    claim_run,
    finish_run,
    leadership,
    lock_key,
)
from rodistaa.jobs.tables import job_runs

INTERVAL = timedelta(seconds=60)
T0 = datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
async def db(clean_database: str) -> AsyncIterator[Database]:
    database = Database(create_engine(clean_database))
    try:
        yield database
    finally:
        await database.dispose()


async def claim(db: Database, now: datetime, runner: str, name: str = "auto-finalize") -> Claim:
    return await claim_run(db, name, interval=INTERVAL, now=now, runner=runner)


async def row(db: Database, name: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        found = (await conn.execute(select(job_runs).where(job_runs.c.name == name))).mappings().first()
    return dict(found) if found else None


class TestDueness:
    async def test_the_first_claim_starts_a_run_and_records_it_as_running(self, db: Database) -> None:
        first = await claim(db, T0, "host-a:1")
        assert first.started_at == T0 and first.next_due_at == T0 + INTERVAL
        stored = await row(db, "auto-finalize")
        assert stored is not None
        assert stored["last_started_at"] == T0
        assert stored["last_status"] == RUNNING and stored["last_finished_at"] is None
        assert stored["runner"] == "host-a:1"

    async def test_a_job_is_not_due_until_a_whole_interval_after_its_last_start(self, db: Database) -> None:
        await claim(db, T0, "host-a:1")
        early = await claim(db, T0 + INTERVAL - timedelta(microseconds=1), "host-b:2")
        assert early.started_at is None and early.next_due_at == T0 + INTERVAL
        stored = await row(db, "auto-finalize")
        assert stored is not None and (stored["last_started_at"], stored["runner"]) == (T0, "host-a:1")

        on_time = await claim(db, T0 + INTERVAL, "host-b:2")
        assert on_time.started_at == T0 + INTERVAL
        stored = await row(db, "auto-finalize")
        assert stored is not None
        assert (stored["last_started_at"], stored["runner"]) == (T0 + INTERVAL, "host-b:2")

    async def test_jobs_are_due_independently(self, db: Database) -> None:
        await claim(db, T0, "a")
        other = await claim(db, T0, "a", name="no-ping-alerts")
        assert other.started_at == T0

    async def test_a_finished_run_records_its_status_and_summary(self, db: Database) -> None:
        await claim(db, T0, "a")
        end = T0 + timedelta(seconds=3)
        summary: dict[str, object] = {"finalized": 2}
        assert await finish_run(
            db, "auto-finalize", started_at=T0, runner="a", now=end, status=SUCCEEDED, summary=summary
        )
        stored = await row(db, "auto-finalize")
        assert stored is not None
        assert (stored["last_status"], stored["last_finished_at"]) == (SUCCEEDED, end)
        assert json.loads(stored["last_summary"]) == {"finalized": 2}

    async def test_a_crash_mid_run_leaves_running_and_the_interval_still_applies(self, db: Database) -> None:
        await claim(db, T0, "dead:1")  # never finishes
        stored = await row(db, "auto-finalize")
        assert stored is not None and stored["last_status"] == RUNNING

        successor = await claim(db, T0 + timedelta(seconds=59), "alive:2")
        assert successor.started_at is None and successor.next_due_at == T0 + INTERVAL
        later = await claim(db, T0 + INTERVAL, "alive:2")
        assert later.started_at == T0 + INTERVAL

    async def test_a_late_finish_of_a_replaced_run_changes_nothing(self, db: Database) -> None:
        await claim(db, T0, "slow:1")
        await claim(db, T0 + INTERVAL, "fast:2")
        assert not await finish_run(
            db,
            "auto-finalize",
            started_at=T0,
            runner="slow:1",
            now=T0 + 2 * INTERVAL,
            status=FAILED,
            summary={"error": "X"},
        )
        stored = await row(db, "auto-finalize")
        assert stored is not None
        assert (stored["last_status"], stored["runner"], stored["last_summary"]) == (RUNNING, "fast:2", None)

    async def test_concurrent_claims_at_the_same_time_start_one_run(self, db: Database) -> None:
        for start in (T0, T0 + INTERVAL):  # first the insert, then the conditional update
            claims = await asyncio.gather(*(claim(db, start, f"r{i}") for i in range(8)))
            assert sum(c.started_at is not None for c in claims) == 1
            assert all(c.next_due_at == start + INTERVAL for c in claims)


class TestLease:
    async def test_only_one_holder_at_a_time_and_released_after(self, db: Database) -> None:
        async with leadership(db, "auto-finalize") as first:
            assert first
            async with leadership(db, "auto-finalize") as second:
                assert not second
            async with leadership(db, "no-ping-alerts") as other_job:
                assert other_job
        async with leadership(db, "auto-finalize") as again:
            assert again

    async def test_an_exception_in_the_run_releases_the_lease(self, db: Database) -> None:
        async def fail_while_holding() -> None:
            async with leadership(db, "auto-finalize") as held:
                assert held
                raise RuntimeError("job failed")

        with pytest.raises(RuntimeError):
            await fail_while_holding()
        async with leadership(db, "auto-finalize") as again:
            assert again

    async def test_postgres_a_lost_connection_releases_the_lease(self, db: Database) -> None:
        if db.is_sqlite:
            pytest.skip("SQLite has no advisory locks: the one process is the leader")
        async with leadership(db, "auto-finalize") as held:
            assert held
            async with db.engine.connect() as admin:
                key = func.hashtext(lock_key("auto-finalize"))
                pid_query = text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND objid = (SELECT hashtext(:key)::oid)"
                )
                pids = list((await admin.execute(pid_query, {"key": lock_key("auto-finalize")})).scalars())
                assert len(pids) == 1
                await admin.execute(select(func.pg_terminate_backend(pids[0])))
                await admin.commit()
                for _ in range(50):  # the server ends the session asynchronously
                    taken = (await admin.execute(select(func.pg_try_advisory_lock(key)))).scalar_one()
                    if taken:
                        break
                    await asyncio.sleep(0.05)
                assert taken
                await admin.execute(select(func.pg_advisory_unlock(key)))
                await admin.commit()
        # The broken holder was thrown away, not returned to the pool holding anything.
        async with leadership(db, "auto-finalize") as again:
            assert again

    async def test_postgres_a_cancelled_run_releases_the_lease(self, db: Database) -> None:
        started = asyncio.Event()

        async def hold_forever() -> None:
            async with leadership(db, "auto-finalize") as held:
                assert held
                started.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(hold_forever())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with leadership(db, "auto-finalize") as again:
            assert again
