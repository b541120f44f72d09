"""PostgreSQL: `pg_dump --format=custom` of one exported snapshot, `pg_restore` into an empty
database.

Credentials reach the tools through libpq environment variables of the child process only
(`PGPASSWORD` and friends): never on a command line, where `ps` would show them, and never in a
log line. The client tools must be at least the server's major version (pg_dump refuses an
older client itself; the runbook names the package).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Final

import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url

from rodistaa.backup.errors import BackupFailed
from rodistaa.backup.facts import collect_facts
from rodistaa.backup.manifest import DatabaseFacts
from rodistaa.db.engine import create_engine

log = structlog.get_logger("rodistaa.backup")

_STDERR_TAIL_CHARS: Final = 2000
# Relations a restore would collide with: tables, partitions, views, materialized views,
# sequences, foreign tables, in any schema but the system ones.
_USER_RELATIONS = text(
    """
    SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
    """
)


def libpq_environment(database_url: str) -> dict[str, str]:
    """The process environment plus PG* variables naming the database of a SQLAlchemy URL
    (`postgresql+asyncpg://user:password@host:port/name?ssl=require`)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        raise BackupFailed("not a PostgreSQL URL with a database name")
    values = {
        "PGDATABASE": url.database,
        "PGHOST": url.host or _query_value(url.query.get("host")),
        "PGPORT": str(url.port) if url.port else "",
        "PGUSER": url.username or "",
        "PGPASSWORD": url.password or "",
        # asyncpg spells it `ssl`, libpq `sslmode`; the values (disable .. verify-full) agree.
        "PGSSLMODE": _query_value(url.query.get("sslmode") or url.query.get("ssl")),
    }
    return {**os.environ, **{name: value for name, value in values.items() if value}}


def _query_value(value: str | tuple[str, ...] | None) -> str:
    if isinstance(value, tuple):
        return value[-1] if value else ""
    return value or ""


async def dump(database_url: str, out: Path) -> DatabaseFacts:
    """Dump the database to `out` and return its facts, both from one snapshot.

    A REPEATABLE READ transaction exports its snapshot and stays open while pg_dump runs with
    `--snapshot`: the row counts and the audit head in the manifest then describe exactly the
    rows in the dump, however many requests commit meanwhile.
    """
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            async with conn.begin():
                snapshot_id = str((await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one())
                facts = await collect_facts(conn)
                await run_tool(
                    "pg_dump",
                    "--format=custom",
                    f"--snapshot={snapshot_id}",
                    f"--file={out}",
                    env=libpq_environment(database_url),
                )
    finally:
        await engine.dispose()
    return facts


async def count_user_relations(database_url: str) -> int:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(_USER_RELATIONS)).scalar_one())
    finally:
        await engine.dispose()


async def restore(dump_file: Path, database_url: str) -> None:
    """Restore into the (empty) database. One transaction: a failure leaves it empty again.
    `--no-owner --no-privileges`: objects belong to the restoring role (run it as the
    application's role), and grants to roles this server may not have are not replayed."""
    env = libpq_environment(database_url)
    await run_tool(
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        # A bare name: host, user and password come from the environment.
        f"--dbname={env['PGDATABASE']}",
        str(dump_file),
        env=env,
    )


async def run_tool(program: str, *args: str, env: dict[str, str]) -> None:
    """Run a PostgreSQL client tool; BackupFailed with the end of its stderr when it fails
    (libpq messages name host and user at most, never the password)."""
    try:
        process = await asyncio.create_subprocess_exec(
            program,
            *args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise BackupFailed(
            f"{program} is not installed: install the PostgreSQL client tools of the server's "
            "major version (Debian: postgresql-client-15)"
        ) from None
    _, stderr = await process.communicate()
    if process.returncode != 0:
        message = stderr.decode("utf-8", "replace").strip()[-_STDERR_TAIL_CHARS:]
        log.error("backup.tool_failed", program=program, exit_code=process.returncode)
        raise BackupFailed(f"{program} exited with {process.returncode}: {message}")
