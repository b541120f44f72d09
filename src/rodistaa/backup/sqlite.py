"""SQLite: a copy through the online backup API (consistent while the app writes), restored by
copying it into place."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from rodistaa.backup.errors import BackupFailed, BackupRefused
from rodistaa.backup.facts import collect_facts
from rodistaa.backup.manifest import DatabaseFacts
from rodistaa.db.engine import SQLITE_BUSY_TIMEOUT_MS

_SIDE_FILES = ("-wal", "-shm", "-journal")


def database_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupRefused("a SQLite backup needs a database file, not an in-memory database")
    return Path(url.database)


async def dump(source: Path, out: Path) -> DatabaseFacts:
    """Copy `source` to `out` and return the copy's facts (so they describe exactly the copy)."""
    await asyncio.to_thread(_online_backup, source, out)
    # A plain engine, not the app's: the app's connect hook would switch the copy to WAL and
    # leave -wal/-shm files in the backup. The copy is read and never written.
    engine = create_async_engine(f"sqlite+aiosqlite:///{out}")
    try:
        async with engine.connect() as conn:
            return await collect_facts(conn)
    finally:
        await engine.dispose()


def _online_backup(source: Path, out: Path) -> None:
    """One step (`pages=-1`) under one read transaction: the copy is the database as of one
    commit, while writers keep going in WAL mode. `mode=rw` refuses to create a missing file."""
    try:
        source_conn = sqlite3.connect(
            f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000
        )
    except sqlite3.OperationalError as exc:
        raise BackupFailed(f"cannot open the SQLite database {source}: {exc}") from None
    with closing(source_conn), closing(sqlite3.connect(out)) as copy:
        source_conn.backup(copy)
        # Self-contained: the copy carries no WAL that a later reader or restore could miss.
        copy.execute("PRAGMA journal_mode=DELETE")


def count_tables(target: Path) -> int:
    """Tables in the target file (0 when there is no file). Opened read-write but only read:
    a read-only connection cannot open a WAL database whose -shm file is missing."""
    if not target.exists():
        return 0
    with closing(sqlite3.connect(f"{target.resolve().as_uri()}?mode=rw", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0])


def restore(copy: Path, target: Path) -> None:
    """Put the copy in place atomically (a reader never sees half a file); leftover WAL files
    of the empty database it replaces must not be applied to it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.restoring")
    try:
        shutil.copyfile(copy, temporary)
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        for suffix in _SIDE_FILES:
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
