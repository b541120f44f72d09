"""The `rodistaa` command, driven in-process against a throw-away SQLite file.

Every test runs in an empty temporary working directory (so the development key file lands
there) with every settings variable removed from the environment except the ones set here.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner, Result

from rodistaa import cli
from rodistaa.db import migrate
from rodistaa.settings import DEV_KEY_FILE, Settings

MOBILE_INPUT = "98765 43210"
MOBILE_E164 = "+919876543210"
MOBILE_MASKED = "+91******3210"


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("ENV", "development")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli.app, list(args))


def table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def users(path: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute("SELECT * FROM users")]
    finally:
        conn.close()


@pytest.fixture
def migrated(runner: CliRunner, db_path: Path) -> Path:
    result = invoke(runner, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return db_path


class TestDatabaseCommands:
    def test_current_on_an_empty_database_shows_no_head(self, runner: CliRunner, db_path: Path) -> None:
        result = invoke(runner, "db", "current")
        assert result.exit_code == 0, result.output
        assert migrate.head_revision() not in result.stdout

    def test_upgrade_then_current_shows_head(self, runner: CliRunner, db_path: Path) -> None:
        result = invoke(runner, "db", "upgrade")
        assert result.exit_code == 0, result.output
        assert "users" in table_names(db_path)

        result = invoke(runner, "db", "current")
        assert result.exit_code == 0, result.output
        assert f"{migrate.head_revision()} (head)" in result.stdout

    def test_downgrade_base_drops_the_tables(self, runner: CliRunner, migrated: Path) -> None:
        result = invoke(runner, "db", "downgrade", "base")
        assert result.exit_code == 0, result.output
        assert "users" not in table_names(migrated)
        assert table_names(migrated) <= {"alembic_version"}

        result = invoke(runner, "db", "current")
        assert result.exit_code == 0, result.output
        assert migrate.head_revision() not in result.stdout

    def test_downgrade_requires_a_revision(self, runner: CliRunner, migrated: Path) -> None:
        result = invoke(runner, "db", "downgrade")
        assert result.exit_code == 2
        assert "users" in table_names(migrated)

    def test_development_keys_land_in_the_working_directory(
        self, runner: CliRunner, migrated: Path, tmp_path: Path
    ) -> None:
        assert (tmp_path / DEV_KEY_FILE).is_file()


class TestCreateAdmin:
    def test_creates_an_admin_and_masks_the_phone(self, runner: CliRunner, migrated: Path) -> None:
        result = invoke(runner, "users", "create-admin", "--mobile", MOBILE_INPUT, "--name", "First Admin")
        assert result.exit_code == 0, result.output
        assert MOBILE_MASKED in result.stdout
        assert MOBILE_E164 not in result.output
        assert "9876543210" not in result.output
        assert MOBILE_INPUT not in result.output

        rows = users(migrated)
        assert len(rows) == 1
        (row,) = rows
        assert row["role"] == "ADMIN"
        assert row["id"].startswith("USR-AD-")
        assert row["id"] in result.stdout
        assert row["mobile"] == MOBILE_E164
        assert row["name"] == "First Admin"
        assert row["created_by"] == "cli"
        assert row["status"] == "ACTIVE"

    def test_second_admin_with_same_mobile_is_refused(self, runner: CliRunner, migrated: Path) -> None:
        first = invoke(runner, "users", "create-admin", "--mobile", MOBILE_INPUT, "--name", "First Admin")
        assert first.exit_code == 0, first.output
        # Same number written differently: normalisation must make it collide.
        again = invoke(runner, "users", "create-admin", "--mobile", "+91-98765-43210", "--name", "Second")
        assert again.exit_code != 0
        assert "MOBILE_TAKEN" in again.output
        assert "9876543210" not in again.output
        rows = users(migrated)
        assert [row["name"] for row in rows] == ["First Admin"]

    @pytest.mark.parametrize("mobile", ["55555 01234", "+1 415 555 0134", "98765-4321x"])
    def test_invalid_mobile_exits_2_without_echoing_it(
        self, runner: CliRunner, migrated: Path, mobile: str
    ) -> None:
        result = invoke(runner, "users", "create-admin", "--mobile", mobile, "--name", "Admin")
        assert result.exit_code == 2
        assert "invalid --mobile" in result.output
        assert mobile not in result.output
        digits = "".join(ch for ch in mobile if ch.isdigit())
        assert digits[-6:] not in result.output
        assert users(migrated) == []

    def test_blank_name_exits_2(self, runner: CliRunner, migrated: Path) -> None:
        result = invoke(runner, "users", "create-admin", "--mobile", MOBILE_INPUT, "--name", "  ")
        assert result.exit_code == 2
        assert "invalid --name" in result.output
        assert users(migrated) == []


SAFE_PRODUCTION_ENV = {
    "JWT_KEYS": "k1:prod-jwt-key-a-7f3c9d2e81b64a05c9e3f1a2b7d8e6c4",
    "JWT_ACTIVE_KID": "k1",
    "HMAC_KEY": "prod-hmac-key-5b8e2f1c9a7d4036e2b9c1f8a5d7e340",
    "LOCAL_KMS_KEY_ID": "rodistaa-prod-kms-1",
    "LOCAL_KMS_KEYS": "1:" + base64.b64encode(bytes(range(32))).decode(),
    "OTP_SENDER": "http",
    "OTP_HTTP_URL": "https://sms-gateway.internal/send",
    "OTP_DEV_ECHO": "false",
    "PAYMENT_WEBHOOK_SECRET": "prod-payment-webhook-secret-3c7e1a9f5b2d8046",
}


class TestProductionRefusal:
    @pytest.mark.parametrize(
        "args",
        [
            ("db", "upgrade"),
            ("db", "current"),
            ("db", "downgrade", "base"),
            ("users", "create-admin", "--mobile", MOBILE_INPUT, "--name", "First Admin"),
            ("serve",),
        ],
        ids=lambda args: " ".join(args[:2]),
    )
    def test_sqlite_in_production_is_refused(
        self,
        runner: CliRunner,
        db_path: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        args: tuple[str, ...],
    ) -> None:
        monkeypatch.setenv("ENV", "production")
        for name, value in SAFE_PRODUCTION_ENV.items():
            monkeypatch.setenv(name, value)
        served: list[Any] = []
        monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: served.append((a, kw)))

        result = invoke(runner, *args)

        assert result.exit_code == 2, result.output
        assert "refusing to start" in result.stderr
        assert "DATABASE_URL" in result.stderr
        # Only the database is unsafe; nothing else in this environment is blamed.
        problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
        assert len(problems) == 1, result.stderr
        assert served == []
        assert not db_path.exists(), "the refused command touched the database"
        assert not (tmp_path / DEV_KEY_FILE).exists()
