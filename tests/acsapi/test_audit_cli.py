"""`rodistaa audit verify|export|checkpoint`, driven in-process against a throw-away SQLite file.

Entries are appended with the library (`append_standalone`) on the same database the commands
read; tampering is done the way an attacker with database access would: with sqlite3, after
dropping the trigger that refuses updates of audit_log.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner, Result

from rodistaa import cli
from rodistaa.acs.audit import AuditEntryDraft, StoredVerification, append_standalone, last_verification
from rodistaa.db.engine import Database, create_engine
from rodistaa.settings import Settings

T = TypeVar("T")
# Created by migration 0002_audit (SQLite): refuses every UPDATE of audit_log.
UPDATE_TRIGGER = "audit_log_no_update"
FAILED = r"FAILED at seq {seq}: {kind}: "


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "audit.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("ENV", "development")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def migrated(runner: CliRunner, db_path: Path) -> Path:
    result = invoke(runner, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return db_path


def invoke(runner: CliRunner, *args: str | Path) -> Result:
    return runner.invoke(cli.app, [str(arg) for arg in args])


def with_db(path: Path, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(create_engine(f"sqlite+aiosqlite:///{path}"))
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def append_entries(path: Path, count: int) -> None:
    start = datetime.now(UTC) - timedelta(minutes=count)

    async def work(db: Database) -> None:
        for i in range(1, count + 1):
            draft = AuditEntryDraft(
                actor="system:test",
                action="test.recorded",
                entity_type="booking",
                entity_id=f"BK-TEST-{i}",
                data={"step": i, "label": f"entry-{i}"},
            )
            entry = await append_standalone(db, draft, now=start + timedelta(minutes=i))
            assert entry.seq == i

    with_db(path, work)


def stored_verification(path: Path) -> StoredVerification | None:
    return with_db(path, last_verification)


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def ok_line(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    match = re.search(r"^OK \d+ entries, last seq \S+, \d+ checkpoints$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return match[0]


def checkpoint(runner: CliRunner) -> Result:
    result = invoke(runner, "audit", "checkpoint")
    assert result.exit_code == 0, result.output
    return result


def export(runner: CliRunner, out: Path) -> dict[str, Any]:
    result = invoke(runner, "audit", "export", "--out", out)
    assert result.exit_code == 0, result.output
    summary = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(summary) == 1, result.stdout
    return json.loads(summary[0])


def export_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fails_at(result: Result, seq: int | None, kind: str) -> str:
    assert result.exit_code == 1, (result.output, result.exception)
    pattern = FAILED.format(seq=seq, kind=kind)
    match = re.search(rf"^{pattern}.*$", result.stderr, re.MULTILINE)
    assert match, result.stderr
    assert "OK" not in result.stdout
    return match[0]


class TestCheckpoint:
    def test_empty_chain_has_nothing_to_checkpoint(self, runner: CliRunner, migrated: Path) -> None:
        result = checkpoint(runner)
        assert result.stdout.strip().splitlines()[-1].startswith("nothing to checkpoint")
        assert query(migrated, "SELECT COUNT(*) FROM audit_checkpoints") == [(0,)]

    def test_signs_the_head(self, runner: CliRunner, migrated: Path) -> None:
        append_entries(migrated, 3)

        result = checkpoint(runner)

        match = re.search(r"^checkpoint at seq (\d+) signed with (\S+)$", result.stdout, re.MULTILINE)
        assert match, result.stdout
        assert match[1] == "3"
        head_hash = query(migrated, "SELECT hash FROM audit_log WHERE seq = 3")[0][0]
        assert query(migrated, "SELECT seq, hash, key_ref FROM audit_checkpoints") == [
            (3, head_hash, match[2])
        ]

    def test_a_signed_head_is_not_signed_twice(self, runner: CliRunner, migrated: Path) -> None:
        append_entries(migrated, 2)
        assert "checkpoint at seq 2" in checkpoint(runner).stdout

        again = checkpoint(runner)

        assert "nothing to checkpoint" in again.stdout
        assert query(migrated, "SELECT seq FROM audit_checkpoints") == [(2,)]


class TestVerifyDatabase:
    def test_intact_chain_verifies_and_the_run_is_recorded(self, runner: CliRunner, migrated: Path) -> None:
        append_entries(migrated, 3)
        checkpoint(runner)
        assert stored_verification(migrated) is None

        line = ok_line(invoke(runner, "audit", "verify"))

        assert line == "OK 3 entries, last seq 3, 1 checkpoints"
        stored = stored_verification(migrated)
        assert stored is not None
        assert stored.report.ok
        assert stored.report.count == 3
        assert stored.report.last_seq == 3
        assert stored.report.checkpoints == 1

    def test_empty_chain_verifies(self, runner: CliRunner, migrated: Path) -> None:
        assert ok_line(invoke(runner, "audit", "verify")).startswith("OK 0 entries")

    def test_a_partial_range_is_verified_but_not_recorded(self, runner: CliRunner, migrated: Path) -> None:
        append_entries(migrated, 4)

        result = invoke(runner, "audit", "verify", "--from", "2", "--to", "3")

        assert ok_line(result).startswith("OK 2 entries, last seq 3")
        assert "note: anchored on the stored hash of seq 1" in result.stdout
        assert stored_verification(migrated) is None

    def test_update_of_an_entry_is_refused_by_the_database(self, migrated: Path) -> None:
        append_entries(migrated, 2)
        conn = sqlite3.connect(migrated)
        try:
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute("UPDATE audit_log SET data = '{}' WHERE seq = 1")
        finally:
            conn.close()

    def test_modified_entry_is_named(self, runner: CliRunner, migrated: Path) -> None:
        append_entries(migrated, 3)
        checkpoint(runner)
        original = query(migrated, "SELECT data FROM audit_log WHERE seq = 2")[0][0]
        assert '"entry-2"' in original
        conn = sqlite3.connect(migrated)
        try:
            conn.execute(f"DROP TRIGGER {UPDATE_TRIGGER}")
            conn.execute(
                "UPDATE audit_log SET data = ? WHERE seq = 2", (original.replace("entry-2", "entry-X"),)
            )
            conn.commit()
        finally:
            conn.close()

        line = fails_at(invoke(runner, "audit", "verify"), 2, "modified")

        assert "seq 2" in line
        stored = stored_verification(migrated)
        assert stored is not None
        assert not stored.report.ok
        assert stored.report.first_bad_seq == 2
        assert stored.report.kind is not None and stored.report.kind.value == "modified"
        assert stored.report.count == 1  # what verified before the bad entry


class TestExport:
    def test_export_then_verify_the_file(self, runner: CliRunner, migrated: Path, tmp_path: Path) -> None:
        append_entries(migrated, 3)
        checkpoint(runner)
        out = tmp_path / "f.jsonl"

        summary = export(runner, out)

        assert summary == {"file": str(out), "entries": 3, "checkpoints": 1}
        lines = export_lines(out)
        assert lines[0]["format"] == "rodistaa-audit-export-v1"
        assert [line["seq"] for line in lines[1:4]] == [1, 2, 3]
        assert lines[4]["checkpoint"]["seq"] == 3
        result = invoke(runner, "audit", "verify", "--file", out)
        assert ok_line(result) == "OK 3 entries, last seq 3, 1 checkpoints"
        assert "no trusted keys given" in result.stdout

    def test_verifying_a_file_needs_no_database(
        self, runner: CliRunner, migrated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        append_entries(migrated, 2)
        checkpoint(runner)
        out = tmp_path / "f.jsonl"
        export(runner, out)
        monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'absent' / 'none.db'}")

        assert ok_line(invoke(runner, "audit", "verify", "--file", out)).startswith("OK 2 entries")

    def test_tampered_entry_line_is_named(self, runner: CliRunner, migrated: Path, tmp_path: Path) -> None:
        append_entries(migrated, 3)
        checkpoint(runner)
        out = tmp_path / "f.jsonl"
        export(runner, out)
        lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
        assert '"label":"entry-2"' in lines[2]
        lines[2] = lines[2].replace('"label":"entry-2"', '"label":"entry-X"')
        out.write_text("".join(lines), encoding="utf-8")

        fails_at(invoke(runner, "audit", "verify", "--file", out), 2, "modified")

    def test_the_right_trusted_key_verifies(self, runner: CliRunner, migrated: Path, tmp_path: Path) -> None:
        append_entries(migrated, 2)
        checkpoint(runner)
        out = tmp_path / "f.jsonl"
        export(runner, out)
        ((key_ref, key),) = export_lines(out)[0]["publicKeys"].items()

        result = invoke(runner, "audit", "verify", "--file", out, "--trusted-key", f"{key_ref}={key}")

        assert ok_line(result) == "OK 2 entries, last seq 2, 1 checkpoints"
        assert "no trusted keys given" not in result.stdout

    def test_a_wrong_trusted_key_is_a_bad_signature(
        self, runner: CliRunner, migrated: Path, tmp_path: Path
    ) -> None:
        append_entries(migrated, 2)
        checkpoint(runner)
        out = tmp_path / "f.jsonl"
        export(runner, out)
        key_ref = next(iter(export_lines(out)[0]["publicKeys"]))
        other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        wrong = base64.b64encode(other).decode()

        result = invoke(runner, "audit", "verify", "--file", out, "--trusted-key", f"{key_ref}={wrong}")

        fails_at(result, 2, "bad_signature")

    @pytest.mark.parametrize("value", ["no-equals-sign", "local-dev/v1=not*base64"])
    def test_unusable_trusted_key_is_a_usage_error(
        self, runner: CliRunner, migrated: Path, tmp_path: Path, value: str
    ) -> None:
        append_entries(migrated, 1)
        out = tmp_path / "f.jsonl"
        export(runner, out)

        result = invoke(runner, "audit", "verify", "--file", out, "--trusted-key", value)

        assert result.exit_code == 2, (result.output, result.exception)
        assert "--trusted-key" in result.stderr
