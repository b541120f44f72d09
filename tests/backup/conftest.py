"""A database populated through the API (a shipper with KYC documents and their files, a KYC
admin, two bookings, audit entries and a signed checkpoint between the bookings), on SQLite and
PostgreSQL, and the environment the `rodistaa backup` commands read their settings from.

The populated database is built once per module and backend and never written by a test: the
tests back it up and restore into fresh databases of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from rodistaa import cli
from rodistaa.acs.audit import create_checkpoint
from rodistaa.core.roles import Role
from rodistaa.db import migrate
from rodistaa.db.engine import create_engine
from rodistaa.kyc.status import REQUIRED_DOCUMENTS
from rodistaa.settings import Settings
from tests.api.booking_flows import create_booking, shipper_session
from tests.api.kyc_flows import kyc_admin_session, png_file, upload_document, verify_document
from tests.conftest import (
    DEFAULT_BUNDLE,
    TEST_HMAC_KEY,
    TEST_JWT_SECRET,
    TEST_KMS_KEYS,
    make_settings,
    running_app,
)
from tests.databases import BACKENDS, fresh_database, require_backend


@dataclass(frozen=True)
class Populated:
    backend: str
    database_url: str
    storage_dir: Path
    shipper_id: str
    documents: dict[str, bytes]  # kyc id -> the file as uploaded (plaintext)
    booking_ids: list[str]
    checkpoint_seq: int


@pytest.fixture(scope="module", params=BACKENDS)
def populated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Populated]:
    require_backend(request.param)
    tmp = tmp_path_factory.mktemp(f"backup-source-{request.param}")
    with fresh_database(request.param, tmp) as url:
        migrate.upgrade(url)
        yield asyncio.run(populate(request.param, url, tmp / "storage"))


async def populate(backend: str, database_url: str, storage_dir: Path) -> Populated:
    async with running_app(make_settings(database_url, storage_local_dir=str(storage_dir))) as h:
        kyc_admin = await kyc_admin_session(h)
        shipper = await shipper_session(h)
        documents = {}
        for document_type in REQUIRED_DOCUMENTS[Role.SHIPPER]:
            content = png_file(f"backup-{document_type}".encode())
            record = await upload_document(h, shipper, document_type, content=content)
            await verify_document(h, kyc_admin, record["id"])
            documents[record["id"]] = content
        first = await create_booking(h, shipper)
        services = h.app.state.services
        checkpoint = await create_checkpoint(services.db, services.kms, now=h.clock.now())
        assert checkpoint is not None
        # An entry after the checkpoint: the head and the latest checkpoint differ, as they
        # usually do in production.
        second = await create_booking(h, shipper, tonnage=7.5)
    return Populated(
        backend,
        database_url,
        storage_dir,
        shipper.user_id,
        documents,
        [first["id"], second["id"]],
        checkpoint.seq,
    )


@pytest.fixture
def target(populated: Populated, tmp_path: Path) -> Iterator[str]:
    """A new, empty database of the populated database's kind."""
    with fresh_database(populated.backend, tmp_path) as url:
        yield url


@pytest.fixture
def cli_env(populated: Populated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The commands' settings for the populated database; returns the backup directory."""
    return set_cli_env(monkeypatch, tmp_path, populated.database_url, populated.storage_dir)


def set_cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, storage_dir: Path
) -> Path:
    """Settings for the commands from the environment only (no .env: an empty working
    directory), backups under `tmp_path/backups`, which is returned."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    backups = tmp_path / "backups"
    values = {
        "ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_KEYS": f"k1:{TEST_JWT_SECRET}",
        "JWT_ACTIVE_KID": "k1",
        "HMAC_KEY": TEST_HMAC_KEY,
        "LOCAL_KMS_KEY_ID": "test-kms",
        "LOCAL_KMS_KEYS": TEST_KMS_KEYS,
        "STORAGE_LOCAL_DIR": str(storage_dir),
        "BACKUP_DIR": str(backups),
        "ACS_BUNDLE_PATH": str(DEFAULT_BUNDLE),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RESTORE_DATABASE_URL", raising=False)
    return backups


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str | Path) -> Result:
    return runner.invoke(cli.app, [str(arg) for arg in args])


def create_backup_via_cli(runner: CliRunner) -> Path:
    result = invoke(runner, "backup", "create")
    assert result.exit_code == 0, (result.output, result.exception)
    [line] = [line for line in result.stdout.splitlines() if line.startswith("created ")]
    path = Path(line.removeprefix("created "))
    assert path.is_dir()
    return path


def restore_via_cli(runner: CliRunner, backup: Path, database_url: str, storage_dir: Path) -> Result:
    return invoke(
        runner, "backup", "restore", backup, "--database-url", database_url, "--storage-dir", storage_dir
    )


def verify_via_cli(runner: CliRunner, backup: Path, database_url: str, storage_dir: Path) -> Result:
    return invoke(
        runner, "backup", "verify", backup, "--database-url", database_url, "--storage-dir", storage_dir
    )


def query(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return asyncio.run(_query(database_url, sql, params))


def execute(database_url: str, *statements: str) -> None:
    """Run statements in one transaction (tampering as someone with database access would)."""
    asyncio.run(_execute(database_url, statements))


async def _query(database_url: str, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(text(sql), params)).all()]
    finally:
        await engine.dispose()


async def _execute(database_url: str, statements: tuple[str, ...]) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()
