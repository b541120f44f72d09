"""Appends from several processes, each with its own engine and concurrent appends inside:
one chain, gapless seq, no shared prevHash, and a chain that verifies."""

from __future__ import annotations

import itertools
import multiprocessing
import time
from typing import Any

import pytest

from rodistaa.acs.audit import verify_chain
from rodistaa.db.engine import Database
from rodistaa.security.kms import LocalKms
from tests.acs.audit.helpers import rows
from tests.acs.audit.workers import append_many


def _run_workers(url: str, *, processes: int, per_process: int, batch: int) -> dict[int, list[int]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results: Any = context.Queue()
    workers = [
        context.Process(target=append_many, args=(url, worker, per_process, batch, barrier, results))
        for worker in range(processes)
    ]
    for process in workers:
        process.start()
    try:
        collected = [results.get(timeout=180) for _ in workers]
    finally:
        for process in workers:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    errors = [error for _, _, error in collected if error]
    assert not errors, errors
    assert all(process.exitcode == 0 for process in workers)
    return {worker: seqs for worker, seqs, _ in collected}


async def _assert_one_gapless_chain(
    db: Database, kms: LocalKms, by_worker: dict[int, list[int]], total: int
) -> None:
    stored = await rows(db)
    assert [row["seq"] for row in stored] == list(range(1, total + 1))
    assert len({row["prev_hash"] for row in stored}) == total
    assert len({row["hash"] for row in stored}) == total
    assert sorted(seq for seqs in by_worker.values() for seq in seqs) == list(range(1, total + 1))
    # The workers really raced: their entries interleave rather than forming one block each.
    owner = [row["actor"] for row in stored]
    switches = sum(1 for a, b in itertools.pairwise(owner) if a != b)
    assert switches > len(by_worker), f"appends did not interleave ({switches} switches)"
    report = await verify_chain(db, kms)
    assert report.ok, report
    assert report.count == total


@pytest.mark.postgres_only
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_four_processes_append_1000_entries_on_postgres(
    audit_url: str, db: Database, kms: LocalKms
) -> None:
    started = time.perf_counter()
    by_worker = _run_workers(audit_url, processes=4, per_process=250, batch=10)
    assert {worker: len(seqs) for worker, seqs in by_worker.items()} == {0: 250, 1: 250, 2: 250, 3: 250}
    await _assert_one_gapless_chain(db, kms, by_worker, 1000)
    assert time.perf_counter() - started < 120


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_two_processes_append_on_sqlite(audit_url: str, db: Database, kms: LocalKms) -> None:
    by_worker = _run_workers(audit_url, processes=2, per_process=50, batch=5)
    assert {worker: len(seqs) for worker, seqs in by_worker.items()} == {0: 50, 1: 50}
    await _assert_one_gapless_chain(db, kms, by_worker, 100)
