"""Stored files (local storage): copied into the backup after the database snapshot, restored
into an empty place.

Copying after the snapshot is what makes the pair consistent: every service writes its file
before the row naming it commits (kyc, fleet documents, inspections, delivery), so every file
the snapshot references already exists when the copy starts. A file written later is copied
too and is harmless: no restored row names it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from rodistaa.backup.errors import BackupRefused
from rodistaa.backup.manifest import FILES_DIR
from rodistaa.storage.base import StorageError, check_key


def stored_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(key, path) of every stored file under `root`, in key order. Skipped: LocalStorage's
    in-flight temporaries (`.<name>.<hex>.tmp`, renamed into place when complete) and anything
    that is not a regular file."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            continue
        yield path.relative_to(root).as_posix(), path


def copy_into_backup(storage_root: Path, backup: Path) -> int:
    """Copy every stored file to `backup/files/<key>`; returns how many."""
    count = 0
    for key, path in stored_files(storage_root):
        target = backup / FILES_DIR / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        count += 1
    return count


def restore_targets(keys: list[str], storage_root: Path) -> list[tuple[str, Path]]:
    """Where each key goes; BackupRefused when a key is not a valid storage key (a hand-made
    manifest must not write outside the storage directory) or when a file is already there."""
    targets = []
    for key in keys:
        try:
            targets.append((key, storage_root / check_key(key)))
        except StorageError:
            raise BackupRefused(f"{FILES_DIR}/{key}: not a valid storage key") from None
    existing = [key for key, target in targets if target.exists()]
    if existing:
        shown = ", ".join(existing[:3]) + (" ..." if len(existing) > 3 else "")
        raise BackupRefused(
            f"{len(existing)} stored file(s) already exist in {storage_root} ({shown}); "
            "restore refuses to overwrite files: restore into an empty storage directory"
        )
    return targets


def restore_files(backup: Path, targets: list[tuple[str, Path]]) -> int:
    for key, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(backup / FILES_DIR / key, target)
    return len(targets)
