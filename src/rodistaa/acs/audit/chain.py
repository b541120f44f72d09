"""Appending to the audit chain.

Every entry links to the previous one by hash (see `canonical.entry_hash`), and there is one
chain: `seq` is gapless from 1 and no two entries share a prevHash, whatever the number of
processes and instances appending.

How: the one-row `audit_head` table holds the last (seq, hash). An append locks that row,
writes entry seq+1 on top of it and moves the head, all in the caller's transaction. The next
appender waits for the row lock, so links are written one at a time and a rolled-back append
leaves no gap (nothing was consumed outside the transaction, unlike a database sequence).

Callers append as the LAST statement before their commit: the head lock is then held for the
append and the commit only, not for the business work before it. (On SQLite every write
transaction already excludes all other writers; PostgreSQL is where this matters.) Callers
use READ COMMITTED (the default): under REPEATABLE READ a concurrent append would make the
lock fail with a serialization error instead of waiting.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import repo
from rodistaa.acs.audit.canonical import (
    ENTRY_HASH_DOMAIN,
    HASH_RE,
    canonical_json,
    entry_hash,
    format_timestamp,
)
from rodistaa.acs.audit.models import AuditEntry, AuditEntryDraft
from rodistaa.acs.audit.privacy import ensure_no_personal_data
from rodistaa.core.ids import new_id
from rodistaa.db.engine import Database

log = structlog.get_logger("rodistaa.audit")

ID_PREFIX: Final = "AUD"
# Column widths of audit_log (checked here so both databases refuse the same drafts).
_MAX_LENGTHS: Final = {"actor": 128, "action": 64, "entity_type": 64, "entity_id": 128, "rule_id": 128}


async def append(conn: AsyncConnection, draft: AuditEntryDraft, *, now: datetime) -> AuditEntry:
    """Append `draft` inside the caller's transaction and return the stored entry.

    Raises ValueError for an invalid draft (empty or over-long fields, non-JSON or personal
    data in `data`, a naive `now`) before any lock is taken. The entry exists once the
    caller commits; if the caller rolls back, so does the append, leaving no gap.
    """
    data_json = _validated_data_json(draft)
    at = format_timestamp(now)
    entry_id = new_id(ID_PREFIX)
    if conn.dialect.name == "postgresql":
        entry = await _append_in_one_statement(conn, draft, entry_id=entry_id, at=at, data_json=data_json)
    else:
        head = await repo.lock_head(conn)
        entry = _link(draft, seq=head.seq + 1, entry_id=entry_id, at=at, data_json=data_json, prev=head.hash)
        await repo.insert_entry(conn, entry)
        await repo.advance_head(conn, from_seq=head.seq, to=repo.Head(entry.seq, entry.hash))
    log.debug("audit.appended", seq=entry.seq, audit_id=entry.id, action=entry.action)
    return entry


# Placeholders for the two values only the head knows, in the canonical text of an entry. Keys
# sort as ..., "prevHash", "ruleId", "ruleVersion", "seq": seq is the last key, and only the
# rule's id and version lie between the two placeholders.
_PREV_MARK: Final = "@prev@"
_SEQ_MARK: Final = 0


async def _append_in_one_statement(
    conn: AsyncConnection, draft: AuditEntryDraft, *, entry_id: str, at: str, data_json: str
) -> AuditEntry:
    """PostgreSQL: the head is locked, the entry written and the head moved by one statement,
    so the head lock (which every writer of the platform queues for) is held for that statement
    and the COMMIT only, not for three round trips more (docs/performance.md). The server
    computes the hash from the canonical text prepared here around prevHash and seq; it is
    checked here against `entry_hash` before the caller can commit, so the chain is hashed by
    exactly one definition."""
    template = _link(draft, seq=_SEQ_MARK, entry_id=entry_id, at=at, data_json=data_json, prev=_PREV_MARK)
    text = canonical_json(template.body())
    # The top-level key with its placeholder: inside a JSON string every quote is escaped, so this
    # text can only be the entry's own key, and the last match is the top level's.
    before_prev, found, after_prev = text.rpartition(f'"prevHash":{json.dumps(_PREV_MARK)}')
    before_seq = after_prev.removesuffix(f"{_SEQ_MARK}}}")
    assert found and before_seq != after_prev, "prevHash and a last seq are in every canonical entry"
    values = {k: v for k, v in repo.entry_values(template).items() if k not in ("seq", "prev_hash", "hash")}
    seq, prev, stored_hash = await repo.append_linked(
        conn,
        values,
        domain=ENTRY_HASH_DOMAIN.decode(),
        before_prev=before_prev + '"prevHash":"',
        before_seq='"' + before_seq,
    )
    entry = replace(template, seq=seq, prev_hash=prev, hash=stored_hash)
    if entry_hash(entry.body()) != stored_hash:
        raise repo.AuditStateError(f"the database hashed audit entry {seq} differently")
    return entry


async def append_standalone(db: Database, draft: AuditEntryDraft, *, now: datetime) -> AuditEntry:
    """Append in a short transaction of its own (for traces that must survive a rollback of
    the business transaction, and for callers with no transaction open)."""
    async with db.transaction() as conn:
        return await append(conn, draft, now=now)


def _link(
    draft: AuditEntryDraft, *, seq: int, entry_id: str, at: str, data_json: str, prev: str
) -> AuditEntry:
    fields: dict[str, Any] = {
        "seq": seq,
        "id": entry_id,
        "at": at,
        "actor": draft.actor,
        "action": draft.action,
        "entity_type": draft.entity_type,
        "entity_id": draft.entity_id,
        "rule_id": draft.rule_id,
        "rule_version": draft.rule_version,
        "bundle_revision": draft.bundle_revision,
        "data_json": data_json,
        "prev_hash": prev,
    }
    unhashed = AuditEntry(**fields, hash="")
    return AuditEntry(**fields, hash=entry_hash(unhashed.body()))


def _validated_data_json(draft: AuditEntryDraft) -> str:
    for name, limit in _MAX_LENGTHS.items():
        value = getattr(draft, name)
        required = name != "rule_id"
        if value is None and not required:
            continue
        if not isinstance(value, str) or not value or len(value) > limit:
            raise ValueError(f"{name}: must be a non-empty string of at most {limit} characters")
    if draft.rule_version is not None and (
        not isinstance(draft.rule_version, int) or isinstance(draft.rule_version, bool)
    ):
        raise ValueError("rule_version: must be an integer")
    if draft.bundle_revision is not None and not HASH_RE.fullmatch(draft.bundle_revision):
        raise ValueError("bundle_revision: must be a SHA-256 hex digest")
    if not isinstance(draft.data, dict):
        raise ValueError("data: must be a JSON object")
    ensure_no_personal_data(draft.data)
    return canonical_json(draft.data)
