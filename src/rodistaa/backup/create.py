"""`rodistaa backup create`: the database (one consistent snapshot), the stored files and the
manifest, in one directory named by the UTC time.

The backup is assembled in a hidden `.<name>.partial` directory and renamed into place only
when complete, so a directory with a backup's name is always a whole backup (an interrupted
run leaves only the partial directory, which `prune` removes once it is old). The directory
is private to its owner (0700): it holds personal data.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from rodistaa import __version__
from rodistaa.backup import postgres, sqlite
from rodistaa.backup.errors import BackupFailed
from rodistaa.backup.files import copy_into_backup
from rodistaa.backup.manifest import (
    DATABASE_FILES,
    PARTIAL_SUFFIX,
    DatabaseFacts,
    DatabaseKind,
    Manifest,
    StorageRecord,
    backup_name,
    database_kind,
    hash_tree,
    write_manifest,
)
from rodistaa.settings import Settings

log = structlog.get_logger("rodistaa.backup")


@dataclass(frozen=True, slots=True)
class CreatedBackup:
    path: Path
    manifest: Manifest


async def create_backup(settings: Settings, *, out_dir: Path, now: datetime) -> CreatedBackup:
    """Back up the database of `DATABASE_URL` and the files of the configured storage into
    `out_dir/<UTC time>`. BackupFailed when a backup of that second already exists or a step
    fails; nothing is left behind but the error.

    File work runs in a thread so that a worker process running this next to other jobs keeps
    its event loop responsive."""
    kind = database_kind(settings.database_url)
    name = backup_name(now)
    final = out_dir / name
    partial = await asyncio.to_thread(_claim, out_dir, name)
    try:
        facts = await _dump_database(settings.database_url, kind, partial / DATABASE_FILES[kind])
        manifest = await asyncio.to_thread(_complete, settings, partial, kind, facts, now)
        await asyncio.to_thread(partial.rename, final)
    except BaseException:
        # Synchronous on purpose: the cleanup must also run when the task is being cancelled.
        shutil.rmtree(partial, ignore_errors=True)
        raise
    log.info(
        "backup.created",
        backup=name,
        database_kind=manifest.database_kind,
        tables=len(manifest.database.row_counts),
        stored_files=manifest.storage.file_count,
    )
    return CreatedBackup(final, manifest)


def _claim(out_dir: Path, name: str) -> Path:
    """The private partial directory of backup `name`, created empty."""
    if (out_dir / name).exists():
        raise BackupFailed(f"{out_dir / name} already exists: one backup per second")
    partial = out_dir / f".{name}{PARTIAL_SUFFIX}"
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        partial.mkdir(mode=0o700)
    except FileExistsError:
        raise BackupFailed(f"{partial} exists: another backup of this second is being made") from None
    return partial


def _complete(
    settings: Settings, directory: Path, kind: DatabaseKind, facts: DatabaseFacts, now: datetime
) -> Manifest:
    """Copy the stored files (after the database snapshot, see `files`), hash everything and
    write the manifest."""
    storage = _copy_storage(settings, directory)
    manifest = Manifest(
        created_at=now,
        app_version=__version__,
        database_kind=kind,
        database_file=DATABASE_FILES[kind],
        database=facts,
        storage=storage,
        files=hash_tree(directory),
    )
    write_manifest(directory, manifest)
    return manifest


async def _dump_database(database_url: str, kind: DatabaseKind, out: Path) -> DatabaseFacts:
    if kind == "postgresql":
        return await postgres.dump(database_url, out)
    return await sqlite.dump(sqlite.database_path(database_url), out)


def _copy_storage(settings: Settings, directory: Path) -> StorageRecord:
    """Local files go into the backup. S3 objects do not: the bucket's versioning and
    replication are their backup (docs/runbooks/backup-restore.md); the manifest names it."""
    if settings.storage_backend == "s3":
        return StorageRecord(backend="s3", file_count=0, bucket=settings.s3_bucket, prefix=settings.s3_prefix)
    count = copy_into_backup(Path(settings.storage_local_dir), directory)
    return StorageRecord(backend="local", file_count=count)
