"""Verifying the stored chain link by link, and recording the outcome.

`verify_chain` reads one consistent snapshot in pages (memory is one page, whatever the
length of the chain), recomputes every hash and link (never only the ends), checks every
checkpoint's signature through the KMS and its hash against the chain, and compares the end of
the chain with the head row and the newest checkpoint. How each kind is recognised:

- ``modified``: an entry's contents (any column, or non-canonical `data` bytes) no longer hash
  to its stored hash;
- ``reordered``: an entry fails its hash at the seq where it is stored but is intact at
  another seq (the seq is hashed, so swapping two rows' seqs or contents makes the lower one
  fail first); the seq it was written at is found from its neighbours by hash;
- ``missing``: a seq is absent inside the chain (a deleted row);
- ``inserted``: a self-consistent entry whose prevHash does not link to the previous entry
  and that the next entry does not confirm (a forged entry), or an entry beyond the seq the
  head row records (a forged tail, even a correctly linked one);
- ``modified`` also when an entry was rewritten *with* a recomputed hash: the next entry is
  intact and confirmed by its own successor, but names the original hash;
- ``truncated``: the chain ends before the head row's seq or before a valid checkpoint;
- ``checkpoint_mismatch``: a valid checkpoint signs a hash the chain does not have at its seq
  (history rewritten with recomputed hashes);
- ``bad_signature``: a checkpoint whose signature does not verify or whose key is unknown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import repo
from rodistaa.acs.audit.canonical import GENESIS_HASH
from rodistaa.acs.audit.checker import ChainChecker, Finding
from rodistaa.acs.audit.models import AuditEntry, StoredVerification, TamperKind, VerifyReport
from rodistaa.core.ids import new_id
from rodistaa.db.engine import Database
from rodistaa.security.kms import KmsProvider

log = structlog.get_logger("rodistaa.audit")

PAGE_SIZE: Final = 1000


async def verify_chain(
    db: Database,
    kms: KmsProvider,
    *,
    from_seq: int = 1,
    to_seq: int | None = None,
    page_size: int = PAGE_SIZE,
) -> VerifyReport:
    """Verify entries from_seq..to_seq (to the end when None); never raises for tampering."""
    if from_seq < 1 or (to_seq is not None and to_seq < from_seq) or page_size < 1:
        raise ValueError("need 1 <= from_seq <= to_seq and page_size >= 1")
    async with repo.snapshot(db) as conn:
        report = await _verify(conn, kms, from_seq=from_seq, to_seq=to_seq, page_size=page_size)
    log_event = log.info if report.ok else log.error
    kind = report.kind.value if report.kind else None
    log_event(
        "audit.verified", ok=report.ok, count=report.count, first_bad_seq=report.first_bad_seq, kind=kind
    )
    return report


async def record_verification(db: Database, report: VerifyReport, *, now: datetime) -> StoredVerification:
    """Store a verification outcome; the newest one is what the admin endpoint reports."""
    stored = StoredVerification(new_id("AUV"), now, report)
    async with db.transaction() as conn:
        await repo.insert_verification(conn, stored)
    return stored


async def last_verification(db: Database) -> StoredVerification | None:
    async with db.read() as conn:
        return await repo.latest_verification(conn)


async def _verify(
    conn: AsyncConnection, kms: KmsProvider, *, from_seq: int, to_seq: int | None, page_size: int
) -> VerifyReport:
    anchor = GENESIS_HASH if from_seq == 1 else await repo.hash_at(conn, from_seq - 1)
    checker = ChainChecker(from_seq=from_seq, anchor_hash=anchor or GENESIS_HASH)
    if anchor is None:
        missing = Finding(from_seq - 1, TamperKind.MISSING, f"no entry with seq {from_seq - 1} to anchor on")
        return checker.report(missing, to_seq=to_seq)
    notes = (
        () if from_seq == 1 else (f"anchored on the stored hash of seq {from_seq - 1}, not itself verified",)
    )
    head = await repo.read_head(conn)
    head_seq = head.seq if head else None
    finding = await _walk(conn, kms, checker, to_seq=to_seq, head_seq=head_seq, page_size=page_size)
    if finding is None:
        finding = await _check_end(conn, kms, checker, to_seq=to_seq, head=head)
    return checker.report(finding, to_seq=to_seq, notes=notes)


async def _walk(
    conn: AsyncConnection,
    kms: KmsProvider,
    checker: ChainChecker,
    *,
    to_seq: int | None,
    head_seq: int | None,
    page_size: int,
) -> Finding | None:
    after = checker.last_seq
    while page := await repo.entries_page(conn, after_seq=after, to_seq=to_seq, limit=page_size):
        checkpoints = {cp.seq: cp for cp in await repo.checkpoints_between(conn, after + 1, page[-1].seq)}
        for entry in page:
            finding = await _check_entry(conn, checker, entry, head_seq=head_seq)
            checkpoint = checkpoints.get(entry.seq)
            if finding is None and checkpoint is not None:
                signature_ok = await kms.verify(checkpoint.key_ref, checkpoint.message, checkpoint.signature)
                finding = checker.check_checkpoint(checkpoint, signature_ok=signature_ok)
            if finding is not None:
                return finding
        after = page[-1].seq
    return None


async def _check_entry(
    conn: AsyncConnection, checker: ChainChecker, entry: AuditEntry, *, head_seq: int | None
) -> Finding | None:
    if head_seq is not None and entry.seq > head_seq and entry.seq == checker.expected_seq:
        return Finding(
            entry.seq,
            TamperKind.INSERTED,
            f"entry {entry.id} at seq {entry.seq} lies beyond the head (seq {head_seq}): "
            "not appended through the chain",
        )
    finding = checker.check_entry(entry)
    if finding is None:
        return None
    if finding.kind is TamperKind.INSERTED and finding.seq == entry.seq:
        if await _confirmed_by_next_link(conn, entry, head_seq=head_seq):
            return checker.blame_previous(finding)
        return finding
    if finding.kind is not TamperKind.MODIFIED:
        return finding
    written_at = await _written_seq(conn, entry)
    if written_at is None:
        return finding
    return Finding(
        entry.seq,
        TamperKind.REORDERED,
        f"entry {entry.id} was written as seq {written_at} but is stored at seq {entry.seq}",
    )


async def _confirmed_by_next_link(conn: AsyncConnection, entry: AuditEntry, *, head_seq: int | None) -> bool:
    """True when the entry after this one (or the head, for the last one) names its hash."""
    if entry.seq == head_seq:
        head = await repo.read_head(conn)
        return head is not None and head.hash == entry.hash
    return await repo.seq_with_prev_hash(conn, entry.hash) == entry.seq + 1


async def _written_seq(conn: AsyncConnection, entry: AuditEntry) -> int | None:
    """The seq at which this (otherwise intact) entry was written, if it is not where it is.

    Candidates come from its neighbours by hash: the entry that names it as prevHash sits one
    after where it was written, the entry it names sits one before; when its neighbour moved
    too (two adjacent rows swapped), one seq either side. Each candidate costs one hash.
    """
    successor = await repo.seq_with_prev_hash(conn, entry.hash)
    predecessor = 0 if entry.prev_hash == GENESIS_HASH else await repo.seq_with_hash(conn, entry.prev_hash)
    candidates = {entry.seq - 1, entry.seq + 1}
    if successor is not None:
        candidates.add(successor - 1)
    if predecessor is not None:
        candidates.add(predecessor + 1)
    for seq in sorted(candidates - {entry.seq}):
        try:
            if seq >= 1 and entry.at_seq(seq).computed_hash() == entry.hash:
                return seq
        except (ValueError, TypeError):
            return None
    return None


async def _check_end(
    conn: AsyncConnection,
    kms: KmsProvider,
    checker: ChainChecker,
    *,
    to_seq: int | None,
    head: repo.Head | None,
) -> Finding | None:
    """After the last entry: no valid checkpoint and no head may claim more of the chain."""
    beyond = await repo.first_checkpoint_after(conn, checker.last_seq, to_seq=to_seq)
    if beyond is not None:
        signature_ok = await kms.verify(beyond.key_ref, beyond.message, beyond.signature)
        return checker.check_checkpoint_beyond_end(beyond, signature_ok=signature_ok)
    if head is None:
        return Finding(None, TamperKind.MODIFIED, "the audit_head row is missing: it was deleted or bypassed")
    end = head.seq if to_seq is None else min(to_seq, head.seq)
    if checker.last_seq < end:
        return Finding(
            checker.expected_seq,
            TamperKind.TRUNCATED,
            f"the chain ends at seq {checker.last_seq} but its head records seq {head.seq}",
        )
    if checker.last_seq == head.seq and checker.count and head.hash != checker.last_hash:
        return Finding(
            head.seq,
            TamperKind.MODIFIED,
            f"the head records another hash for seq {head.seq}: the entry was rewritten with a "
            "recomputed hash, or the head was altered",
        )
    return None
