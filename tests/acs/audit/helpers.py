"""Shared helpers of the audit tests (drafts, reading rows, forging entries)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from rodistaa.acs.audit.canonical import entry_hash
from rodistaa.acs.audit.models import AuditEntry, AuditEntryDraft
from rodistaa.acs.audit.tables import audit_log
from rodistaa.db.engine import Database

BUNDLE_REVISION = "ab" * 32


def draft(n: int, **data: Any) -> AuditEntryDraft:
    return AuditEntryDraft(
        actor="system:acs",
        action="acs.rule_matched",
        entity_type="event",
        entity_id=f"EVT-{n:04d}",
        data={"n": n, "outcome": "ALLOW", **data},
        rule_id="RF13_LEDGER_NEGATIVE_PREVENTION",
        rule_version=2,
        bundle_revision=BUNDLE_REVISION,
    )


async def rows(db: Database) -> list[dict[str, Any]]:
    async with db.read() as conn:
        result = await conn.execute(select(audit_log).order_by(audit_log.c.seq))
        return [dict(row._mapping) for row in result]


def forged(entry: AuditEntry, **changes: Any) -> AuditEntry:
    """`entry` with `changes` applied and a hash recomputed to match (a careful forger)."""
    fields = {name: getattr(entry, name) for name in AuditEntry.__dataclass_fields__}
    fields.update(changes, hash="")
    unhashed = AuditEntry(**fields)
    return AuditEntry(**{**fields, "hash": entry_hash(unhashed.body())})


def entry_from_row(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        seq=row["seq"],
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        rule_id=row["rule_id"],
        rule_version=row["rule_version"],
        bundle_revision=row["bundle_revision"],
        data_json=row["data"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def row_values(entry: AuditEntry) -> dict[str, Any]:
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
