"""The enforcement queries later domains call before letting something move."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from rodistaa.acs import enforcement
from rodistaa.acs.tables import acs_blocks, acs_shipment_freezes, acs_suspensions
from rodistaa.db.engine import Database, create_engine

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(clean_database: str) -> AsyncIterator[Database]:
    database = Database(create_engine(clean_database))
    try:
        yield database
    finally:
        await database.dispose()


async def insert(db: Database, table, **values) -> None:  # type: ignore[no-untyped-def]
    async with db.transaction() as conn:
        await conn.execute(table.insert().values(**values))


def block(block_id: str, entity_type: str, entity_id: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "id": block_id,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "reason": "R",
        "severity": "high",
        "source": "ACS",
        "created_at": NOW - timedelta(hours=1),
        **extra,
    }


async def test_blocks_respect_expiry_and_lifting(db: Database) -> None:
    await insert(db, acs_blocks, **block("B1", "truck", "TRK-1", expires_at=NOW + timedelta(minutes=1)))
    await insert(db, acs_blocks, **block("B2", "truck", "TRK-2", expires_at=NOW))
    await insert(db, acs_blocks, **block("B3", "truck", "TRK-3", lifted_at=NOW - timedelta(minutes=1)))
    await insert(db, acs_blocks, **block("B4", "device", "TRK-4"))
    async with db.read() as conn:
        assert await enforcement.is_blocked(conn, "truck", "TRK-1", NOW)
        assert not await enforcement.is_blocked(conn, "truck", "TRK-1", NOW + timedelta(minutes=1))
        assert not await enforcement.is_blocked(conn, "truck", "TRK-2", NOW)  # expired exactly now
        assert not await enforcement.is_blocked(conn, "truck", "TRK-3", NOW)  # lifted
        assert not await enforcement.is_blocked(conn, "truck", "TRK-4", NOW)  # another entity type
        assert [b.id for b in await enforcement.active_blocks(conn, "truck", "TRK-1", NOW)] == ["B1"]


async def test_a_person_is_blocked_under_any_person_type(db: Database) -> None:
    await insert(db, acs_blocks, **block("B1", "operator", "USR-OP-1"))
    async with db.read() as conn:
        for entity_type in ("user", "operator", "driver"):
            assert await enforcement.is_blocked(conn, entity_type, "USR-OP-1", NOW)


async def test_freeze_until_lifted(db: Database) -> None:
    await insert(db, acs_shipment_freezes, id="F1", shipment_id="SH-1", reason="GPS_JUMP", created_at=NOW)
    await insert(
        db, acs_shipment_freezes, id="F2", shipment_id="SH-2", reason="X", created_at=NOW, lifted_at=NOW
    )
    async with db.read() as conn:
        assert await enforcement.active_freeze(conn, "SH-1") == "GPS_JUMP"
        assert await enforcement.active_freeze(conn, "SH-2") is None
        assert await enforcement.active_freeze(conn, "SH-3") is None


async def test_suspension_until_its_end(db: Database) -> None:
    until = NOW + timedelta(days=30)
    await insert(
        db,
        acs_suspensions,
        id="S1",
        account_id="USR-OP-1",
        reason="COLLUSION",
        severity="critical",
        created_at=NOW,
        until=until,
    )
    async with db.read() as conn:
        assert await enforcement.active_suspension(conn, "USR-OP-1", NOW) == until
        assert await enforcement.active_suspension(conn, "USR-OP-1", until) is None
        assert await enforcement.active_suspension(conn, "USR-OP-2", NOW) is None
