"""`rodistaa backup prune`: retention by the time in a backup's name, never the newest backup,
and nothing that is not recognisably a backup. The backups are real ones (of an empty SQLite
database) created at chosen times through `create_backup`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rodistaa.backup.create import create_backup
from rodistaa.backup.manifest import backup_name
from rodistaa.db import migrate
from tests.backup.conftest import invoke, set_cli_env
from tests.conftest import make_settings


@pytest.fixture
def backups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    backups = tmp_path / "backups"
    migrate.upgrade(database_url(backups))
    assert set_cli_env(monkeypatch, tmp_path, database_url(backups), tmp_path / "storage") == backups
    return backups


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def make_backups(backups: Path, *days_ago: float) -> dict[float, Path]:
    """One real backup per age (days before now), keyed by that age."""
    settings = make_settings(database_url(backups), storage_local_dir=str(backups.parent / "storage"))
    now = datetime.now(UTC)

    async def create_all() -> dict[float, Path]:
        made = {}
        for age in days_ago:
            created = await create_backup(settings, out_dir=backups, now=now - timedelta(days=age))
            made[age] = created.path
        return made

    return asyncio.run(create_all())


def database_url(backups: Path) -> str:
    """The (empty, migrated) database the backups are made of, next to the backups."""
    return f"sqlite+aiosqlite:///{backups.parent / 'prune.db'}"


def prune(runner: CliRunner, *args: str) -> Result:
    result = invoke(runner, "backup", "prune", *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def remaining(backups: Path) -> set[str]:
    return {path.name for path in backups.iterdir()}


class TestPrune:
    def test_deletes_backups_older_than_the_default_retention_of_30_days(
        self, runner: CliRunner, backups: Path
    ) -> None:
        made = make_backups(backups, 45, 31, 29, 1, 0)
        result = prune(runner)
        assert remaining(backups) == {made[age].name for age in (29, 1, 0)}
        assert f"deleted {made[45].name}" in result.stdout
        assert f"deleted {made[31].name}" in result.stdout
        assert "kept 3 backup(s); retention 30 days" in result.stdout

    def test_older_than_days_overrides_the_retention(self, runner: CliRunner, backups: Path) -> None:
        made = make_backups(backups, 10, 3, 0)
        prune(runner, "--older-than-days", "7")
        assert remaining(backups) == {made[3].name, made[0].name}

    def test_retention_setting_is_the_default(
        self, runner: CliRunner, backups: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        made = make_backups(backups, 10, 3)
        monkeypatch.setenv("BACKUP_RETENTION_DAYS", "5")
        prune(runner)
        assert remaining(backups) == {made[3].name}

    def test_never_deletes_the_newest_backup(self, runner: CliRunner, backups: Path) -> None:
        """A schedule that stalled for months must not end with no backup at all."""
        made = make_backups(backups, 90, 60)
        result = prune(runner)
        assert remaining(backups) == {made[60].name}
        assert "kept 1 backup(s)" in result.stdout

    def test_leaves_anything_that_is_not_a_backup_and_removes_old_partials(
        self, runner: CliRunner, backups: Path
    ) -> None:
        made = make_backups(backups, 40, 0)
        old = backup_name(datetime.now(UTC) - timedelta(days=50))
        recent = backup_name(datetime.now(UTC) - timedelta(hours=1))
        for name in (f".{old}.partial", f".{recent}.partial", f"{old}-copy", "notes"):
            (backups / name).mkdir()
        no_manifest = backups / backup_name(datetime.now(UTC) - timedelta(days=60))
        no_manifest.mkdir()
        (backups / "README").write_text("operator notes")

        result = prune(runner)

        assert remaining(backups) == {
            made[0].name,
            f".{recent}.partial",
            f"{old}-copy",
            "notes",
            no_manifest.name,
            "README",
        }
        assert f"deleted .{old}.partial" in result.stdout

    def test_an_empty_or_missing_directory_is_fine(self, runner: CliRunner, backups: Path) -> None:
        result = prune(runner)
        assert "kept 0 backup(s)" in result.stdout
        assert not backups.exists()

    def test_retention_below_one_day_is_refused(self, runner: CliRunner, backups: Path) -> None:
        made = make_backups(backups, 3, 0)
        result = invoke(runner, "backup", "prune", "--older-than-days", "0")
        assert result.exit_code == 2
        assert remaining(backups) == {made[3].name, made[0].name}
