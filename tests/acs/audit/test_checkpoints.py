"""Signed checkpoints: when they are made, what they sign, races between schedulers, key
rotation, and the record of verifications."""

from __future__ import annotations

import asyncio
import json

import pytest

from rodistaa.acs.audit import (
    TamperKind,
    VerifyReport,
    append_standalone,
    create_checkpoint,
    last_verification,
    maybe_checkpoint,
    record_verification,
    verify_chain,
)
from rodistaa.db.engine import Database
from rodistaa.security.kms import LocalKms
from tests.acs.audit.conftest import KMS_V1, KMS_V2, StepClock
from tests.acs.audit.helpers import draft


async def _append(db: Database, clock: StepClock, count: int) -> None:
    for n in range(count):
        await append_standalone(db, draft(n), now=clock.now())


class TestCheckpoints:
    async def test_checkpoint_signs_the_tip_over_the_documented_message(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        assert await create_checkpoint(db, kms, now=clock.now()) is None  # empty chain
        await _append(db, clock, 3)
        checkpoint = await create_checkpoint(db, kms, now=clock.now())
        assert checkpoint is not None
        report = await verify_chain(db, kms)
        assert (checkpoint.seq, checkpoint.hash, checkpoint.key_ref) == (3, report.last_hash, "test-kms/v1")
        body = json.dumps(
            {"seq": 3, "hash": checkpoint.hash, "at": checkpoint.at}, sort_keys=True, separators=(",", ":")
        )
        message = b"rodistaa-audit-checkpoint-v1\n" + body.encode()
        assert await kms.verify("test-kms/v1", message, checkpoint.signature)
        assert report.checkpoints == 1
        # Nothing new to cover: no second checkpoint for the same seq.
        assert await create_checkpoint(db, kms, now=clock.now()) is None

    async def test_every_n_entries(self, db: Database, kms: LocalKms, clock: StepClock) -> None:
        await _append(db, clock, 4)
        assert await maybe_checkpoint(db, kms, every_entries=5, every_seconds=3600, now=clock.now()) is None
        await _append(db, clock, 1)
        made = await maybe_checkpoint(db, kms, every_entries=5, every_seconds=3600, now=clock.now())
        assert made is not None and made.seq == 5
        await _append(db, clock, 4)
        assert await maybe_checkpoint(db, kms, every_entries=5, every_seconds=3600, now=clock.now()) is None
        await _append(db, clock, 1)
        made = await maybe_checkpoint(db, kms, every_entries=5, every_seconds=3600, now=clock.now())
        assert made is not None and made.seq == 10

    async def test_every_t_seconds_only_with_new_entries(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        assert await maybe_checkpoint(db, kms, every_entries=100, every_seconds=60, now=clock.now()) is None
        await _append(db, clock, 2)
        clock.advance(seconds=59)
        assert await maybe_checkpoint(db, kms, every_entries=100, every_seconds=60, now=clock.now()) is None
        clock.advance(seconds=2)
        made = await maybe_checkpoint(db, kms, every_entries=100, every_seconds=60, now=clock.now())
        assert made is not None and made.seq == 2
        clock.advance(seconds=600)  # idle chain: nothing new to sign
        assert await maybe_checkpoint(db, kms, every_entries=100, every_seconds=60, now=clock.now()) is None

    @pytest.mark.parametrize(("entries", "seconds"), [(0, 60), (5, 0)])
    async def test_intervals_must_be_positive(
        self, db: Database, kms: LocalKms, entries: int, seconds: int
    ) -> None:
        with pytest.raises(ValueError, match="every_entries"):
            await maybe_checkpoint(
                db, kms, every_entries=entries, every_seconds=seconds, now=StepClock().now()
            )

    async def test_concurrent_schedulers_store_one_checkpoint(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        await _append(db, clock, 3)
        now = clock.now()
        made = await asyncio.gather(*(create_checkpoint(db, kms, now=now) for _ in range(6)))
        stored = [checkpoint for checkpoint in made if checkpoint is not None]
        assert len(stored) == 1 and stored[0].seq == 3
        assert (await verify_chain(db, kms)).checkpoints == 1

    async def test_checkpoints_by_a_retired_version_still_verify(
        self, db: Database, clock: StepClock
    ) -> None:
        old = LocalKms("test-kms", {1: KMS_V1})
        await _append(db, clock, 2)
        assert (await create_checkpoint(db, old, now=clock.now())) is not None
        rotated = LocalKms("test-kms", {1: KMS_V1, 2: KMS_V2})
        await _append(db, clock, 2)
        newer = await create_checkpoint(db, rotated, now=clock.now())
        assert newer is not None and newer.key_ref == "test-kms/v2"
        report = await verify_chain(db, rotated)
        assert (report.ok, report.checkpoints) == (True, 2)
        # A verifier that lost v1 cannot vouch for the first checkpoint.
        report = await verify_chain(db, LocalKms("test-kms", {2: KMS_V2}))
        assert (report.kind, report.first_bad_seq) == (TamperKind.BAD_SIGNATURE, 2)


class TestVerificationRecord:
    async def test_the_last_verification_is_reported(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        assert await last_verification(db) is None
        await _append(db, clock, 2)
        good = await verify_chain(db, kms)
        await record_verification(db, good, now=clock.now())
        bad = VerifyReport(
            ok=False,
            count=1,
            last_seq=1,
            last_hash="a" * 64,
            first_bad_seq=2,
            kind=TamperKind.MISSING,
            detail="no entry with seq 2",
            to_seq=5,
            notes=("first note", "second"),
        )
        stored = await record_verification(db, bad, now=clock.now())
        latest = await last_verification(db)
        assert latest is not None
        assert (latest.id, latest.verified_at, latest.report) == (stored.id, stored.verified_at, bad)
        assert latest.report.to_dict()["kind"] == "missing"
