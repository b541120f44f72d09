"""Which instance runs a job now, and whether the job is due: the two guards that make each
periodic job run once per interval however many workers there are.

* Mutual exclusion (PostgreSQL): a session-level `pg_try_advisory_lock(hashtext('rodistaa:job:
  <name>'))` taken without waiting on a connection of its own, in autocommit (no transaction is
  held open for the length of the run), released when the run ends. If the worker dies or its
  connection is lost, the server releases the lock. A connection whose unlock did not happen
  (cancelled, broken) is invalidated, never handed back to the pool still holding the lock. A
  holder whose connection is lost mid-run finishes its run while another instance may take the
  lock: the due-ness check below keeps that instance from starting the job again within the
  interval.
  SQLite: one process owns an embedded database, so it is the leader; a per-process set of the
  jobs running keeps two workers of that process from overlapping.
* Due-ness (both databases): `job_runs.last_started_at` decides, read and written in one short
  write transaction under the lock: a job is due when `now - last_started_at >= interval`, and
  the claim is a conditional write (insert if absent, else update only while the stored start is
  still at or before `now - interval`), so even two claimers that somehow both hold "the lock"
  cannot start twice in one interval. A new leader therefore never re-runs what the previous
  leader started less than an interval ago.
* Bookkeeping: the claim stores `last_started_at`, status RUNNING and the runner
  (`hostname:pid`) and commits before the job runs; the end stores `last_finished_at`, SUCCEEDED
  or FAILED and the summary, only if the row still describes this run. A crash mid-run leaves
  RUNNING, and the next start is still one interval after the crashed one.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.db.engine import Database
from rodistaa.jobs.tables import job_runs

log = structlog.get_logger("rodistaa.worker")

RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
SUMMARY_MAX_CHARS = 4000

_RUNNING_HERE: set[str] = set()


def default_runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


def lock_key(name: str) -> str:
    return f"rodistaa:job:{name}"


@asynccontextmanager
async def leadership(db: Database, name: str) -> AsyncIterator[bool]:
    """Yields whether this instance holds the job's lock (and so may run it) until the block
    ends; False while another instance (or worker of this process) runs it."""
    if db.is_sqlite:
        if name in _RUNNING_HERE:
            yield False
            return
        _RUNNING_HERE.add(name)
        try:
            yield True
        finally:
            _RUNNING_HERE.discard(name)
        return
    async with _advisory_lock(db, name) as held:
        yield held


@asynccontextmanager
async def _advisory_lock(db: Database, name: str) -> AsyncIterator[bool]:
    key = func.hashtext(lock_key(name))
    raw = await db.engine.connect()
    try:
        conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
        held = bool((await conn.execute(select(func.pg_try_advisory_lock(key)))).scalar_one())
    except BaseException:
        await raw.invalidate()  # the lock may be held by a connection we can no longer trust
        await raw.close()
        raise
    if not held:
        await raw.close()
        yield False
        return
    try:
        yield True
    finally:
        await _release(raw, key)


async def _release(raw: AsyncConnection, key: object) -> None:
    """Unlock and return the connection; if the unlock cannot be confirmed, throw the connection
    away (closing it ends the session, which releases the lock on the server)."""
    try:
        released = bool((await raw.execute(select(func.pg_advisory_unlock(key)))).scalar_one())
    except Exception as exc:  # the connection broke during the run: its session, lock included, is gone
        log.warning("job_lease_connection_lost", error=type(exc).__name__)
        await raw.invalidate()
        await raw.close()
        return
    except BaseException:  # cancelled while unlocking
        await raw.invalidate()
        await raw.close()
        raise
    if not released:
        await raw.invalidate()
    await raw.close()


@dataclass(frozen=True)
class Claim:
    """The outcome of asking to start a run: `started_at` is set when this caller claimed it;
    `next_due_at` is when the job is next due either way."""

    started_at: datetime | None
    next_due_at: datetime


def _insert(conn: AsyncConnection):  # type: ignore[no-untyped-def]
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


async def claim_run(db: Database, name: str, *, interval: timedelta, now: datetime, runner: str) -> Claim:
    """Start a run of `name` if it is due at `now` (see the module docstring), committed before
    the caller runs the job."""
    async with db.transaction() as conn:
        last = (
            await conn.execute(select(job_runs.c.last_started_at).where(job_runs.c.name == name))
        ).scalar_one_or_none()
        if last is not None and now - last < interval:
            return Claim(None, last + interval)
        exists = last is not None
        claimed = await _write_start(conn, name, interval=interval, now=now, runner=runner, exists=exists)
    if not claimed:  # another claimer got there between our read and our write
        return Claim(None, now + interval)
    return Claim(now, now + interval)


async def _write_start(
    conn: AsyncConnection, name: str, *, interval: timedelta, now: datetime, runner: str, exists: bool
) -> bool:
    values = {"last_started_at": now, "last_finished_at": None, "last_status": RUNNING, "last_summary": None}
    if not exists:
        stmt = _insert(conn)(job_runs).values(name=name, runner=runner, **values)
        result = await conn.execute(stmt.on_conflict_do_nothing(index_elements=[job_runs.c.name]))
    else:
        result = await conn.execute(
            update(job_runs)
            .where(job_runs.c.name == name, job_runs.c.last_started_at <= now - interval)
            .values(runner=runner, **values)
        )
    return result.rowcount == 1


async def finish_run(
    db: Database,
    name: str,
    *,
    started_at: datetime,
    runner: str,
    now: datetime,
    status: str,
    summary: dict[str, object],
) -> bool:
    """Record the end of the run that started at `started_at`; False if a later run has
    replaced it since (its record is left alone)."""
    text = json.dumps(summary, sort_keys=True, default=str)
    if len(text) > SUMMARY_MAX_CHARS:
        text = json.dumps({"truncated": True, "head": text[: SUMMARY_MAX_CHARS - 100]})
    async with db.transaction() as conn:
        result = await conn.execute(
            update(job_runs)
            .where(
                and_(
                    job_runs.c.name == name,
                    job_runs.c.last_started_at == started_at,
                    job_runs.c.runner == runner,
                )
            )
            .values(last_finished_at=now, last_status=status, last_summary=text)
        )
    return result.rowcount == 1
