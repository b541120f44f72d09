"""Queues for humans that ACS rules and services both feed: the watchlist (one entry per
entity, reasons accumulate) and team tickets."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.tables import acs_watchlist
from rodistaa.core.ids import new_id


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def flag_watchlist(
    conn: AsyncConnection, *, entity_type: str, entity_id: str, reason: str, now: datetime
) -> None:
    """One watchlist entry per entity with accumulating reasons. The row is locked on
    PostgreSQL, and SQLite's write transaction excludes other writers, so a concurrent flag
    never loses a reason."""
    query = select(acs_watchlist.c.id, acs_watchlist.c.reasons).where(
        acs_watchlist.c.entity_type == entity_type, acs_watchlist.c.entity_id == entity_id
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        created = await conn.execute(
            insert(acs_watchlist)
            .values(
                id=new_id("WCH"),
                entity_type=entity_type,
                entity_id=entity_id,
                reasons=_json([reason]),
                hits=1,
                first_flagged_at=now,
                last_flagged_at=now,
            )
            .on_conflict_do_nothing()
        )
        if created.rowcount == 1:
            return
        row = (await conn.execute(query)).first()  # another transaction created it meanwhile
        assert row is not None
    reasons = json.loads(row.reasons)
    if reason not in reasons:
        reasons.append(reason)
    await conn.execute(
        update(acs_watchlist)
        .where(acs_watchlist.c.id == row.id)
        .values(reasons=_json(reasons), hits=acs_watchlist.c.hits + 1, last_flagged_at=now)
    )
