"""Reading a database's facts (tables and row counts, migration revision, audit head, latest
checkpoint): from the backup's snapshot when it is made, from the restored database when it is
verified. The same function on both sides, so the two can only differ in the data."""

from __future__ import annotations

from sqlalchemy import column, func, inspect, select, table
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import repo as audit_repo
from rodistaa.acs.audit.tables import audit_checkpoints, audit_head
from rodistaa.backup.manifest import AuditHead, CheckpointRecord, DatabaseFacts

_ALEMBIC_TABLE = "alembic_version"


async def collect_facts(conn: AsyncConnection) -> DatabaseFacts:
    """Every table of the default schema with its row count; audit facts when those tables
    exist (a database migrated to an older revision may not have them)."""
    names = sorted(await conn.run_sync(_table_names))
    counts = {name: await _count_rows(conn, name) for name in names}
    head = await audit_repo.read_head(conn) if audit_head.name in names else None
    checkpoint = await audit_repo.last_checkpoint(conn) if audit_checkpoints.name in names else None
    return DatabaseFacts(
        alembic_revision=await _revision(conn) if _ALEMBIC_TABLE in names else None,
        row_counts=counts,
        audit_head=AuditHead(seq=head.seq, hash=head.hash) if head else None,
        latest_checkpoint=(
            CheckpointRecord(
                seq=checkpoint.seq,
                hash=checkpoint.hash,
                at=checkpoint.at,
                key_ref=checkpoint.key_ref,
                signature=checkpoint.signature_b64,
            )
            if checkpoint
            else None
        ),
    )


def _table_names(sync_conn: Connection) -> list[str]:
    return list(inspect(sync_conn).get_table_names())


async def _count_rows(conn: AsyncConnection, name: str) -> int:
    # table() quotes the name; names come from the database's own catalogue.
    return int((await conn.execute(select(func.count()).select_from(table(name)))).scalar_one())


async def _revision(conn: AsyncConnection) -> str | None:
    value = (await conn.execute(select(column("version_num")).select_from(table(_ALEMBIC_TABLE)))).scalar()
    return None if value is None else str(value)
