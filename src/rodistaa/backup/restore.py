"""`rodistaa backup restore`: a backup into an EMPTY database and an empty place in storage.

Every precondition is checked before anything is written, so a refused restore changes
nothing: the backup is intact (every hash), the target database is of the backup's kind and has
no tables, and no stored file of the backup exists at its destination yet.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import structlog

from rodistaa.backup import postgres, sqlite
from rodistaa.backup.errors import BackupFailed, BackupRefused
from rodistaa.backup.files import restore_files, restore_targets
from rodistaa.backup.manifest import DatabaseKind, Manifest, database_kind, integrity_problems, read_manifest

log = structlog.get_logger("rodistaa.backup")
_PROBLEMS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class RestoredBackup:
    manifest: Manifest
    stored_files: int


async def restore_backup(backup: Path, *, database_url: str, storage_dir: Path) -> RestoredBackup:
    """Restore `backup` into the database at `database_url` and its stored files into
    `storage_dir` (local storage only; S3 objects never left their bucket).

    BackupRefused: not a backup, another database kind, a target with tables, a file that
    would be overwritten. BackupFailed: a damaged backup, or the restore itself failed
    (PostgreSQL restores in one transaction, so the database is empty again).
    """
    manifest = await asyncio.to_thread(_intact_manifest, backup)
    kind = database_kind(database_url)
    if kind != manifest.database_kind:
        raise BackupRefused(f"this is a {manifest.database_kind} backup; the target database is {kind}")
    await _require_empty(kind, database_url)
    keys = manifest.stored_keys() if manifest.storage.backend == "local" else []
    targets = await asyncio.to_thread(restore_targets, keys, storage_dir)
    await _restore_database(kind, backup / manifest.database_file, database_url)
    restored = await asyncio.to_thread(restore_files, backup, targets)
    log.info("backup.restored", backup=backup.name, database_kind=kind, stored_files=restored)
    return RestoredBackup(manifest, restored)


def _intact_manifest(backup: Path) -> Manifest:
    manifest = read_manifest(backup)
    problems = integrity_problems(backup, manifest)
    if problems:
        raise BackupFailed("the backup is damaged: " + "; ".join(problems[:_PROBLEMS_SHOWN]))
    return manifest


async def _require_empty(kind: DatabaseKind, database_url: str) -> None:
    if kind == "postgresql":
        found = await postgres.count_user_relations(database_url)
    else:
        found = await asyncio.to_thread(sqlite.count_tables, sqlite.database_path(database_url))
    if found:
        raise BackupRefused(
            f"the target database is not empty ({found} tables or other relations): "
            "restore only into a new, empty database"
        )


async def _restore_database(kind: DatabaseKind, copy: Path, database_url: str) -> None:
    if kind == "postgresql":
        await postgres.restore(copy, database_url)
    else:
        await asyncio.to_thread(sqlite.restore, copy, sqlite.database_path(database_url))
