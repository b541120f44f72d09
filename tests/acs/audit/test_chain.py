"""Appending: gapless seq, hash links per ACS.md §5, the append lock, append-only tables and
refusal of personal data. Every database test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import re
from datetime import datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from rodistaa.acs.audit import AuditEntryDraft, append, append_standalone, create_checkpoint, verify_chain
from rodistaa.acs.audit.canonical import GENESIS_HASH
from rodistaa.acs.audit.privacy import ensure_no_personal_data
from rodistaa.acs.audit.repo import list_entries
from rodistaa.acs.audit.tables import audit_log
from rodistaa.core.ids import is_prefixed_ulid
from rodistaa.db.engine import Database
from rodistaa.security.kms import LocalKms
from tests.acs.audit.conftest import StepClock
from tests.acs.audit.helpers import BUNDLE_REVISION, draft, rows


def _spec_hash(row: dict[str, object]) -> str:
    """ACS.md §5 written out independently of the implementation."""
    body = {
        "seq": row["seq"],
        "id": row["id"],
        "at": row["at"],
        "actor": row["actor"],
        "action": row["action"],
        "entityType": row["entity_type"],
        "entityId": row["entity_id"],
        "ruleId": row["rule_id"],
        "ruleVersion": row["rule_version"],
        "bundleRevision": row["bundle_revision"],
        "data": json.loads(str(row["data"])),
        "prevHash": row["prev_hash"],
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(
        b"rodistaa-audit-v1\n" + str(row["prev_hash"]).encode() + canonical.encode()
    ).hexdigest()


async def _append_then_fail(db: Database, clock: StepClock) -> None:
    async with db.transaction() as conn:
        await append(conn, draft(2), now=clock.now())
        raise RuntimeError("business failure")


class TestAppend:
    async def test_entries_are_gapless_linked_and_verify(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        entries = [await append_standalone(db, draft(n, città="Pune"), now=clock.now()) for n in range(1, 8)]
        assert [e.seq for e in entries] == list(range(1, 8))
        stored = await rows(db)
        assert [r["seq"] for r in stored] == list(range(1, 8))
        assert stored[0]["prev_hash"] == GENESIS_HASH
        for previous, row in itertools.pairwise(stored):
            assert row["prev_hash"] == previous["hash"]
        for row, entry in zip(stored, entries, strict=True):
            assert row["hash"] == _spec_hash(row) == entry.hash
            assert is_prefixed_ulid(row["id"], "AUD")
        report = await verify_chain(db, kms)
        assert report.ok, report
        assert (report.count, report.last_seq, report.last_hash) == (7, 7, entries[-1].hash)

    async def test_entries_imitating_the_chain_fields_hash_as_the_spec_says(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        """On PostgreSQL the server hashes the canonical text built around prevHash and seq: data
        and a rule id that imitate those fields must not move the split (nor fail the append)."""
        tricky = {"prevHash": "@prev@", "seq": 0, "note": '"prevHash":"@prev@","ruleId":"x"}'}
        first = await append_standalone(db, draft(1, **tricky), now=clock.now())
        second = await append_standalone(db, dataclasses.replace(draft(2), rule_id="@prev@"), now=clock.now())
        stored = await rows(db)
        assert [row["hash"] for row in stored] == [first.hash, second.hash]
        assert all(row["hash"] == _spec_hash(row) for row in stored)
        assert (await verify_chain(db, kms)).ok

    async def test_stored_form_is_canonical_and_exact(self, db: Database, clock: StepClock) -> None:
        entry = await append_standalone(db, draft(1, z={"b": 1, "a": [2, "é"]}), now=clock.now())
        [row] = await rows(db)
        assert row["data"] == '{"n":1,"outcome":"ALLOW","z":{"a":[2,"é"],"b":1}}'
        assert row["at"] == entry.at == "2025-01-02T03:04:05.679901Z"
        assert row["bundle_revision"] == BUNDLE_REVISION
        assert entry.to_dict()["entityId"] == "EVT-0001"
        assert entry.data["z"] == {"a": [2, "é"], "b": 1}

    async def test_optional_fields_may_be_null(self, db: Database, kms: LocalKms, clock: StepClock) -> None:
        admin = "USR-AD-01J00000000000000000000000"
        plain = AuditEntryDraft(actor=admin, action="user.login", entity_type="user", entity_id=admin)
        entry = await append_standalone(db, plain, now=clock.now())
        assert (entry.rule_id, entry.rule_version, entry.bundle_revision, entry.data) == (
            None,
            None,
            None,
            {},
        )
        assert (await verify_chain(db, kms)).ok

    async def test_append_inside_the_callers_transaction(self, db: Database, clock: StepClock) -> None:
        async with db.transaction() as conn:
            first = await append(conn, draft(1), now=clock.now())
            second = await append(conn, draft(2), now=clock.now())
        assert (first.seq, second.seq, second.prev_hash) == (1, 2, first.hash)

    async def test_a_rolled_back_append_leaves_no_gap(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        await append_standalone(db, draft(1), now=clock.now())
        with pytest.raises(RuntimeError, match="business failure"):
            await _append_then_fail(db, clock)
        after = await append_standalone(db, draft(3), now=clock.now())
        assert after.seq == 2
        assert [r["entity_id"] for r in await rows(db)] == ["EVT-0001", "EVT-0003"]
        assert (await verify_chain(db, kms)).ok

    async def test_concurrent_appends_in_one_process(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        entries = await asyncio.gather(*(append_standalone(db, draft(n), now=clock.now()) for n in range(20)))
        assert sorted(e.seq for e in entries) == list(range(1, 21))
        assert len({e.prev_hash for e in entries}) == 20
        assert (await verify_chain(db, kms)).count == 20

    async def test_the_database_refuses_a_second_entry_on_the_same_parent(
        self, db: Database, clock: StepClock
    ) -> None:
        # Even a writer bypassing the head lock cannot fork: UNIQUE(prev_hash) and the seq key.
        first = await append_standalone(db, draft(1), now=clock.now())
        values = {"seq": 2, "id": "AUD-X", "at": first.at, "actor": "a", "action": "b", "entity_type": "c",
                  "entity_id": "d", "data": "{}", "prev_hash": GENESIS_HASH, "hash": "f" * 64}  # fmt: skip
        with pytest.raises(IntegrityError):
            async with db.transaction() as conn:
                await conn.execute(insert(audit_log).values(**values))


class TestListing:
    async def test_newest_first_with_filters_and_total(self, db: Database, clock: StepClock) -> None:
        for n in range(1, 6):
            await append_standalone(db, draft(n % 2), now=clock.now())
        async with db.read() as conn:
            page, total = await list_entries(conn, entity_type="event", entity_id="EVT-0001", limit=2)
            everything, all_total = await list_entries(conn, offset=1, limit=10)
            none, zero = await list_entries(conn, actor="nobody")
        assert ([e.seq for e in page], total) == ([5, 3], 3)
        assert ([e.seq for e in everything], all_total) == ([4, 3, 2, 1], 5)
        assert (none, zero) == ([], 0)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
class TestAppendLockOnPostgres:
    async def test_lock_is_taken_by_the_append_not_by_the_business_transaction(
        self, db: Database, clock: StepClock
    ) -> None:
        async with db.transaction() as business:
            await business.execute(text("SELECT 1"))  # business work, no append yet
            other = await asyncio.wait_for(append_standalone(db, draft(1), now=clock.now()), timeout=5)
            assert other.seq == 1
            mine = await append(business, draft(2), now=clock.now())
            waiting = asyncio.create_task(append_standalone(db, draft(3), now=clock.now()))
            await asyncio.sleep(0.3)
            assert not waiting.done(), "a second appender must wait for the head lock"
        third = await asyncio.wait_for(waiting, timeout=5)
        assert (mine.seq, third.seq, third.prev_hash) == (2, 3, mine.hash)


REFUSED_STATEMENTS = [
    "UPDATE audit_log SET data = '{}' WHERE seq = 1",
    "UPDATE audit_log SET seq = 5 WHERE seq = 1",
    "DELETE FROM audit_log WHERE seq = 1",
    "DELETE FROM audit_log",
    "UPDATE audit_checkpoints SET hash = hash",
    "DELETE FROM audit_checkpoints",
    "DELETE FROM audit_head",
    "UPDATE audit_head SET seq = 0",
    "UPDATE audit_head SET seq = seq + 2",
]


async def _refused(db: Database, statement: str) -> str | None:
    """The driver's error message, or None if the database accepted the statement."""
    try:
        async with db.transaction() as conn:
            await conn.execute(text(statement))
    except DBAPIError as exc:
        return str(exc.orig)
    return None


