"""All SQL of the audit chain. Functions take the caller's connection and never commit."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit.models import AuditEntry, Checkpoint, StoredVerification, TamperKind, VerifyReport
from rodistaa.acs.audit.tables import (
    HEAD_ROW_ID,
    audit_checkpoints,
    audit_head,
    audit_log,
    audit_verifications,
)
from rodistaa.db.engine import Database


class AuditStateError(RuntimeError):
    """The chain's bookkeeping is not what every appender relies on (missing head row, or the
    head moved while we held its lock). Not a business error: it means the schema or the
    database was tampered with or bypassed."""


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str


@asynccontextmanager
async def snapshot(db: Database) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction that sees one consistent state of the chain from start to end.

    PostgreSQL: REPEATABLE READ, so appends committed while a long verification or export
    pages through the table are invisible to it (otherwise the head read at the end could be
    ahead of the rows read earlier and look like truncation). SQLite: a deferred read
    transaction in WAL mode keeps its snapshot for its whole duration.
    """
    async with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        else:
            conn = await conn.execution_options(readonly=True)
        async with conn.begin():
            yield conn


# -- appending ----------------------------------------------------------------------------


async def lock_head(conn: AsyncConnection) -> Head:
    """Read the head under a row lock (PostgreSQL ``SELECT ... FOR UPDATE``).

    Race prevented: two appenders reading the same head and both writing seq n+1 on top of
    it (a fork). The second appender waits here until the first commits or rolls back, then
    reads the head as it is after that (READ COMMITTED re-reads the locked row). On SQLite
    FOR UPDATE does not exist; the write transaction (BEGIN IMMEDIATE) already excludes every
    other writer. The lock is held until the caller's transaction ends.
    """
    query = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ROW_ID)
    row = (await conn.execute(query.with_for_update())).first()
    if row is None:
        raise AuditStateError("audit_head row is missing: run the migrations (0002_audit)")
    return Head(int(row.seq), str(row.hash))


# One statement, one round trip: lock the head, write the entry linked to it (its hash computed
# by the server from the canonical text the caller prepared around the two values only the head
# knows: prevHash and seq), move the head. See `chain.append` for why.
_APPEND_LINKED = text(
    """
    WITH head AS (
        SELECT seq, hash FROM audit_head WHERE id = :head_id FOR UPDATE
    ), linked AS (
        INSERT INTO audit_log (seq, id, at, actor, action, entity_type, entity_id, rule_id,
                               rule_version, bundle_revision, data, prev_hash, hash)
        SELECT head.seq + 1, :id, :at, :actor, :action, :entity_type, :entity_id, :rule_id,
               CAST(:rule_version AS INTEGER), :bundle_revision, :data, head.hash,
               encode(sha256(convert_to(
                   CAST(:domain AS TEXT) || head.hash || CAST(:before_prev AS TEXT) || head.hash
                   || CAST(:before_seq AS TEXT) || CAST(head.seq + 1 AS TEXT) || '}', 'UTF8')), 'hex')
        FROM head
        RETURNING seq, prev_hash, hash
    )
    UPDATE audit_head SET seq = linked.seq, hash = linked.hash
    FROM linked WHERE audit_head.id = :head_id
    RETURNING linked.seq, linked.prev_hash, linked.hash
    """
)


async def append_linked(
    conn: AsyncConnection, values: dict[str, Any], *, domain: str, before_prev: str, before_seq: str
) -> tuple[int, str, str]:
    """PostgreSQL only: append one entry in a single statement (see `_APPEND_LINKED`); returns
    its (seq, prev_hash, hash) as stored. `values` are the audit_log columns but those three."""
    parameters = {
        **values,
        "head_id": HEAD_ROW_ID,
        "domain": domain,
        "before_prev": before_prev,
        "before_seq": before_seq,
    }
    row = (await conn.execute(_APPEND_LINKED, parameters)).first()
    if row is None:
        raise AuditStateError("audit_head row is missing: run the migrations (0002_audit)")
    return int(row.seq), str(row.prev_hash), str(row.hash)


