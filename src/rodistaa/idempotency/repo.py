"""All SQL of idempotent requests: the claim of a key, the stored response, the release of a
claim whose request failed, and the purge of expired records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.idempotency.tables import idempotency_records

PATH_MAX_LENGTH = 512


class RecordState(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


@dataclass(frozen=True)
class IdempotencyRecord:
    id: str
    principal: str
    request_hash: str
    state: RecordState
    response_status: int | None
    response_headers: dict[str, str]
    response_body_ciphertext: str | None
    expires_at: datetime


@dataclass(frozen=True)
class NewClaim:
    id: str
    principal: str
    idempotency_key: str
    method: str
    path: str
    request_hash: str
    created_at: datetime
    expires_at: datetime


def _record(row: Any) -> IdempotencyRecord:
    return IdempotencyRecord(
        id=row.id,
        principal=row.principal,
        request_hash=row.request_hash,
        state=RecordState(row.state),
        response_status=row.response_status,
        response_headers=json.loads(row.response_headers) if row.response_headers else {},
        response_body_ciphertext=row.response_body_ciphertext,
        expires_at=row.expires_at,
    )


async def get(conn: AsyncConnection, principal: str, idempotency_key: str) -> IdempotencyRecord | None:
    row = (
        await conn.execute(
            select(idempotency_records).where(
                idempotency_records.c.principal == principal,
                idempotency_records.c.idempotency_key == idempotency_key,
            )
        )
    ).first()
    return _record(row) if row is not None else None


async def insert_claim(conn: AsyncConnection, claim: NewClaim) -> bool:
    """An IN_PROGRESS row for (principal, key); False when another request holds the pair. The
    unique constraint settles two instances claiming at once: one insert wins, the other does
    nothing (on PostgreSQL it waits for the winner's transaction, then sees its row)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    result = await conn.execute(
        insert(idempotency_records)
        .values(
            id=claim.id,
            principal=claim.principal,
            idempotency_key=claim.idempotency_key,
            method=claim.method,
            path=claim.path[:PATH_MAX_LENGTH],
            request_hash=claim.request_hash,
            state=RecordState.IN_PROGRESS.value,
            created_at=claim.created_at,
            expires_at=claim.expires_at,
        )
        .on_conflict_do_nothing(
            index_elements=[idempotency_records.c.principal, idempotency_records.c.idempotency_key]
        )
    )
    return result.rowcount == 1


async def delete_expired(conn: AsyncConnection, record_id: str, *, now: datetime) -> bool:
    """Conditional on the expiry, so a record replaced meanwhile by a fresh claim survives."""
    result = await conn.execute(
        delete(idempotency_records).where(
            idempotency_records.c.id == record_id, idempotency_records.c.expires_at <= now
        )
    )
    return result.rowcount == 1


async def complete(
    conn: AsyncConnection,
    record_id: str,
    *,
    status: int,
    headers: dict[str, str],
    body_ciphertext: str,
) -> bool:
    """IN_PROGRESS → COMPLETED with the response; False if the claim is gone (purged)."""
    result = await conn.execute(
        update(idempotency_records)
        .where(
            idempotency_records.c.id == record_id,
            idempotency_records.c.state == RecordState.IN_PROGRESS.value,
        )
        .values(
            state=RecordState.COMPLETED.value,
            response_status=status,
            response_headers=json.dumps(headers, sort_keys=True),
            response_body_ciphertext=body_ciphertext,
        )
    )
    return result.rowcount == 1


async def release(conn: AsyncConnection, record_id: str) -> bool:
    """Delete an IN_PROGRESS claim (its request failed), never a completed record."""
    result = await conn.execute(
        delete(idempotency_records).where(
            idempotency_records.c.id == record_id,
            idempotency_records.c.state == RecordState.IN_PROGRESS.value,
        )
    )
    return result.rowcount == 1


async def purge_expired(conn: AsyncConnection, *, now: datetime, limit: int) -> int:
    """Delete up to `limit` records whose expiry has passed, oldest first; returns how many."""
    oldest = (
        select(idempotency_records.c.id)
        .where(idempotency_records.c.expires_at <= now)
        .order_by(idempotency_records.c.expires_at)
        .limit(limit)
    )
    result = await conn.execute(delete(idempotency_records).where(idempotency_records.c.id.in_(oldest)))
    return int(result.rowcount)
