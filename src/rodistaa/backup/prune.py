"""`rodistaa backup prune`: delete backups older than the retention, never the newest one.

Only what is recognisably a backup is touched: a directory whose name is a backup time
(`20250101T020000Z`) holding a manifest, and the `.<time>.partial` directory an interrupted
`create` left behind. Age is the time in the name (it survives copies that reset mtimes).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from rodistaa.backup.manifest import MANIFEST_NAME, PARTIAL_SUFFIX, parse_backup_name

log = structlog.get_logger("rodistaa.backup")


@dataclass(frozen=True, slots=True)
class PruneResult:
    deleted: list[Path]
    kept: list[Path]


def list_backups(root: Path) -> list[tuple[datetime, Path]]:
    """Complete backups under `root`, oldest first."""
    if not root.is_dir():
        return []
    found = [
        (created_at, path)
        for path in root.iterdir()
        if path.is_dir()
        and (created_at := parse_backup_name(path.name)) is not None
        and (path / MANIFEST_NAME).is_file()
    ]
    return sorted(found)


def prune_backups(root: Path, *, older_than_days: int, now: datetime) -> PruneResult:
    """Delete backups created more than `older_than_days` days before `now`, except the newest
    backup whatever its age (a stalled schedule must not leave no backup at all)."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be >= 1")
    cutoff = now - timedelta(days=older_than_days)
    backups = list_backups(root)
    expired = [path for created_at, path in backups[:-1] if created_at < cutoff]
    expired += _abandoned_partials(root, cutoff)
    for path in expired:
        shutil.rmtree(path)
        log.info("backup.pruned", backup=path.name)
    return PruneResult(deleted=expired, kept=[path for _, path in backups if path not in expired])


def _abandoned_partials(root: Path, cutoff: datetime) -> list[Path]:
    if not root.is_dir():
        return []
    abandoned = []
    for path in root.iterdir():
        name = path.name.removeprefix(".").removesuffix(PARTIAL_SUFFIX)
        started_at = parse_backup_name(name) if path.name.endswith(PARTIAL_SUFFIX) else None
        if path.is_dir() and started_at is not None and started_at < cutoff:
            abandoned.append(path)
    return sorted(abandoned)
