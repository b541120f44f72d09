"""Signed checkpoints: every N entries or T seconds a KMS signature over {seq, hash, at}.

A checkpoint pins the chain: rewriting history (even recomputing every later hash) or cutting
off its tail is then detectable by anyone holding the public key, including from an export.

Both functions are safe to run from every instance at once: reading the tip is a plain read
(appends are never blocked), signing happens outside any transaction, and the insert claims
the seq (``ON CONFLICT DO NOTHING``), so concurrent schedulers store one checkpoint per seq.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from rodistaa.acs.audit import repo
from rodistaa.acs.audit.canonical import checkpoint_message, format_timestamp, parse_timestamp
from rodistaa.acs.audit.models import Checkpoint
from rodistaa.db.engine import Database
from rodistaa.security.kms import KmsProvider

log = structlog.get_logger("rodistaa.audit")


async def create_checkpoint(db: Database, kms: KmsProvider, *, now: datetime) -> Checkpoint | None:
    """Sign the current tip of the chain; None when the chain is empty or the tip already has
    a checkpoint (possibly stored a moment ago by another instance)."""
    async with db.read() as conn:
        tip = await repo.last_entry(conn)
        latest = await repo.last_checkpoint(conn)
    if tip is None or (latest is not None and latest.seq >= tip[0]):
        return None
    return await _sign_and_store(db, kms, seq=tip[0], chain_hash=tip[1], now=now)


async def maybe_checkpoint(
    db: Database, kms: KmsProvider, *, every_entries: int, every_seconds: float, now: datetime
) -> Checkpoint | None:
    """Checkpoint when `every_entries` entries were appended since the last checkpoint, or
    when the oldest entry not yet covered is `every_seconds` old. Measuring from the oldest
    uncovered entry (not from the last checkpoint) bounds how long any entry stays unsigned,
    and an idle chain gets no new checkpoints."""
    if every_entries < 1 or every_seconds <= 0:
        raise ValueError("every_entries must be >= 1 and every_seconds > 0")
    async with db.read() as conn:
        tip = await repo.last_entry(conn)
        latest = await repo.last_checkpoint(conn)
        covered = latest.seq if latest else 0
        oldest_uncovered_at = await repo.at_of(conn, covered + 1) if tip and tip[0] > covered else None
    if tip is None or oldest_uncovered_at is None:
        return None
    due_by_count = tip[0] - covered >= every_entries
    due_by_age = now - parse_timestamp(oldest_uncovered_at) >= timedelta(seconds=every_seconds)
    if not (due_by_count or due_by_age):
        return None
    return await _sign_and_store(db, kms, seq=tip[0], chain_hash=tip[1], now=now)


async def _sign_and_store(
    db: Database, kms: KmsProvider, *, seq: int, chain_hash: str, now: datetime
) -> Checkpoint | None:
    at = format_timestamp(now)
    signed = await kms.sign(checkpoint_message(seq, chain_hash, at))
    checkpoint = Checkpoint(seq, chain_hash, at, signed.key_ref, signed.signature)
    async with db.transaction() as conn:
        stored = await repo.insert_checkpoint(conn, checkpoint)
    if not stored:
        return None
    log.info("audit.checkpoint", seq=seq, key_ref=signed.key_ref)
    return checkpoint
