"""Async engine for SQLite (embedded default) and PostgreSQL, and the transaction helper.

The use case owns the transaction: routers open one with `Database.transaction()`, services
and repositories receive the connection and never commit. Commit happens when the block ends,
before the response is built, so a failed commit surfaces as a 5xx instead of a lost write.

Metrics (docs/observability.md): a `Database` counts its pool's capacity into `db_pool_size`
while it lives and every checked-out connection into `db_pool_connections_in_use`, from pool
events, so the gauges are right in multiprocess mode too (a scrape cannot read another worker's
pool). Failed connects are counted in `do_connect`, failed statements in `handle_error`.

Round trips (docs/performance.md): on asyncpg every statement, BEGIN and COMMIT is one network
round trip, so the helpers below avoid the ones that buy nothing. A pooled connection is checked
for liveness at checkout with one `SELECT 1` (`ping_on_checkout`) instead of SQLAlchemy's
`pool_pre_ping`, which on asyncpg wraps its `;` in BEGIN ... ROLLBACK (three round trips per
checkout, several checkouts per request). The guarantee is the same: a connection the server
dropped (restart, failover, `pg_terminate_backend`) is replaced before any statement of the
request uses it, so the request does not fail. Read-only units of work run in autocommit on
PostgreSQL (`Database.read`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from rodistaa.ops.metrics import DB_CONNECTION_ERRORS, DB_POOL_IN_USE, DB_POOL_SIZE, DB_QUERY_ERRORS

SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_engine(database_url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(database_url)
    engine = create_async_engine(
        database_url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800
    )
    event.listen(engine.sync_engine, "checkout", ping_on_checkout)
    return engine


def ping_on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Check a pooled asyncpg connection with one `SELECT 1` (simple query protocol: one round trip,
    no transaction). A connection that fails it is discarded and the pool hands out another
    (`DisconnectionError` makes it reconnect, up to three attempts), as `pool_pre_ping` would;
    a database that cannot be reached fails the connect, which `_connect_counted` counts."""
    try:
        dbapi_connection.run_async(lambda raw: raw.execute("SELECT 1"))
    except Exception as exc:
        raise DisconnectionError("pooled connection failed its liveness check") from exc


def _create_sqlite_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(database_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        # writes can fail with SQLITE_BUSY instead of waiting when another writer is active.
        mode = "DEFERRED" if conn.get_execution_options().get("readonly") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _count_error(context: ExceptionContext) -> None:
    """`handle_error` on a connection in use: a lost connection is a connection error, any other
    database error a query error, except constraint violations, which the services turn into
    409s by design (a duplicate bid is not an incident). A pre-ping failure only finds a stale
    pooled connection, which is replaced; failed connects are counted in `_connect_counted`."""
    if context.is_pre_ping or context.connection is None:
        return
    if not isinstance(context.original_exception, Exception):
        return  # cancellation and interpreter exit are not database failures
    if context.is_disconnect:
        DB_CONNECTION_ERRORS.inc()
    elif context.sqlalchemy_exception is not None and not isinstance(
        context.sqlalchemy_exception, IntegrityError
    ):
        DB_QUERY_ERRORS.inc()


def _connect_counted(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
    """`do_connect`: make the connection here so every failure counts, whatever it raises (a
    refused connect is an OSError to asyncpg, never reaching `handle_error`)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except Exception:
        DB_CONNECTION_ERRORS.inc()
        raise


def _watch_pool(engine: AsyncEngine) -> int:
    """Count `engine`'s checked-out connections into the pool gauges; returns the pool's
    capacity (size plus overflow; 0 for a pool without a fixed size)."""
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "handle_error", _count_error)
    event.listen(sync_engine, "do_connect", _connect_counted)
    # Listening on the engine, not its pool: the listeners follow the pool when dispose()
    # replaces it, and connections checked out before that still check in to the old one.
    event.listen(sync_engine, "checkout", lambda *_: DB_POOL_IN_USE.inc())
    event.listen(sync_engine, "checkin", lambda *_: DB_POOL_IN_USE.dec())
    # A detached connection leaves the pool for good: it never checks in.
    event.listen(sync_engine, "detach", lambda *_: DB_POOL_IN_USE.dec())
    pool = sync_engine.pool
    capacity = pool.size() + max(pool._max_overflow, 0) if isinstance(pool, QueuePool) else 0
    DB_POOL_SIZE.inc(capacity)
    return capacity


class Database:
    """Owns the engine; hands out transactions (writes) and read-only connections. Counted in
    the pool metrics from construction until `dispose()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._pool_capacity = _watch_pool(engine)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One use case: commits when the block exits normally, rolls back on any exception."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only unit of work (no write lock on SQLite).

        PostgreSQL runs it in autocommit: under READ COMMITTED every statement takes its own
        snapshot whether or not a transaction wraps them, so BEGIN and COMMIT would only cost
        two round trips. (A reader that needs one snapshot across statements opens its own
        REPEATABLE READ transaction, as the audit export does.) SQLite keeps its deferred
        transaction: it is local, and it holds one WAL snapshot for the whole read."""
        async with self.engine.connect() as conn:
            options: dict[str, Any] = {"readonly": True}
            if not self.is_sqlite:
                options["isolation_level"] = "AUTOCOMMIT"
            conn = await conn.execution_options(**options)
            async with conn.begin():
                yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()
        DB_POOL_SIZE.dec(self._pool_capacity)
        self._pool_capacity = 0  # a second dispose() must not count the pool out twice
