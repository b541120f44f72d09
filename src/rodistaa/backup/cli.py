"""`rodistaa backup create|restore|verify|prune` (docs/runbooks/backup-restore.md).

Exit codes: 0 done; 1 failed (a tool failed, a damaged backup, a verification mismatch); 2
refused before changing anything (a target that is not empty, a file that would be
overwritten, unusable settings). Output names backups, tables and counts, never a database URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from rodistaa.backup.create import create_backup
from rodistaa.backup.errors import BackupError
from rodistaa.backup.prune import prune_backups
from rodistaa.backup.restore import restore_backup
from rodistaa.backup.verify import verify_restore
from rodistaa.cli_common import load_cli_settings
from rodistaa.core.clock import SystemClock
from rodistaa.security.kms import KmsConfigError, build_kms

backup_app = typer.Typer(
    help="Backups of the database, the stored files and the audit chain.", no_args_is_help=True
)
T = TypeVar("T")

_BACKUP_ARG = typer.Argument(..., help="A backup directory (BACKUP_DIR/<UTC time>).", file_okay=False)
_TARGET_URL = typer.Option(
    ...,
    "--database-url",
    envvar="RESTORE_DATABASE_URL",
    help="The restored database (SQLAlchemy URL). Prefer the RESTORE_DATABASE_URL variable: a "
    "password on a command line is visible to every user of the machine.",
    show_envvar=True,
)
_STORAGE_DIR = typer.Option(
    None, "--storage-dir", help="Where the stored files go / are checked (default: STORAGE_LOCAL_DIR)."
)


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(work())
    except BackupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(exc.exit_code) from exc
    except (SQLAlchemyError, OSError) as exc:
        # The first line only: SQLAlchemy appends the statement and a help link.
        typer.echo(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", err=True)
        raise typer.Exit(1) from exc


@backup_app.command("create")
def create(
    out: Path | None = typer.Option(
        None, "--out", file_okay=False, help="Directory the backup is created in (default: BACKUP_DIR)."
    ),
) -> None:
    """Back up the database (one consistent snapshot), the stored files and a manifest with
    row counts, the audit head and the latest signed checkpoint."""
    settings = load_cli_settings()
    out_dir = out or Path(settings.backup_dir)
    created = _run(lambda: create_backup(settings, out_dir=out_dir, now=SystemClock().now()))
    manifest = created.manifest
    head = manifest.database.audit_head
    typer.echo(f"created {created.path}")
    typer.echo(
        f"{manifest.database_kind} at {manifest.database.alembic_revision}: "
        f"{len(manifest.database.row_counts)} tables, {sum(manifest.database.row_counts.values())} rows, "
        f"audit seq {head.seq if head else 0}; {manifest.storage.file_count} stored files"
    )


@backup_app.command("restore")
def restore(
    backup: Path = _BACKUP_ARG,
    database_url: str = _TARGET_URL,
    storage_dir: Path | None = _STORAGE_DIR,
) -> None:
    """Restore BACKUP into an EMPTY database (refused with exit 2 when it has tables) and its
    stored files into the storage directory (refused when a file exists)."""
    settings = load_cli_settings()
    target_dir = storage_dir or Path(settings.storage_local_dir)
    restored = _run(lambda: restore_backup(backup, database_url=database_url, storage_dir=target_dir))
    manifest = restored.manifest
    typer.echo(
        f"restored {backup.name}: {manifest.database_kind}, {len(manifest.database.row_counts)} tables"
    )
    if manifest.storage.backend == "s3":
        typer.echo(f"stored files: kept in S3 bucket {manifest.storage.bucket}, nothing to copy")
    else:
        typer.echo(f"stored files: {restored.stored_files} restored into {target_dir}")
    typer.echo(f"next: rodistaa backup verify {backup} (and rodistaa audit verify on the restored database)")


@backup_app.command("verify")
def verify(
    backup: Path = _BACKUP_ARG,
    database_url: str = _TARGET_URL,
    storage_dir: Path | None = _STORAGE_DIR,
) -> None:
    """Check a restored database against BACKUP: row counts, the audit chain (link by link,
    every checkpoint signature), the audit head and latest checkpoint, the stored files' hashes.
    Exit 1 with every mismatch listed."""
    settings = load_cli_settings()
    try:
        kms = build_kms(settings)
    except KmsConfigError as exc:
        typer.echo(f"KMS configuration: {exc}", err=True)
        raise typer.Exit(2) from exc
    target_dir = storage_dir or Path(settings.storage_local_dir)
    outcome = _run(lambda: verify_restore(backup, database_url=database_url, storage_dir=target_dir, kms=kms))
    for check in outcome.checks:
        typer.echo(f"{'ok' if check.ok else 'FAIL':<5}{check.name}: {check.detail}")
    failed = [check.name for check in outcome.checks if not check.ok]
    if failed:
        typer.echo(
            f"FAILED ({', '.join(failed)}): the database does not match backup {backup.name}", err=True
        )
        raise typer.Exit(1)
    typer.echo(f"OK: the database matches backup {backup.name}")


@backup_app.command("prune")
def prune(
    older_than_days: int | None = typer.Option(
        None, "--older-than-days", min=1, help="Retention in days (default: BACKUP_RETENTION_DAYS, 30)."
    ),
    directory: Path | None = typer.Option(
        None, "--dir", file_okay=False, help="Where the backups are (default: BACKUP_DIR)."
    ),
) -> None:
    """Delete backups older than the retention; the newest backup is always kept."""
    settings = load_cli_settings()
    days = older_than_days or settings.backup_retention_days
    result = prune_backups(
        directory or Path(settings.backup_dir), older_than_days=days, now=SystemClock().now()
    )
    for path in result.deleted:
        typer.echo(f"deleted {path.name}")
    typer.echo(f"kept {len(result.kept)} backup(s); retention {days} days")