async def read_head(conn: AsyncConnection) -> Head | None:
    row = (await conn.execute(select(audit_head.c.seq, audit_head.c.hash))).first()
    return Head(int(row.seq), str(row.hash)) if row else None


async def insert_entry(conn: AsyncConnection, entry: AuditEntry) -> None:
    """Insert one link. The primary key on seq and UNIQUE(prev_hash) refuse a second entry on
    the same position or parent even if a writer bypassed the head lock."""
    await conn.execute(insert(audit_log).values(**entry_values(entry)))


async def advance_head(conn: AsyncConnection, *, from_seq: int, to: Head) -> None:
    """Move the head one step; the ``WHERE seq = :from_seq`` claim (rowcount 1) proves no other
    writer moved it since we locked it."""
    result = await conn.execute(
        update(audit_head)
        .where(audit_head.c.id == HEAD_ROW_ID, audit_head.c.seq == from_seq)
        .values(seq=to.seq, hash=to.hash)
    )
    if result.rowcount != 1:
        raise AuditStateError(f"audit head moved while locked (expected seq {from_seq})")


# -- reading entries ----------------------------------------------------------------------


async def entries_page(
    conn: AsyncConnection, *, after_seq: int, to_seq: int | None, limit: int
) -> list[AuditEntry]:
    """Up to `limit` entries with seq > after_seq (keyset paging: constant cost per page)."""
    query = select(audit_log).where(audit_log.c.seq > after_seq).order_by(audit_log.c.seq).limit(limit)
    if to_seq is not None:
        query = query.where(audit_log.c.seq <= to_seq)
    return [_entry_from_row(row) for row in (await conn.execute(query)).all()]


async def list_entries(
    conn: AsyncConnection,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEntry], int]:
    """One page of entries, newest first, and the number of entries matching the filters.
    Filtering by entity uses the (entity_type, entity_id) index; by action or actor it scans."""
    conditions = [
        column == value
        for column, value in (
            (audit_log.c.entity_type, entity_type),
            (audit_log.c.entity_id, entity_id),
            (audit_log.c.action, action),
            (audit_log.c.actor, actor),
        )
        if value is not None
    ]
    query = select(audit_log).where(*conditions).order_by(audit_log.c.seq.desc()).offset(offset).limit(limit)
    total = select(func.count()).select_from(audit_log).where(*conditions)
    entries = [_entry_from_row(row) for row in (await conn.execute(query)).all()]
    return entries, int((await conn.execute(total)).scalar_one())


async def last_entry(conn: AsyncConnection) -> tuple[int, str] | None:
    """(seq, hash) of the newest committed entry."""
    query = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    row = (await conn.execute(query)).first()
    return (int(row.seq), str(row.hash)) if row else None


async def hash_at(conn: AsyncConnection, seq: int) -> str | None:
    return await _scalar_str(conn, select(audit_log.c.hash).where(audit_log.c.seq == seq))


async def at_of(conn: AsyncConnection, seq: int) -> str | None:
    return await _scalar_str(conn, select(audit_log.c.at).where(audit_log.c.seq == seq))


async def seq_with_hash(conn: AsyncConnection, entry_hash: str) -> int | None:
    return await _scalar_int(conn, select(audit_log.c.seq).where(audit_log.c.hash == entry_hash))


async def seq_with_prev_hash(conn: AsyncConnection, prev_hash: str) -> int | None:
    return await _scalar_int(conn, select(audit_log.c.seq).where(audit_log.c.prev_hash == prev_hash))


async def count_entries(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(audit_log))).scalar_one())


# -- checkpoints --------------------------------------------------------------------------


