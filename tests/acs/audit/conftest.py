"""Fixtures for the audit chain: a fresh migrated database per test on each backend (every
test starts with an empty chain: the audit tables refuse DELETE, so nothing can empty them),
a local KMS, a clock, and a way for a test to tamper with the tables as an attacker would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.db import migrate
from rodistaa.db.engine import Database, create_engine
from rodistaa.security.kms import LocalKms
from tests.databases import BACKENDS, fresh_database, require_backend

KMS_V1 = bytes(range(32))
KMS_V2 = bytes(range(64, 96))
AUDIT_TABLES = ("audit_log", "audit_checkpoints", "audit_head")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    require_backend(request.param)
    return str(request.param)


@pytest.fixture
def audit_url(backend: str, tmp_path: Path) -> Iterator[str]:
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
async def db(audit_url: str) -> AsyncIterator[Database]:
    database = Database(create_engine(audit_url))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def kms() -> LocalKms:
    return LocalKms("test-kms", {1: KMS_V1})


class StepClock:
    """Each call returns a later instant (1 ms apart), starting at a fixed time."""

    def __init__(self) -> None:
        self.current = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@asynccontextmanager
async def tampering(db: Database) -> AsyncIterator[AsyncConnection]:
    """A transaction in which the append-only triggers are off, as for an attacker with full
    database access. PostgreSQL: ALTER TABLE ... DISABLE TRIGGER USER inside the transaction
    (other sessions never see them disabled); SQLite: the triggers are dropped and recreated
    from their stored SQL before commit."""
    async with db.transaction() as conn:
        if conn.dialect.name == "postgresql":
            for table in AUDIT_TABLES:
                await conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            yield conn
            for table in AUDIT_TABLES:
                await conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        else:
            rows = await conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
            triggers = [(str(row.name), str(row.sql)) for row in rows]
            assert triggers, "the migration created no triggers"
            for name, _ in triggers:
                await conn.execute(text(f'DROP TRIGGER "{name}"'))
            yield conn
            for _, sql in triggers:
                await conn.execute(text(sql))
