"""Tampering as an attacker with full database access would (triggers off), and what
`verify_chain` reports: the first bad seq and the kind. Every test runs on both backends."""

from __future__ import annotations

import base64

from sqlalchemy import insert, text, update

from rodistaa.acs.audit import AuditEntry, TamperKind, append_standalone, create_checkpoint, verify_chain
from rodistaa.acs.audit.tables import audit_checkpoints, audit_head, audit_log
from rodistaa.db.engine import Database
from rodistaa.security.kms import LocalKms
from tests.acs.audit.conftest import StepClock, tampering
from tests.acs.audit.helpers import draft, forged, row_values

N = 8


async def _chain(db: Database, clock: StepClock, n: int = N) -> list[AuditEntry]:
    return [await append_standalone(db, draft(i), now=clock.now()) for i in range(1, n + 1)]


async def _checkpoint(db: Database, kms: LocalKms, clock: StepClock, *, expect_seq: int) -> None:
    checkpoint = await create_checkpoint(db, kms, now=clock.now())
    assert checkpoint is not None and checkpoint.seq == expect_seq


async def _replace_row(db: Database, seq: int, entry: AuditEntry) -> None:
    async with tampering(db) as conn:
        await conn.execute(audit_log.delete().where(audit_log.c.seq == seq))
        await conn.execute(insert(audit_log).values(**row_values(entry)))


async def _swap_seqs(db: Database, first: int, second: int) -> None:
    async with tampering(db) as conn:
        for old, new in ((first, 1_000_000), (second, first), (1_000_000, second)):
            await conn.execute(update(audit_log).where(audit_log.c.seq == old).values(seq=new))


class TestCleanChain:
    async def test_ok_with_count_across_pages_and_checkpoints(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        await _chain(db, clock, 4)
        await create_checkpoint(db, kms, now=clock.now())
        await _chain(db, clock, 5)
        await create_checkpoint(db, kms, now=clock.now())
        report = await verify_chain(db, kms, page_size=2)
        assert (report.ok, report.count, report.last_seq, report.checkpoints) == (True, 9, 9, 2)
        assert report.first_bad_seq is None and report.kind is None

    async def test_empty_chain_is_ok(self, db: Database, kms: LocalKms) -> None:
        report = await verify_chain(db, kms)
        assert (report.ok, report.count, report.last_seq) == (True, 0, None)

    async def test_a_sub_range_verifies_from_its_anchor(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        await _chain(db, clock)
        async with tampering(db) as conn:
            await conn.execute(update(audit_log).where(audit_log.c.seq == 7).values(actor="someone-else"))
        inside = await verify_chain(db, kms, from_seq=3, to_seq=6)
        assert (inside.ok, inside.count, inside.last_seq) == (True, 4, 6)
        assert inside.notes == ("anchored on the stored hash of seq 2, not itself verified",)
        whole = await verify_chain(db, kms, from_seq=3)
        assert (whole.ok, whole.first_bad_seq, whole.kind) == (False, 7, TamperKind.MODIFIED)


class TestEntryTampering:
    async def test_one_byte_of_data_modified(self, db: Database, kms: LocalKms, clock: StepClock) -> None:
        entries = await _chain(db, clock)
        changed = entries[2].data_json.replace('"n":3', '"n":4')
        assert len(changed) == len(entries[2].data_json) and changed != entries[2].data_json
        async with tampering(db) as conn:
            await conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(data=changed))
        report = await verify_chain(db, kms, page_size=3)
        assert (report.ok, report.first_bad_seq, report.kind) == (False, 3, TamperKind.MODIFIED)
        assert (report.count, report.last_seq, report.last_hash) == (2, 2, entries[1].hash)

    async def test_non_canonical_bytes_with_the_same_meaning_are_modified(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        entries = await _chain(db, clock)
        async with tampering(db) as conn:
            spaced = entries[4].data_json.replace(",", ", ")
            await conn.execute(update(audit_log).where(audit_log.c.seq == 5).values(data=spaced))
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind) == (5, TamperKind.MODIFIED)
        assert "canonical" in report.detail

    async def test_entry_rewritten_with_a_recomputed_hash_is_modified_at_its_seq(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        # The forger recomputes seq 3's hash; seq 4 (confirmed by seq 5) still names the old one.
        entries = await _chain(db, clock)
        await _replace_row(db, 3, forged(entries[2], data_json='{"n":3,"outcome":"REJECT"}'))
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind, report.count) == (3, TamperKind.MODIFIED, 2)

    async def test_last_entry_rewritten_with_a_recomputed_hash_disagrees_with_the_head(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        entries = await _chain(db, clock)
        await _replace_row(db, N, forged(entries[-1], actor="someone-else"))
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind) == (N, TamperKind.MODIFIED)
        assert "head" in report.detail

    async def test_deleted_row_is_missing(self, db: Database, kms: LocalKms, clock: StepClock) -> None:
        await _chain(db, clock)
        async with tampering(db) as conn:
            await conn.execute(audit_log.delete().where(audit_log.c.seq == 4))
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind, report.count) == (4, TamperKind.MISSING, 3)

    async def test_forged_row_in_the_middle_is_inserted(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        # Self-consistent, but linked to a parent that is not seq 4, and seq 6 does not name it.
        entries = await _chain(db, clock)
        fake = forged(entries[4], id="AUD-FORGED", prev_hash="e" * 64, actor="attacker")
        await _replace_row(db, 5, fake)
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind, report.count) == (5, TamperKind.INSERTED, 4)

    async def test_forged_tail_linked_correctly_is_inserted(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        # The hashes are perfect; only the head row (moved by appends alone) gives it away.
        entries = await _chain(db, clock)
        tail = forged(entries[-1], seq=N + 1, id="AUD-FORGED", prev_hash=entries[-1].hash)
        async with tampering(db) as conn:
            await conn.execute(insert(audit_log).values(**row_values(tail)))
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind, report.count) == (N + 1, TamperKind.INSERTED, N)

    async def test_swapped_rows_are_reordered_at_the_lower_seq(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        # The seq is hashed, so both moved rows fail their hash; the lower one is met first and
        # is intact at the seq it was written at, which is therefore "reordered".
        await _chain(db, clock)
        await _swap_seqs(db, 3, 6)
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind) == (3, TamperKind.REORDERED)
        assert "written as seq 6" in report.detail

    async def test_adjacent_swap_is_reordered(self, db: Database, kms: LocalKms, clock: StepClock) -> None:
        await _chain(db, clock)
        await _swap_seqs(db, 4, 5)
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind) == (4, TamperKind.REORDERED)

    async def test_swap_of_the_last_two_is_reordered(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        await _chain(db, clock)
        await _swap_seqs(db, N - 1, N)
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind) == (N - 1, TamperKind.REORDERED)