class TestAppendOnlyTables:
    async def test_the_database_refuses_updates_and_deletes(
        self, db: Database, kms: LocalKms, clock: StepClock
    ) -> None:
        await append_standalone(db, draft(1), now=clock.now())
        assert await create_checkpoint(db, kms, now=clock.now()) is not None
        for statement in REFUSED_STATEMENTS:
            error = await _refused(db, statement)
            assert error is not None, f"accepted: {statement}"
            assert re.search(r"append-only|cannot be deleted|only moves forward", error), error
        assert len(await rows(db)) == 1
        report = await verify_chain(db, kms)
        assert (report.ok, report.count, report.checkpoints) == (True, 1, 1)
        # The head still moves forward by one through an append.
        assert (await append_standalone(db, draft(2), now=clock.now())).seq == 2

    @pytest.mark.parametrize("backend", ["postgres"], indirect=True)
    async def test_truncate_is_refused_on_postgres(self, db: Database, clock: StepClock) -> None:
        await append_standalone(db, draft(1), now=clock.now())
        for table in ("audit_log", "audit_checkpoints", "audit_head"):
            error = await _refused(db, f"TRUNCATE {table}")
            assert error is not None and "append-only" in error, table
        assert len(await rows(db)) == 1


class TestPersonalData:
    @pytest.mark.parametrize(
        "data",
        [
            {"mobile": "+919876543210"},
            {"note": "call 98765 43210"},
            {"contact": "ravi@example.com"},
            {"aadhaar": "1234 5678 9012"},
            {"pan": "ABCPE1234F"},
            {"nested": {"list": ["ok", {"deep": "9876543210"}]}},
            {"ravi@example.com": 1},
            {"mobile": 9876543210},
            {"aadhaar": 123456789012},
            {"token": "Bearer abc.def"},
            {"ids": ["9876543210-01J0000000000000000000000"]},
        ],
    )
    def test_personal_data_is_recognised(self, data: dict[str, object]) -> None:
        with pytest.raises(ValueError, match="data"):
            ensure_no_personal_data(data)

    async def test_entries_refuse_personal_data(self, db: Database, clock: StepClock) -> None:
        with pytest.raises(ValueError, match=r"data\.customer"):
            await append_standalone(db, draft(1, customer="ravi@example.com"), now=clock.now())
        assert await rows(db) == []
        # The head is untouched: the next append is seq 1.
        assert (await append_standalone(db, draft(2), now=clock.now())).seq == 1

    def test_the_refusal_names_the_path_not_the_value(self) -> None:
        with pytest.raises(ValueError, match=r"data\.payer\.contact") as caught:
            ensure_no_personal_data({"payer": {"contact": "9876543210"}})
        assert "9876543210" not in str(caught.value)

    @pytest.mark.parametrize(
        "data",
        [
            {"bidId": "BID-01J9Z8Y7X6W5V4T3S2R1Q0P9N8", "userId": "USR-SH-01J9Z8Y7X6W5V4T3S2R1Q0P9N8"},
            {"digest": "0123456789" + "ab" * 27},  # a hash with a 10-digit run is still a hash
            {"bookingId": "RID-20250102-0001", "amountPaise": 125_000_00, "epochS": 1_735_787_045},
            # Amounts named as such may have any size: ₹6 crore is 10 digits starting with 6.
            {"balanceAfterPaise": 6_000_000_000, "amount_paise": 987_654_321_012},
            {"ratio": 0.25, "flag": True, "none": None, "reasonPaths": ["operator.ledgerBalance"]},
            {"code": "LEDGER_INSUFFICIENT", "message": "Insufficient ledger balance"},
        ],
    )
    def test_ids_hashes_and_numbers_are_allowed(self, data: dict[str, object]) -> None:
        ensure_no_personal_data(data)

    async def test_invalid_drafts_are_refused_before_the_lock(self, db: Database, clock: StepClock) -> None:
        cases = [
            (AuditEntryDraft(actor="", action="a", entity_type="e", entity_id="i"), "actor"),
            (AuditEntryDraft(actor="a", action="x" * 65, entity_type="e", entity_id="i"), "action"),
            (
                AuditEntryDraft(actor="a", action="a", entity_type="e", entity_id="i", bundle_revision="x"),
                "bundle",
            ),
            (
                AuditEntryDraft(
                    actor="a", action="a", entity_type="e", entity_id="i", data={"t": float("nan")}
                ),
                "JSON",
            ),
            (
                AuditEntryDraft(actor="a", action="a", entity_type="e", entity_id="i", data={"b": b"x"}),
                "data.b",
            ),
        ]
        for bad, problem in cases:
            with pytest.raises(ValueError, match=problem):
                await append_standalone(db, bad, now=clock.now())
        assert await rows(db) == []

    async def test_naive_time_is_refused(self, db: Database) -> None:
        with pytest.raises(ValueError, match="timezone"):
            await append_standalone(db, draft(1), now=datetime(2025, 1, 1))
