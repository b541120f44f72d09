"""`rodistaa kms ...`: master-key rotation and status. Prints ids, versions and counts only,
never key material."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import typer
from sqlalchemy import select

from rodistaa.cli_common import load_cli_settings
from rodistaa.core.clock import SystemClock
from rodistaa.db.engine import Database, create_engine
from rodistaa.db.tables import user_data_keys
from rodistaa.security.envelope import DataKeys
from rodistaa.security.kms import (
    AWS_WRAPPED_KEY_FORMAT,
    AwsKms,
    KmsConfigError,
    KmsError,
    KmsProvider,
    LocalKms,
    UnwrapError,
    WrappedKey,
    build_kms,
)

kms_app = typer.Typer(help="Key management.", no_args_is_help=True)
T = TypeVar("T")


def _run(work: Callable[[Database, KmsProvider], Awaitable[T]]) -> T:
    """Build the KMS and the database from the settings and run `work`; KMS failures exit 1
    (2 for a KMS that cannot be built from the settings) with the reason."""
    settings = load_cli_settings()
    try:
        kms = build_kms(settings)
    except KmsConfigError as exc:
        typer.echo(f"KMS configuration: {exc}", err=True)
        raise typer.Exit(2) from exc

    async def run() -> T:
        db = Database(create_engine(settings.database_url))
        try:
            return await work(db, kms)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except KmsConfigError as exc:
        typer.echo(f"KMS configuration: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KmsError as exc:
        typer.echo(f"KMS error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _target(kms: KmsProvider) -> str:
    if isinstance(kms, LocalKms):
        return f"{kms.key_id} v{kms.current_version}"
    return kms.key_id


@kms_app.command("rotate")
def rotate(
    batch: int = typer.Option(500, min=1, help="Data keys read per query (one transaction in all)."),
) -> None:
    """Re-wrap every user's data key under the KMS's current master key (local: the highest
    version in LOCAL_KMS_KEYS; aws: AWS_KMS_KEY_ID). Documents are not touched. All or nothing:
    one transaction, rolled back if any data key cannot be re-wrapped."""

    async def run(db: Database, kms: KmsProvider) -> str:
        count = await rotate_data_keys(db, kms, now=SystemClock().now(), batch=batch)
        return f"rewrapped {count} data keys under {_target(kms)}"

    typer.echo(_run(run))


async def rotate_data_keys(db: Database, kms: KmsProvider, *, now: datetime, batch: int = 500) -> int:
    """Re-wrap every live data key under the current master key, in one transaction."""
    async with db.transaction() as conn:
        if conn.dialect.name == "postgresql":
            # Lock the live keys first. `rewrap_all` reads without a lock and writes by user id,
            # so an erasure (`DataKeys.destroy`) committed in between would be overwritten with
            # the re-wrapped key; locked, the erasure waits and then applies. (SQLite: the
            # transaction holds the database's write lock already.)
            await conn.execute(
                select(user_data_keys.c.user_id)
                .where(user_data_keys.c.wrapped_key.is_not(None))
                .with_for_update()
            )
        return await DataKeys(kms).rewrap_all(conn, now=now, batch=batch)


@kms_app.command("status")
def status() -> None:
    """The provider, its keys (ids and versions, never material) and how many users' data keys
    are wrapped under which master key: a version may leave LOCAL_KMS_KEYS only when none is."""

    async def run(db: Database, kms: KmsProvider) -> list[str]:
        lines = [f"provider: {'aws' if isinstance(kms, AwsKms) else 'local'}", f"key id: {kms.key_id}"]
        if isinstance(kms, LocalKms):
            lines.append(f"current version: {kms.current_version}")
            lines.append("versions: " + ", ".join(str(version) for version in kms.versions))
        elif isinstance(kms, AwsKms):
            arns = await kms.wrapping_key_arns()
            lines.append(f"key arn: {arns[0]}")
            lines.extend(f"retired key arn: {arn}" for arn in arns[1:])
            lines.extend(f"signing key: {ref}" for ref in await kms.public_keys())
        live, destroyed, wrapped_under = await _data_key_counts(db)
        lines.append(f"data keys: {live} live, {destroyed} destroyed")
        lines.extend(f"  wrapped under {name}: {count}" for name, count in sorted(wrapped_under.items()))
        return lines

    for line in _run(run):
        typer.echo(line)


async def _data_key_counts(db: Database) -> tuple[int, int, Counter[str]]:
    live, destroyed, wrapped_under = 0, 0, Counter[str]()
    async with db.read() as conn:
        result = await conn.stream(select(user_data_keys.c.wrapped_key))
        async for (wrapped_key,) in result:
            if wrapped_key is None:
                destroyed += 1
                continue
            live += 1
            wrapped_under[_wrapped_under(wrapped_key)] += 1
    return live, destroyed, wrapped_under


def _wrapped_under(serialized: str) -> str:
    try:
        wrapped = WrappedKey.parse(serialized)
    except UnwrapError:
        return "(unreadable)"
    if wrapped.scheme == AWS_WRAPPED_KEY_FORMAT:
        return wrapped.key_id
    return f"{wrapped.key_id} v{wrapped.version}"
