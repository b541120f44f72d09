"""Reading the audit log for people: filtered, newest first, paginated."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit.models import AuditEntry
from rodistaa.acs.audit.tables import audit_log


async def list_entries(
    conn: AsyncConnection,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    offset: int,
    limit: int,
) -> tuple[list[AuditEntry], int]:
    filters = [
        column == value
        for column, value in (
            (audit_log.c.entity_type, entity_type),
            (audit_log.c.entity_id, entity_id),
            (audit_log.c.action, action),
            (audit_log.c.actor, actor),
        )
        if value is not None
    ]
    query = select(audit_log).where(*filters).order_by(audit_log.c.seq.desc()).offset(offset).limit(limit)
    total = (await conn.execute(select(func.count()).select_from(audit_log).where(*filters))).scalar_one()
    rows = (await conn.execute(query)).all()
    entries = [
        AuditEntry(
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
        for row in rows
    ]
    return entries, int(total)
