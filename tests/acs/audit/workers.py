"""Code run in child processes by the concurrency tests (spawned: no state shared with the
parent but the database)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from rodistaa.acs.audit import AuditEntryDraft, append_standalone
from rodistaa.db.engine import Database, create_engine


def append_many(url: str, worker: int, total: int, batch: int, barrier: Barrier, results: Queue[Any]) -> None:
    """Append `total` entries, `batch` at a time concurrently, after every worker is ready."""
    try:
        seqs = asyncio.run(_append_many(url, worker, total, batch, barrier))
        results.put((worker, seqs, None))
    except BaseException as exc:
        results.put((worker, [], repr(exc)))
        raise


async def _append_many(url: str, worker: int, total: int, batch: int, barrier: Barrier) -> list[int]:
    db = Database(create_engine(url, pool_size=batch, max_overflow=0))
    try:
        # Open the pool before the start line so that every worker starts appending at once.
        await asyncio.gather(*(_touch(db) for _ in range(batch)))
        await asyncio.to_thread(barrier.wait, 60)
        seqs: list[int] = []
        for start in range(0, total, batch):
            drafts = [_draft(worker, n) for n in range(start, min(start + batch, total))]
            now = datetime.now(UTC)
            entries = await asyncio.gather(*(append_standalone(db, d, now=now) for d in drafts))
            seqs.extend(e.seq for e in entries)
        return seqs
    finally:
        await db.dispose()


async def _touch(db: Database) -> None:
    async with db.read() as conn:
        await conn.exec_driver_sql("SELECT 1")
        await asyncio.sleep(0.05)


def _draft(worker: int, n: int) -> AuditEntryDraft:
    return AuditEntryDraft(
        actor=f"system:worker-{worker}",
        action="test.append",
        entity_type="test",
        entity_id=f"W{worker}-{n}",
        data={"worker": worker, "n": n},
    )
