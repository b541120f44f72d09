"""The pool's liveness check (`rodistaa.db.engine.ping_on_checkout`): one round trip per checkout
instead of `pool_pre_ping`'s three, with the same promise (docs/runbooks/database.md): pooled
connections the server dropped are replaced before a request uses them, so killing every
backend of the application fails no request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text

from rodistaa.db.engine import Database, create_engine
from tests.perf.counting import counting, ping_round_trips


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the liveness ping is PostgreSQL's (SQLite has no connection to lose)")
    database = Database(create_engine(database_url, pool_size=3, max_overflow=0))
    try:
        yield database
    finally:
        await database.dispose()


async def _pool_pids(db: Database) -> set[int]:
    """Open three pooled connections at once and return their server pids."""
    all_open = asyncio.Event()
    pids: set[int] = set()

    async def hold() -> None:
        async with db.read() as conn:
            pids.add((await conn.execute(select(func.pg_backend_pid()))).scalar_one())
            if len(pids) == 3:
                all_open.set()
            await all_open.wait()

    await asyncio.gather(*(hold() for _ in range(3)))
    return pids


async def test_a_checkout_costs_one_round_trip_and_no_transaction(db: Database) -> None:
    assert ping_round_trips(db.engine) == 1
    assert not db.engine.sync_engine.pool._pre_ping
    with counting(db.engine) as counts:
        async with db.read() as conn:
            await conn.execute(select(1))
    assert (counts.checkouts, counts.statements, counts.transactions) == (1, 1, 0)


async def test_connections_killed_by_the_server_are_replaced_before_use(db: Database) -> None:
    pids = await _pool_pids(db)
    admin = create_engine(db.engine.url.render_as_string(hide_password=False))
    try:
        async with admin.connect() as conn:
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await conn.commit()
    finally:
        await admin.dispose()
    await asyncio.sleep(0.2)  # the server ends the sessions asynchronously
    for _ in range(3):  # every pooled connection is dead: each checkout must replace its own
        async with db.transaction() as conn:
            pid = (await conn.execute(select(func.pg_backend_pid()))).scalar_one()
        assert pid not in pids