class TestHeadTampering:
    async def test_deleted_head_row_fails_verification(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        await _chain(db, clock, 3)
        async with tampering(db) as conn:
            await conn.execute(audit_head.delete())
        report = await verify_chain(db, kms)
        assert (report.ok, report.kind, report.first_bad_seq, report.count) == (
            False,
            TamperKind.MODIFIED,
            None,
            3,
        )
        assert "audit_head" in report.detail


class TestTruncationAndCheckpoints:
    async def test_truncated_after_a_checkpoint(self, db: Database, kms: LocalKms, clock: StepClock) -> None:
        await _chain(db, clock, 6)
        await _checkpoint(db, kms, clock, expect_seq=6)
        await _chain(db, clock, 2)
        async with tampering(db) as conn:
            await conn.execute(audit_log.delete().where(audit_log.c.seq >= 5))
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind, report.count) == (5, TamperKind.TRUNCATED, 4)
        assert "checkpoint" in report.detail

    async def test_truncated_with_the_head_rewound_is_still_caught_by_the_checkpoint(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        entries = await _chain(db, clock, 6)
        await _checkpoint(db, kms, clock, expect_seq=6)
        async with tampering(db) as conn:
            await conn.execute(audit_log.delete().where(audit_log.c.seq >= 5))
            await conn.execute(update(audit_head).values(seq=4, hash=entries[3].hash))
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind) == (5, TamperKind.TRUNCATED)

    async def test_truncated_without_checkpoint_is_caught_by_the_head(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        await _chain(db, clock)
        async with tampering(db) as conn:
            await conn.execute(audit_log.delete().where(audit_log.c.seq >= 7))
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind) == (7, TamperKind.TRUNCATED)
        assert "head" in report.detail

    async def test_history_rewritten_with_recomputed_hashes_fails_at_the_checkpoint(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        entries = await _chain(db, clock, 5)
        await _checkpoint(db, kms, clock, expect_seq=5)
        entries += await _chain(db, clock, 2)
        # Rewrite seq 2 and re-link everything after it, head included: the hashes all agree.
        rewritten: list[AuditEntry] = [entries[0]]
        for index, entry in enumerate(entries[1:], 1):
            changes = {"data_json": '{"n":0,"outcome":"ALLOW"}'} if index == 1 else {}
            rewritten.append(forged(entry, prev_hash=rewritten[-1].hash, **changes))
        async with tampering(db) as conn:
            await conn.execute(audit_log.delete().where(audit_log.c.seq >= 2))
            for entry in rewritten[1:]:
                await conn.execute(insert(audit_log).values(**row_values(entry)))
            await conn.execute(update(audit_head).values(hash=rewritten[-1].hash))
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind) == (5, TamperKind.CHECKPOINT_MISMATCH)

    async def test_forged_checkpoint_signature(self, db: Database, kms: LocalKms, clock: StepClock) -> None:
        await _chain(db, clock, 3)
        await create_checkpoint(db, kms, now=clock.now())
        await _chain(db, clock, 3)
        async with tampering(db) as conn:
            stored = (await conn.execute(text("SELECT signature FROM audit_checkpoints"))).scalar_one()
            raw = bytearray(base64.b64decode(stored))
            raw[10] ^= 0x01
            await conn.execute(
                update(audit_checkpoints).values(signature=base64.b64encode(bytes(raw)).decode())
            )
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind, report.count) == (3, TamperKind.BAD_SIGNATURE, 3)

    async def test_checkpoint_by_an_unknown_key(self, db: Database, kms: LocalKms, clock: StepClock) -> None:
        await _chain(db, clock, 3)
        await create_checkpoint(db, LocalKms("test-kms", {1: bytes(32)}), now=clock.now())
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind) == (3, TamperKind.BAD_SIGNATURE)

    async def test_forged_checkpoint_beyond_the_end_is_a_bad_signature(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        await _chain(db, clock, 3)
        async with tampering(db) as conn:
            await conn.execute(
                insert(audit_checkpoints).values(
                    seq=9,
                    hash="a" * 64,
                    at="2025-01-01T00:00:00.000000Z",
                    key_ref="test-kms/v1",
                    signature=base64.b64encode(bytes(64)).decode(),
                )
            )
        report = await verify_chain(db, kms)
        assert (report.first_bad_seq, report.kind) == (9, TamperKind.BAD_SIGNATURE)
