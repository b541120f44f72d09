"""`make run`: with WORKER_IN_PROCESS the API process runs the periodic jobs itself."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from rodistaa.jobs.tables import job_runs
from tests.conftest import make_settings, running_app


async def test_the_api_process_runs_the_jobs_when_asked(clean_database: str) -> None:
    settings = make_settings(clean_database, worker_in_process=True)
    async with running_app(settings) as h:
        db = h.app.state.services.db
        names: set[str] = set()
        for _ in range(100):  # polls for the first runs; bounded, never a timing assertion
            async with db.read() as conn:
                names = set((await conn.execute(select(job_runs.c.name))).scalars())
            if {"auto-finalize", "audit-checkpoint"} <= names:
                break
            await asyncio.sleep(0.1)
    assert {"auto-finalize", "audit-checkpoint"} <= names


async def test_the_api_process_runs_no_jobs_by_default(clean_database: str) -> None:
    async with running_app(make_settings(clean_database)) as h:
        await asyncio.sleep(0.5)
        async with h.app.state.services.db.read() as conn:
            assert list((await conn.execute(select(job_runs.c.name))).scalars()) == []