async def insert_checkpoint(conn: AsyncConnection, checkpoint: Checkpoint) -> bool:
    """True if this call stored it. Race prevented: two schedulers checkpointing the same seq;
    the primary key keeps one and the loser's ON CONFLICT DO NOTHING reports rowcount 0."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(audit_checkpoints).values(
        seq=checkpoint.seq,
        hash=checkpoint.hash,
        at=checkpoint.at,
        key_ref=checkpoint.key_ref,
        signature=checkpoint.signature_b64,
    )
    result = await conn.execute(stmt.on_conflict_do_nothing(index_elements=[audit_checkpoints.c.seq]))
    return result.rowcount == 1


async def last_checkpoint(conn: AsyncConnection) -> Checkpoint | None:
    query = select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1)
    row = (await conn.execute(query)).first()
    return _checkpoint_from_row(row) if row else None


async def checkpoints_between(conn: AsyncConnection, first_seq: int, last_seq: int) -> list[Checkpoint]:
    """Checkpoints with first_seq <= seq <= last_seq, in seq order (at most one per seq, so a
    page of entries bounds the page of checkpoints)."""
    query = (
        select(audit_checkpoints)
        .where(audit_checkpoints.c.seq >= first_seq, audit_checkpoints.c.seq <= last_seq)
        .order_by(audit_checkpoints.c.seq)
    )
    return [_checkpoint_from_row(row) for row in (await conn.execute(query)).all()]


async def first_checkpoint_after(conn: AsyncConnection, seq: int, *, to_seq: int | None) -> Checkpoint | None:
    query = select(audit_checkpoints).where(audit_checkpoints.c.seq > seq)
    if to_seq is not None:
        query = query.where(audit_checkpoints.c.seq <= to_seq)
    row = (await conn.execute(query.order_by(audit_checkpoints.c.seq).limit(1))).first()
    return _checkpoint_from_row(row) if row else None


# -- verification records -----------------------------------------------------------------


async def insert_verification(conn: AsyncConnection, stored: StoredVerification) -> None:
    report = stored.report
    await conn.execute(
        insert(audit_verifications).values(
            id=stored.id,
            verified_at=stored.verified_at,
            ok=report.ok,
            from_seq=report.from_seq,
            to_seq=report.to_seq,
            entry_count=report.count,
            checkpoint_count=report.checkpoints,
            last_seq=report.last_seq,
            last_hash=report.last_hash,
            first_bad_seq=report.first_bad_seq,
            kind=report.kind.value if report.kind else None,
            detail=_detail_with_notes(report),
        )
    )


async def latest_verification(conn: AsyncConnection) -> StoredVerification | None:
    query = (
        select(audit_verifications)
        .order_by(audit_verifications.c.verified_at.desc(), audit_verifications.c.id.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    detail, *notes = str(row.detail).split("\n")
    report = VerifyReport(
        ok=bool(row.ok),
        count=int(row.entry_count),
        last_seq=row.last_seq,
        last_hash=row.last_hash,
        first_bad_seq=row.first_bad_seq,
        kind=TamperKind(row.kind) if row.kind else None,
        detail=detail,
        from_seq=int(row.from_seq),
        to_seq=row.to_seq,
        checkpoints=int(row.checkpoint_count),
        notes=tuple(notes),
    )
    return StoredVerification(str(row.id), row.verified_at, report)


# -- helpers ------------------------------------------------------------------------------


def _detail_with_notes(report: VerifyReport) -> str:
    # One line of detail, then one line per note (details and notes never contain newlines).
    return "\n".join([report.detail.replace("\n", " "), *(n.replace("\n", " ") for n in report.notes)])


def entry_values(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "rule_id": entry.rule_id,
        "rule_version": entry.rule_version,
        "bundle_revision": entry.bundle_revision,
        "data": entry.data_json,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _entry_from_row(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        seq=int(row.seq),
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
        bundle_revision=row.bundle_revision,
        data_json=row.data,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _checkpoint_from_row(row: Row[Any]) -> Checkpoint:
    try:
        signature = base64.b64decode(row.signature, validate=True)
    except ValueError:
        signature = b""  # a damaged signature column verifies as a bad signature, not a crash
    return Checkpoint(int(row.seq), row.hash, row.at, row.key_ref, signature)


async def _scalar_str(conn: AsyncConnection, query: Any) -> str | None:
    value = (await conn.execute(query)).scalar_one_or_none()
    return None if value is None else str(value)


async def _scalar_int(conn: AsyncConnection, query: Any) -> int | None:
    value = (await conn.execute(query)).scalar_one_or_none()
    return None if value is None else int(value)
