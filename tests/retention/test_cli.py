"""The retention jobs through `rodistaa jobs list|run`, on a SQLite file migrated by `rodistaa db
upgrade` and seeded by SQL (the CLI runs on the real clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DEFAULT_BUNDLE
from tests.test_jobs_cli import execute, invoke, run_job, stamp

RETENTION_JOBS = ["audit-retention", "credentials-retention", "gps-retention", "notifications-retention"]


@pytest.fixture
def migrated(runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The jobs that need the service container also load the ACS bundle."""
    monkeypatch.setenv("ACS_BUNDLE_PATH", str(DEFAULT_BUNDLE))
    result = invoke(runner, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return db_path


def seed_notification(path: Path, notification_id: str, created_at: datetime) -> None:
    execute(
        path,
        "INSERT INTO notifications (id, user_id, role, message, created_at)"
        " VALUES (?, NULL, 'ADMIN', 'm', ?)",
        (notification_id, stamp(created_at)),
    )


def seed_code(path: Path, mobile: str, expires_at: datetime) -> None:
    execute(
        path,
        "INSERT INTO otp_codes (mobile, code_hash, attempts, created_at, expires_at) VALUES (?, ?, 0, ?, ?)",
        (mobile, "0" * 64, stamp(expires_at - timedelta(minutes=5)), stamp(expires_at)),
    )


class TestRetentionJobsCli:
    def test_listed_as_daily_jobs(self, runner: CliRunner) -> None:
        result = invoke(runner, "jobs", "list")
        assert result.exit_code == 0, result.output
        lines = {line.split()[0]: line.split()[2] for line in result.stdout.strip().splitlines()}
        assert {name: lines.get(name) for name in RETENTION_JOBS} == dict.fromkeys(RETENTION_JOBS, "86400s")

    def test_each_job_runs_once_and_deletes_only_what_is_due(self, runner: CliRunner, migrated: Path) -> None:
        now = datetime.now(UTC)
        seed_notification(migrated, "NTF-OLD", now - timedelta(days=91))
        seed_notification(migrated, "NTF-NEW", now - timedelta(days=89))
        seed_code(migrated, "+919800000011", now - timedelta(days=2))
        seed_code(migrated, "+919800000012", now + timedelta(minutes=5))

        assert run_job(runner, "notifications-retention")["deleted"] == 1
        assert execute(migrated, "SELECT id FROM notifications") == [("NTF-NEW",)]
        credentials = run_job(runner, "credentials-retention")
        assert (credentials["loginCodes"], credentials["sessions"]) == (1, 0)
        assert execute(migrated, "SELECT mobile FROM otp_codes") == [("+919800000012",)]
        gps = run_job(runner, "gps-retention")
        assert (gps["summarisedDays"], gps["deletedFixes"]) == (0, 0)
        audit = run_job(runner, "audit-retention")
        assert (audit["due"], audit["archivalRequired"]) == (0, False)
        purges = execute(
            migrated, "SELECT entity_id FROM audit_log WHERE action = 'retention.purged' ORDER BY seq"
        )
        assert purges == [("notifications",), ("otp_codes",)]

    def test_an_audit_period_under_seven_years_refuses_to_run(
        self, runner: CliRunner, migrated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AUDIT_RETENTION_YEARS", "6")
        result = invoke(runner, "jobs", "run", "audit-retention")
        assert result.exit_code != 0
        assert "AUDIT_RETENTION_YEARS must be a whole number of years >= 7" in str(result.exception)
