"""`rodistaa backup create|restore|verify` on SQLite and PostgreSQL, driven through the CLI: a
database populated through the API is backed up, restored into a new empty database where
`rodistaa audit verify` and `rodistaa backup verify` pass and the app serves the restored data;
then every way a restore can differ from its backup makes verification fail, and every unsafe
restore is refused before it writes anything."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from rodistaa import __version__
from rodistaa.acs.audit import AuditEntryDraft, append_standalone
from rodistaa.db import migrate
from rodistaa.db.engine import Database, create_engine
from tests.api.flows import sign_in
from tests.api.kyc_flows import KYC_ADMIN_MOBILE
from tests.backup.conftest import (
    Populated,
    create_backup_via_cli,
    execute,
    invoke,
    query,
    restore_via_cli,
    verify_via_cli,
)
from tests.conftest import make_settings, running_app

# Compared row by row between the source and the restored database.
COMPARED_TABLES = {
    "users": "id",
    "kyc_documents": "id",
    "user_data_keys": "user_id",
    "bookings": "id",
    "audit_log": "seq",
    "audit_checkpoints": "seq",
    "audit_head": "id",
}
CHECKS = [
    "backup files",
    "migration revision",
    "row counts",
    "audit chain",
    "audit head",
    "latest checkpoint",
    "stored files",
]
PURPOSE = "Restore drill: compare the restored document with the original"


def manifest_of(backup: Path) -> dict[str, Any]:
    return dict(json.loads((backup / "manifest.json").read_text()))


def check_lines(stdout: str) -> dict[str, tuple[str, str]]:
    """{check name: (ok|FAIL, detail)} from `backup verify` output."""
    lines = {}
    for line in stdout.splitlines():
        status, _, rest = line.partition(" ")
        if status in {"ok", "FAIL"}:
            name, _, detail = rest.strip().partition(": ")
            lines[name] = (status, detail)
    return lines


def assert_only_failing(result: Any, *failing: str) -> dict[str, tuple[str, str]]:
    assert result.exit_code == 1, (result.output, result.exception)
    checks = check_lines(result.stdout)
    assert list(checks) == CHECKS, result.stdout
    assert {name for name, (status, _) in checks.items() if status == "FAIL"} == set(failing), result.stdout
    assert f"FAILED ({', '.join(failing)}): the database does not match backup" in result.stderr
    return checks


def table_count(database_url: str) -> int:
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        if not path.exists():
            return 0
        sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    return int(query(database_url, sql)[0][0])


def row_counts(database_url: str) -> dict[str, int]:
    return {
        table: query(database_url, f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608 - fixed names
        for table in COMPARED_TABLES
    }


def storage_keys(database_url: str) -> list[str]:
    return [
        key for (key,) in query(database_url, "SELECT storage_key FROM kyc_documents ORDER BY storage_key")
    ]


def wrap_tool(monkeypatch: pytest.MonkeyPatch, shims: Path, tool: str, body: str) -> None:
    """Put a shell script named `tool` first on PATH."""
    shims.mkdir(exist_ok=True)
    script = shims / tool
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    if not os.environ["PATH"].startswith(f"{shims}{os.pathsep}"):
        monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")


def restored(runner: CliRunner, backup: Path, target: str, storage: Path) -> None:
    result = restore_via_cli(runner, backup, target, storage)
    assert result.exit_code == 0, (result.output, result.exception)


class TestCreate:
    def test_manifest_describes_the_database_the_files_and_the_audit_chain(
        self, runner: CliRunner, cli_env: Path, populated: Populated
    ) -> None:
        backup = create_backup_via_cli(runner)
        assert backup.parent == cli_env
        assert backup.stat().st_mode & 0o777 == 0o700
        manifest = manifest_of(backup)
        source = populated.database_url

        assert manifest["app_version"] == __version__
        assert manifest["database_kind"] == ("sqlite" if populated.backend == "sqlite" else "postgresql")
        database = manifest["database"]
        assert database["alembic_revision"] == migrate.head_revision()
        for table in (*COMPARED_TABLES, "acs_events", "refresh_tokens", "otp_codes"):
            [(count,)] = query(source, f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
            assert database["row_counts"][table] == count, table
        assert database["row_counts"]["kyc_documents"] == 2
        assert database["row_counts"]["bookings"] == 2
        [(head_seq, head_hash)] = query(source, "SELECT seq, hash FROM audit_head")
        assert database["audit_head"] == {"seq": head_seq, "hash": head_hash}
        [checkpoint] = query(source, "SELECT seq, hash, at, key_ref, signature FROM audit_checkpoints")
        assert database["latest_checkpoint"] == dict(
            zip(("seq", "hash", "at", "key_ref", "signature"), checkpoint, strict=True)
        )
        assert checkpoint[0] == populated.checkpoint_seq < head_seq

        keys = storage_keys(source)
        assert manifest["storage"] == {"backend": "local", "file_count": 2, "bucket": None, "prefix": None}
        dump = manifest["database_file"]
        assert set(manifest["files"]) == {dump, *(f"files/{key}" for key in keys)}
        for name, digest in manifest["files"].items():
            assert hashlib.sha256((backup / name).read_bytes()).hexdigest() == digest
        for key in keys:
            assert (backup / "files" / key).read_bytes() == (populated.storage_dir / key).read_bytes()
        assert "postgres@" not in json.dumps(manifest) and "sqlite+" not in json.dumps(manifest)

    def test_out_option_chooses_the_directory(self, runner: CliRunner, cli_env: Path, tmp_path: Path) -> None:
        result = invoke(runner, "backup", "create", "--out", tmp_path / "elsewhere")
        assert result.exit_code == 0, result.output
        [backup] = (tmp_path / "elsewhere").iterdir()
        assert (backup / "manifest.json").is_file()
        assert not cli_env.exists()

    def test_a_failed_database_copy_leaves_nothing_behind(
        self,
        runner: CliRunner,
        cli_env: Path,
        populated: Populated,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        if populated.backend == "sqlite":
            monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}")
            expected = "cannot open the SQLite database"
        else:
            body = "echo 'pg_dump: error: connection to server lost' >&2; exit 1"
            wrap_tool(monkeypatch, tmp_path / "shims", "pg_dump", body)
            expected = "pg_dump exited with 1: pg_dump: error: connection to server lost"

        result = invoke(runner, "backup", "create")

        assert result.exit_code == 1, result.output
        assert expected in result.stderr
        assert list(cli_env.iterdir()) == []  # neither a backup nor a partial directory
        assert not (tmp_path / "missing.db").exists()


class TestRestoreAndVerify:
    def test_restored_database_verifies_and_serves_the_restored_data(
        self,
        runner: CliRunner,
        cli_env: Path,
        populated: Populated,
        target: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        backup = create_backup_via_cli(runner)
        storage = tmp_path / "restored-storage"

        result = restore_via_cli(runner, backup, target, storage)
        assert result.exit_code == 0, (result.output, result.exception)
        assert "stored files: 2 restored" in result.stdout

        for table, key in COMPARED_TABLES.items():
            sql = f"SELECT * FROM {table} ORDER BY {key}"  # noqa: S608 - fixed names
            assert query(target, sql) == query(populated.database_url, sql), table
        for key in storage_keys(target):
            assert (storage / key).read_bytes() == (populated.storage_dir / key).read_bytes()

        verified = verify_via_cli(runner, backup, target, storage)
        assert verified.exit_code == 0, (verified.output, verified.exception)
        checks = check_lines(verified.stdout)
        assert list(checks) == CHECKS
        assert all(status == "ok" for status, _ in checks.values()), verified.stdout
        [(head_seq,)] = query(target, "SELECT seq FROM audit_head")
        assert checks["audit chain"][1] == f"{head_seq} entries, last seq {head_seq}, 1 checkpoints verified"

        monkeypatch.setenv("DATABASE_URL", target)
        audit = invoke(runner, "audit", "verify")
        assert audit.exit_code == 0, (audit.output, audit.exception)
        assert f"OK {head_seq} entries, last seq {head_seq}, 1 checkpoints" in audit.stdout
        # `audit verify` records itself in audit_verifications; backup verify allows for that.
        again = verify_via_cli(runner, backup, target, storage)
        assert again.exit_code == 0, again.output

        # The restored append-only triggers still refuse rewriting history.
        with pytest.raises(DBAPIError, match=r"append-only|refuse"):
            execute(target, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1")

        asyncio.run(self._decrypt_restored_document(target, storage, populated))

    @staticmethod
    async def _decrypt_restored_document(database_url: str, storage: Path, populated: Populated) -> None:
        """The app on the restored database and storage opens a restored KYC file (its data
        key and the ciphertext both came back)."""
        async with running_app(make_settings(database_url, storage_local_dir=str(storage))) as h:
            kyc_admin = await sign_in(h, KYC_ADMIN_MOBILE)
            for kyc_id, content in populated.documents.items():
                response = await h.client.post(
                    "/v1/admin/kyc/decrypt",
                    json={"kycId": kyc_id, "purpose": PURPOSE},
                    headers=kyc_admin.headers,
                )
                assert response.status_code == 200, response.text
                assert base64.b64decode(response.json()["fileBase64"]) == content

    def test_a_changed_stored_file_fails_verification(
        self, runner: CliRunner, cli_env: Path, target: str, tmp_path: Path
    ) -> None:
        backup = create_backup_via_cli(runner)
        storage = tmp_path / "restored-storage"
        restored(runner, backup, target, storage)
        key = storage_keys(target)[0]
        data = bytearray((storage / key).read_bytes())
        data[-1] ^= 0x01
        (storage / key).write_bytes(bytes(data))

        checks = assert_only_failing(verify_via_cli(runner, backup, target, storage), "stored files")
        assert checks["stored files"][1] == f"{key}: SHA-256 differs from the backup"

    def test_a_missing_stored_file_fails_verification(
        self, runner: CliRunner, cli_env: Path, target: str, tmp_path: Path
    ) -> None:
        backup = create_backup_via_cli(runner)
        storage = tmp_path / "restored-storage"
        restored(runner, backup, target, storage)
        key = storage_keys(target)[1]
        (storage / key).unlink()

        checks = assert_only_failing(verify_via_cli(runner, backup, target, storage), "stored files")
        assert checks["stored files"][1] == f"{key}: missing"

    def test_a_changed_file_in_the_backup_fails_verification(
        self, runner: CliRunner, cli_env: Path, target: str, tmp_path: Path
    ) -> None:
        backup = create_backup_via_cli(runner)
        storage = tmp_path / "restored-storage"
        restored(runner, backup, target, storage)
        dump = backup / manifest_of(backup)["database_file"]
        dump.write_bytes(dump.read_bytes() + b"\x00")

        checks = assert_only_failing(verify_via_cli(runner, backup, target, storage), "backup files")
        assert checks["backup files"][1] == f"{dump.name}: SHA-256 differs from the manifest"

    def test_a_database_that_moved_on_fails_verification(
        self, runner: CliRunner, cli_env: Path, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """One more audit entry and a newer checkpoint: the chain itself still verifies, but it
        is not the chain of the backup."""
        backup = create_backup_via_cli(runner)
        storage = tmp_path / "restored-storage"
        restored(runner, backup, target, storage)
        [(entries,)] = query(target, "SELECT count(*) FROM audit_log")
        asyncio.run(_append_entry(target))
        monkeypatch.setenv("DATABASE_URL", target)
        assert invoke(runner, "audit", "checkpoint").exit_code == 0

        checks = assert_only_failing(
            verify_via_cli(runner, backup, target, storage), "row counts", "audit head", "latest checkpoint"
        )
        assert checks["row counts"][1] == (
            "audit_checkpoints: 2 rows, the backup has 1; "
            f"audit_log: {entries + 1} rows, the backup has {entries}"
        )
        assert checks["audit chain"][0] == "ok"

    def test_a_rewritten_audit_entry_fails_both_verifications(
        self,
        runner: CliRunner,
        cli_env: Path,
        populated: Populated,
        target: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        backup = create_backup_via_cli(runner)
        storage = tmp_path / "restored-storage"
        restored(runner, backup, target, storage)
        disable, enable = (
            ("DROP TRIGGER audit_log_no_update", "SELECT 1")
            if populated.backend == "sqlite"
            else (
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only",
            )
        )
        execute(target, disable, "UPDATE audit_log SET actor = 'forged' WHERE seq = 2", enable)

        checks = assert_only_failing(verify_via_cli(runner, backup, target, storage), "audit chain")
        assert checks["audit chain"][1].startswith("FAILED at seq 2: modified: ")
        monkeypatch.setenv("DATABASE_URL", target)
        audit = invoke(runner, "audit", "verify")
        assert audit.exit_code == 1
        assert "FAILED at seq 2: modified" in audit.stderr


class TestStorageAndCredentials:
    def test_s3_storage_is_named_in_the_manifest_not_copied(
        self, runner: CliRunner, cli_env: Path, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("STORAGE_BACKEND", "s3")
        monkeypatch.setenv("S3_BUCKET", "rodistaa-documents")
        monkeypatch.setenv("S3_PREFIX", "prod")
        backup = create_backup_via_cli(runner)
        manifest = manifest_of(backup)
        assert manifest["storage"] == {
            "backend": "s3",
            "file_count": 0,
            "bucket": "rodistaa-documents",
            "prefix": "prod",
        }
        assert list(manifest["files"]) == [manifest["database_file"]]
        assert not (backup / "files").exists()

        storage = tmp_path / "restored-storage"
        result = restore_via_cli(runner, backup, target, storage)
        assert result.exit_code == 0, result.output
        assert "stored files: kept in S3 bucket rodistaa-documents, nothing to copy" in result.stdout
        assert not storage.exists()
        verified = verify_via_cli(runner, backup, target, storage)
        assert verified.exit_code == 0, verified.output
        assert check_lines(verified.stdout)["stored files"] == (
            "ok",
            "kept in S3 bucket rodistaa-documents (its versioning is their backup); not checked",
        )

    def test_postgres_password_reaches_the_tools_only_through_their_environment(
        self,
        runner: CliRunner,
        cli_env: Path,
        populated: Populated,
        target: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """pg_dump and pg_restore are wrapped by scripts that record their arguments and
        PGPASSWORD: the password (URL-escaped characters included) is in the environment, never
        on a command line, and never in the output, the logs or the manifest. The server trusts
        local connections, so any password connects."""
        if populated.backend != "postgres":
            pytest.skip("pg_dump and pg_restore are used for PostgreSQL only")
        password = "S3cret:pw@with/odd%chars"
        source = make_url(populated.database_url).set(password=password).render_as_string(hide_password=False)
        restore_target = make_url(target).set(password=password).render_as_string(hide_password=False)
        shims = tmp_path / "shims"
        for tool in ("pg_dump", "pg_restore"):
            wrap_tool(
                monkeypatch,
                shims,
                tool,
                f'printf "%s\\n" "$@" > "{shims}/{tool}.args"\n'
                f'printf "%s" "$PGPASSWORD" > "{shims}/{tool}.password"\n'
                f'exec {shutil.which(tool)} "$@"',
            )
        monkeypatch.setenv("DATABASE_URL", source)
        created = invoke(runner, "backup", "create")
        assert created.exit_code == 0, created.output
        backup = Path(created.stdout.splitlines()[0].removeprefix("created "))
        # The target from the environment variable: nothing secret on the rodistaa command line.
        monkeypatch.setenv("RESTORE_DATABASE_URL", restore_target)
        restored = invoke(runner, "backup", "restore", backup, "--storage-dir", tmp_path / "restored-storage")
        assert restored.exit_code == 0, restored.output

        for tool in ("pg_dump", "pg_restore"):
            arguments = (shims / f"{tool}.args").read_text()
            assert password not in arguments and "postgresql" not in arguments, arguments
            assert (shims / f"{tool}.password").read_text() == password
        for text in (created.output, restored.output, (backup / "manifest.json").read_text()):
            assert password not in text
            assert "S3cret" not in text


class TestRestoreRefusals:
    def test_a_database_with_tables_is_refused(
        self, runner: CliRunner, cli_env: Path, populated: Populated, tmp_path: Path
    ) -> None:
        backup = create_backup_via_cli(runner)
        before = row_counts(populated.database_url)

        result = restore_via_cli(runner, backup, populated.database_url, tmp_path / "restored-storage")

        assert result.exit_code == 2, result.output
        assert "the target database is not empty" in result.stderr
        assert "restore only into a new, empty database" in result.stderr
        assert row_counts(populated.database_url) == before
        assert not (tmp_path / "restored-storage").exists()

    def test_an_existing_stored_file_is_refused_before_the_database_is_touched(
        self, runner: CliRunner, cli_env: Path, populated: Populated, target: str, tmp_path: Path
    ) -> None:
        backup = create_backup_via_cli(runner)
        storage = tmp_path / "restored-storage"
        key = storage_keys(populated.database_url)[0]
        (storage / key).parent.mkdir(parents=True)
        (storage / key).write_bytes(b"someone else's file")

        result = restore_via_cli(runner, backup, target, storage)

        assert result.exit_code == 2, result.output
        assert f"1 stored file(s) already exist in {storage} ({key})" in result.stderr
        assert (storage / key).read_bytes() == b"someone else's file"
        assert table_count(target) == 0

    def test_a_damaged_backup_is_not_restored(
        self, runner: CliRunner, cli_env: Path, populated: Populated, target: str, tmp_path: Path
    ) -> None:
        backup = create_backup_via_cli(runner)
        key = storage_keys(populated.database_url)[0]
        (backup / "files" / key).write_bytes(b"replaced")
        storage = tmp_path / "restored-storage"

        result = restore_via_cli(runner, backup, target, storage)

        assert result.exit_code == 1, result.output
        assert f"the backup is damaged: files/{key}: SHA-256 differs from the manifest" in result.stderr
        assert table_count(target) == 0
        assert not storage.exists()

    def test_a_backup_of_another_database_kind_is_refused(
        self, runner: CliRunner, cli_env: Path, populated: Populated, tmp_path: Path
    ) -> None:
        backup = create_backup_via_cli(runner)
        other = (
            "postgresql+asyncpg://postgres@127.0.0.1:1/unused"
            if populated.backend == "sqlite"
            else f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
        )
        result = restore_via_cli(runner, backup, other, tmp_path / "restored-storage")
        assert result.exit_code == 2, result.output
        assert "backup; the target database is" in result.stderr
        assert not (tmp_path / "other.db").exists()

    def test_a_directory_without_a_manifest_is_refused(
        self, runner: CliRunner, cli_env: Path, target: str, tmp_path: Path
    ) -> None:
        (tmp_path / "not-a-backup").mkdir()
        result = restore_via_cli(runner, tmp_path / "not-a-backup", target, tmp_path / "restored-storage")
        assert result.exit_code == 2, result.output
        assert "is not a backup: it has no manifest.json" in result.stderr
        assert table_count(target) == 0


async def _append_entry(database_url: str) -> None:
    db = Database(create_engine(database_url))
    try:
        draft = AuditEntryDraft("system:test", "test.after_restore", "booking", "BK-AFTER", {"n": 1})
        await append_standalone(db, draft, now=datetime.now(UTC))
    finally:
        await db.dispose()
