"""Link-by-link verification shared by the database verifier and the offline export verifier.

The checker is fed entries in seq order (and each checkpoint right after the entry at its
seq) and stops at the first problem. It holds only the last verified (seq, hash), so memory
stays constant however long the chain is; callers stream pages into it.

Per entry, in this order (the first failing check names the kind):

1. ``seq`` lower than expected -> ``inserted`` (a repeated or out-of-place entry);
   higher -> ``missing`` at the expected seq (a row was deleted);
2. the stored hash recomputed from the contents -> ``modified`` (callers may refine this to
   ``reordered`` when the intact entry turns out to belong at another seq);
3. ``prevHash`` equal to the previous entry's hash -> otherwise ``inserted``: the entry is
   self-consistent but does not link (a forged entry). Hashes of two neighbours alone cannot
   tell a forged entry at s from a rewritten (re-hashed) entry at s-1; callers that can see
   the next link call `blame_previous` when it confirms the entry at s.

Per checkpoint: the signature must verify (``bad_signature``), then its hash must equal the
chain's hash at its seq (``checkpoint_mismatch``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rodistaa.acs.audit.models import AuditEntry, Checkpoint, TamperKind, VerifyReport


@dataclass(frozen=True, slots=True)
class Finding:
    seq: int | None  # None for a problem of the whole file (an untrusted key)
    kind: TamperKind
    detail: str


class ChainChecker:
    def __init__(self, *, from_seq: int, anchor_hash: str) -> None:
        self.from_seq = from_seq
        self.expected_seq = from_seq
        self.last_hash = anchor_hash
        self._hash_before_last = anchor_hash
        self.count = 0
        self.checkpoints = 0

    @property
    def last_seq(self) -> int:
        """Seq of the last verified entry (``from_seq - 1`` before the first)."""
        return self.expected_seq - 1

    def check_entry(self, entry: AuditEntry) -> Finding | None:
        """None and advance when `entry` is the correct next link, else the finding."""
        finding = self._position(entry) or self._contents(entry) or self._link(entry)
        if finding is None:
            self._hash_before_last = self.last_hash
            self.last_hash = entry.hash
            self.expected_seq += 1
            self.count += 1
        return finding

    def blame_previous(self, finding: Finding) -> Finding:
        """Turn a link failure at seq s into ``modified`` at s-1, un-accepting s-1.

        For when the entry at s is vouched for by its successor (or the head) naming its hash:
        then it is original and the entry before it was rewritten with a recomputed hash.
        """
        if self.count == 0 or finding.seq != self.expected_seq:
            return finding
        self.expected_seq -= 1
        self.count -= 1
        self.last_hash = self._hash_before_last
        return Finding(
            self.expected_seq,
            TamperKind.MODIFIED,
            f"the entry at seq {self.expected_seq} was rewritten with a recomputed hash: seq "
            f"{self.expected_seq + 1}, itself confirmed by the next link, names a different hash",
        )

    def check_checkpoint(self, checkpoint: Checkpoint, *, signature_ok: bool) -> Finding | None:
        """Call right after the entry at `checkpoint.seq` was accepted."""
        if not signature_ok:
            return Finding(checkpoint.seq, TamperKind.BAD_SIGNATURE, _bad_signature(checkpoint))
        if checkpoint.seq != self.last_seq or checkpoint.hash != self.last_hash:
            return Finding(
                checkpoint.seq,
                TamperKind.CHECKPOINT_MISMATCH,
                f"checkpoint at seq {checkpoint.seq} signs hash {checkpoint.hash[:16]}..., the chain "
                f"has {self.last_hash[:16]}...: the chain was rewritten at or before seq {checkpoint.seq}",
            )
        self.checkpoints += 1
        return None

    def check_checkpoint_beyond_end(self, checkpoint: Checkpoint, *, signature_ok: bool) -> Finding:
        """A checkpoint past the last entry: the chain lost its tail (or the checkpoint is forged)."""
        if not signature_ok:
            return Finding(checkpoint.seq, TamperKind.BAD_SIGNATURE, _bad_signature(checkpoint))
        return Finding(
            self.expected_seq,
            TamperKind.TRUNCATED,
            f"the chain ends at seq {self.last_seq} but a valid checkpoint signs seq {checkpoint.seq}",
        )

    def report(
        self, finding: Finding | None, *, to_seq: int | None, notes: tuple[str, ...] = ()
    ) -> VerifyReport:
        verified = self.count > 0
        return VerifyReport(
            ok=finding is None,
            count=self.count,
            last_seq=self.last_seq if verified else None,
            last_hash=self.last_hash if verified else None,
            first_bad_seq=finding.seq if finding else None,
            kind=finding.kind if finding else None,
            detail=finding.detail if finding else "ok",
            from_seq=self.from_seq,
            to_seq=to_seq,
            checkpoints=self.checkpoints,
            notes=notes,
        )

    def _position(self, entry: AuditEntry) -> Finding | None:
        if entry.seq < self.expected_seq:
            return Finding(
                entry.seq, TamperKind.INSERTED, f"seq {entry.seq} appears again after seq {self.last_seq}"
            )
        if entry.seq > self.expected_seq:
            return Finding(
                self.expected_seq,
                TamperKind.MISSING,
                f"no entry with seq {self.expected_seq}; the next one is seq {entry.seq}",
            )
        return None

    def _contents(self, entry: AuditEntry) -> Finding | None:
        try:
            recomputed = entry.computed_hash()
        except (ValueError, TypeError) as exc:
            return Finding(entry.seq, TamperKind.MODIFIED, f"entry {entry.id}: {exc}")
        if recomputed != entry.hash:
            return Finding(
                entry.seq, TamperKind.MODIFIED, f"entry {entry.id}: contents do not match its hash"
            )
        return None

    def _link(self, entry: AuditEntry) -> Finding | None:
        if entry.prev_hash == self.last_hash:
            return None
        return Finding(
            entry.seq,
            TamperKind.INSERTED,
            f"entry {entry.id} is self-consistent but its prevHash does not match the hash of seq "
            f"{entry.seq - 1}: a forged entry, or seq {entry.seq - 1} was rewritten with a recomputed hash",
        )


def _bad_signature(checkpoint: Checkpoint) -> str:
    return f"checkpoint at seq {checkpoint.seq}: signature by {checkpoint.key_ref!r} does not verify"
