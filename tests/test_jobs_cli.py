"""`rodistaa jobs list|run`, driven in-process against a throw-away SQLite file migrated by
`rodistaa db upgrade`, with trucks seeded by SQL (the jobs run on the real clock)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from rodistaa import cli
from rodistaa.fleet.status import REQUIRED_DOCUMENTS, business_date
from rodistaa.settings import Settings

OPERATOR = "USR-OP-01JHBZK7M2Q9XXXXXXXXXX0PRA"
TRUCK = "TRK-MH12AB1234-01JHBZK7M2Q9XXXXXXXXXXTRK1"


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "jobs.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("ENV", "development")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli.app, list(args))


def stamp(at: datetime) -> str:
    """How the UTC timestamp columns store a time on SQLite (naive UTC)."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def execute(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


@pytest.fixture
def seeded(runner: CliRunner, db_path: Path) -> Path:
    """An ACTIVE truck inspected 10 days ago whose documents are valid for 30 more days."""
    result = invoke(runner, "db", "upgrade")
    assert result.exit_code == 0, result.output
    now = datetime.now(UTC)
    execute(
        db_path,
        "INSERT INTO users (id, mobile, name, role, status, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (OPERATOR, "+919812345678", "Sharma Roadlines", "OPERATOR", "ACTIVE", stamp(now), stamp(now)),
    )
    execute(
        db_path,
        "INSERT INTO trucks (id, operator_id, registration_number, vehicle_type, body_type, tyres,"
        " capacity_tonnes, model_year, emission, permit_type, chassis_ciphertext, chassis_hash,"
        " base_lat, base_lng, status,"
        " last_inspected_at, created_at, updated_at)"
        " VALUES (?, ?, 'MH12AB1234', 'HGV', 'OPEN', 10, 16, 2021, 'BS6', 'NATIONAL', 'x', 'h', 18.5, 73.8,"
        " 'ACTIVE', ?, ?, ?)",
        (TRUCK, OPERATOR, stamp(now - timedelta(days=10)), stamp(now), stamp(now)),
    )
    expiry = business_date(now) + timedelta(days=30)
    for doc_type in REQUIRED_DOCUMENTS:
        set_document(db_path, doc_type.value, expiry, now)
    return db_path


def set_document(path: Path, doc_type: str, expiry: date, at: datetime) -> None:
    execute(
        path,
        "INSERT INTO truck_documents (id, truck_id, doc_type, expiry_date, storage_key, content_type,"
        " size_bytes, file_sha256, uploaded_by, created_at)"
        " VALUES (?, ?, ?, ?, 'k', 'application/pdf', 1, 'h', ?, ?)",
        (f"DOC-{doc_type}-{at.timestamp()}", TRUCK, doc_type, expiry.isoformat(), OPERATOR, stamp(at)),
    )


def truck_status(path: Path) -> str:
    return str(execute(path, "SELECT status FROM trucks WHERE id = ?", (TRUCK,))[0][0])


def run_job(runner: CliRunner, name: str) -> dict[str, Any]:
    result = invoke(runner, "jobs", "run", name)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


class TestJobsCli:
    def test_list_names_every_job(self, runner: CliRunner) -> None:
        result = invoke(runner, "jobs", "list")
        assert result.exit_code == 0, result.output
        names = [line.split()[0] for line in result.stdout.strip().splitlines()]
        assert names == sorted(names)
        # The webhook delivery jobs join the list when `rodistaa.webhooks.jobs` exists.
        assert {
            "acs-events-retention",
            "audit-checkpoint",
            "auto-finalize",
            "document-expiry",
            "expiry-notifications",
            "inspection-due",
            "no-ping-alerts",
        } <= set(names)

    def test_an_unknown_job_exits_2_naming_the_known_ones(self, runner: CliRunner, db_path: Path) -> None:
        result = invoke(runner, "jobs", "run", "nightly-backup")
        assert result.exit_code == 2
        assert "unknown job 'nightly-backup'" in result.output and "document-expiry" in result.output

    def test_document_expiry_moves_the_truck_once(self, runner: CliRunner, seeded: Path) -> None:
        now = datetime.now(UTC)
        set_document(seeded, "INSURANCE", business_date(now) - timedelta(days=1), now + timedelta(seconds=1))
        first = run_job(runner, "document-expiry")
        assert first == {
            "job": "document-expiry",
            "examined": 1,
            "changed": 1,
            "transitions": {"ACTIVE->EXPIRED_DOCS": 1},
        }
        assert truck_status(seeded) == "EXPIRED_DOCS"
        assert run_job(runner, "document-expiry")["changed"] == 0
        audits = execute(seeded, "SELECT actor FROM audit_log WHERE action = 'truck.status_changed'")
        assert audits == [("system:jobs",)]

    def test_inspection_due(self, runner: CliRunner, seeded: Path) -> None:
        old = stamp(datetime.now(UTC) - timedelta(days=121))
        execute(seeded, "UPDATE trucks SET last_inspected_at = ? WHERE id = ?", (old, TRUCK))
        assert run_job(runner, "inspection-due")["transitions"] == {"ACTIVE->NEEDS_INSPECTION": 1}
        assert truck_status(seeded) == "NEEDS_INSPECTION"

    def test_expiry_notifications(self, runner: CliRunner, seeded: Path) -> None:
        now = datetime.now(UTC)
        set_document(seeded, "PUC", business_date(now) + timedelta(days=3), now + timedelta(seconds=1))
        assert run_job(runner, "expiry-notifications")["changed"] == 1
        assert run_job(runner, "expiry-notifications")["changed"] == 0
        rows = execute(seeded, "SELECT user_id, role FROM notifications")
        assert rows == [(OPERATOR, "OPERATOR")]
