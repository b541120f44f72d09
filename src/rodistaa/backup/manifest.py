"""A backup's layout and its manifest: what it holds and what a restore must reproduce.

A backup is one directory named by its UTC creation time (`20250101T020000Z`):

    manifest.json       this file
    database.dump       PostgreSQL: `pg_dump --format=custom`
    database.sqlite3    SQLite: a copy made with the online backup API
    files/<key>         the stored files (local storage only), byte for byte (they are ciphertext)

`files` maps every other file of the directory to its SHA-256, so a damaged or edited backup is
found before it is restored and when it is verified. The manifest itself holds no secret: no
database URL, no key material; the row counts, the audit head and the latest checkpoint are read
from the same snapshot as the database copy.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from rodistaa.backup.errors import BackupRefused

FORMAT_VERSION: Final = 1
MANIFEST_NAME: Final = "manifest.json"
FILES_DIR: Final = "files"
NAME_FORMAT: Final = "%Y%m%dT%H%M%SZ"
PARTIAL_SUFFIX: Final = ".partial"
_CHUNK_BYTES: Final = 1024 * 1024

DatabaseKind = Literal["postgresql", "sqlite"]
DATABASE_FILES: Final[dict[str, str]] = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AuditHead(_Frozen):
    seq: int
    hash: str


class CheckpointRecord(_Frozen):
    """The latest signed checkpoint as stored (signature in base64)."""

    seq: int
    hash: str
    at: str
    key_ref: str
    signature: str


class DatabaseFacts(_Frozen):
    """What a restored database must show: the same tables with the same row counts, the same
    migration revision, the same audit head and the same latest checkpoint."""

    alembic_revision: str | None
    row_counts: dict[str, int]
    audit_head: AuditHead | None
    latest_checkpoint: CheckpointRecord | None


class StorageRecord(_Frozen):
    """`local`: the files are in the backup (`file_count` of them). `s3`: they are not; the
    bucket's versioning and replication are their backup, and the bucket is named here."""

    backend: Literal["local", "s3"]
    file_count: int
    bucket: str | None = None
    prefix: str | None = None


class Manifest(_Frozen):
    format: int = FORMAT_VERSION
    created_at: datetime
    app_version: str
    database_kind: DatabaseKind
    database_file: str
    database: DatabaseFacts
    storage: StorageRecord
    files: dict[str, str]

    def stored_keys(self) -> list[str]:
        """Storage keys of the files in the backup, in order."""
        prefix = f"{FILES_DIR}/"
        return sorted(name.removeprefix(prefix) for name in self.files if name.startswith(prefix))


def database_kind(database_url: str) -> DatabaseKind:
    """The manifest's name for the database a SQLAlchemy URL points at."""
    try:
        backend = make_url(database_url).get_backend_name()
    except ArgumentError:
        raise BackupRefused("the database URL is not a SQLAlchemy URL") from None
    if backend == "postgresql":
        return "postgresql"
    if backend == "sqlite":
        return "sqlite"
    raise BackupRefused(f"backups support PostgreSQL and SQLite, not {backend}")


def backup_name(created_at: datetime) -> str:
    return created_at.astimezone(UTC).strftime(NAME_FORMAT)


def parse_backup_name(name: str) -> datetime | None:
    """The creation time a backup directory's name states; None for any other name."""
    try:
        return datetime.strptime(name, NAME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def hash_tree(directory: Path) -> dict[str, str]:
    """SHA-256 of every regular file under `directory` except the manifest, by relative path."""
    return {
        path.relative_to(directory).as_posix(): sha256_file(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
        and not path.is_symlink()
        and path.relative_to(directory).as_posix() != MANIFEST_NAME
    }


def write_manifest(directory: Path, manifest: Manifest) -> None:
    (directory / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")


def read_manifest(backup: Path) -> Manifest:
    """The manifest of the backup directory `backup`; BackupRefused when it is not one."""
    path = backup / MANIFEST_NAME
    if not path.is_file():
        raise BackupRefused(f"{backup} is not a backup: it has no {MANIFEST_NAME}")
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise BackupRefused(f"{path} is not a valid manifest: {exc.error_count()} problem(s)") from None
    if manifest.format != FORMAT_VERSION:
        raise BackupRefused(f"{path}: manifest format {manifest.format} is not {FORMAT_VERSION}")
    return manifest


def integrity_problems(backup: Path, manifest: Manifest) -> list[str]:
    """Every file the manifest lists must be there with its hash, and nothing else may be."""
    actual = hash_tree(backup)
    problems = [
        f"{name}: missing" if name not in actual else f"{name}: SHA-256 differs from the manifest"
        for name, expected in sorted(manifest.files.items())
        if actual.get(name) != expected
    ]
    problems.extend(
        f"{name}: not listed in the manifest" for name in sorted(actual.keys() - manifest.files.keys())
    )
    if manifest.database_file not in manifest.files:
        problems.append(f"{manifest.database_file}: the database copy is not listed in the manifest")
    return problems
