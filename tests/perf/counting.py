"""Counting what one request costs the database: SQL statements, and the network round trips
they take on PostgreSQL (asyncpg), from SQLAlchemy's engine and pool events.

On asyncpg every statement is one round trip, and so are a transaction's BEGIN (sent lazily
with its first statement) and its COMMIT or ROLLBACK; a pool checkout costs the liveness ping
(`rodistaa.db.engine`). SQLite's BEGIN is a statement of its own on the same connection (no
network): it is counted as a transaction, not as a statement, so both backends count the same
work the same way. Only the work of the task that opened the count is counted (an in-process
request runs in it), not the app's background tasks (the ACS bundle poller, jobs)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class Counts:
    statements: int = 0
    transactions: int = 0  # BEGIN ... COMMIT/ROLLBACK pairs that sent at least one statement
    checkouts: int = 0
    pings: int = 0  # liveness checks at checkout (one round trip each on PostgreSQL)
    sql: list[str] = field(default_factory=list)
    _open: set[int] = field(default_factory=set)  # connections whose BEGIN went out

    @property
    def round_trips(self) -> int:
        return self.statements + 2 * self.transactions + self.pings


def ping_round_trips(engine: AsyncEngine) -> int:
    """Round trips of the liveness check made at each checkout: SQLAlchemy's `pool_pre_ping`
    on asyncpg wraps its `;` in BEGIN ... ROLLBACK (three); the engine's own ping sends `SELECT 1`
    alone (one, `rodistaa.db.engine.ping_on_checkout`); SQLite has none."""
    if engine.dialect.name == "sqlite":
        return 0
    if engine.sync_engine.pool._pre_ping:
        return 3
    from rodistaa.db import engine as db_engine

    own_ping = getattr(db_engine, "ping_on_checkout", None)
    return 1 if own_ping is not None and event.contains(engine.sync_engine, "checkout", own_ping) else 0


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[Counts]:
    """Count everything `engine` does inside the block."""
    sync_engine = engine.sync_engine
    counts = Counts()
    ping = ping_round_trips(engine)
    task = asyncio.current_task()

    def ours() -> bool:
        try:
            return asyncio.current_task() is task
        except RuntimeError:  # no running loop: not the request's work
            return False

    def before_cursor_execute(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if not ours() or statement.lstrip().upper().startswith("BEGIN"):
            return  # SQLite's explicit BEGIN: the transaction is counted below
        counts.statements += 1
        counts.sql.append(" ".join(statement.split())[:160])
        autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        if conn.in_transaction() and not autocommit and id(conn) not in counts._open:
            counts._open.add(id(conn))
            counts.transactions += 1

    def end(conn: Connection) -> None:
        counts._open.discard(id(conn))

    def checkout(*_: Any) -> None:
        if not ours():
            return
        counts.checkouts += 1
        counts.pings += ping

    listeners = [
        ("before_cursor_execute", before_cursor_execute),
        ("commit", end),
        ("rollback", end),
        ("checkout", checkout),
    ]
    for name, fn in listeners:
        event.listen(sync_engine, name, fn)
    try:
        yield counts
    finally:
        for name, fn in listeners:
            event.remove(sync_engine, name, fn)
