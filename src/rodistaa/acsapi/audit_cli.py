"""`rodistaa audit ...`: verify (the database or an export file), export, checkpoint."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from rodistaa.acs.audit import (
    VerifyReport,
    create_checkpoint,
    export_jsonl,
    record_verification,
    verify_chain,
    verify_export_file,
)
from rodistaa.cli_common import load_cli_settings
from rodistaa.core.clock import SystemClock
from rodistaa.db.engine import Database, create_engine
from rodistaa.security.kms import KmsProvider, build_kms

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
T = TypeVar("T")


def _run(work: Callable[[Database, KmsProvider], Awaitable[T]]) -> T:
    settings = load_cli_settings()

    async def run() -> T:
        db = Database(create_engine(settings.database_url))
        try:
            return await work(db, build_kms(settings))
        finally:
            await db.dispose()

    return asyncio.run(run())


def _report(report: VerifyReport) -> None:
    if report.ok:
        typer.echo(f"OK {report.count} entries, last seq {report.last_seq}, {report.checkpoints} checkpoints")
        for note in report.notes:
            typer.echo(f"note: {note}")
        return
    kind = report.kind.value if report.kind else "unknown"
    typer.echo(f"FAILED at seq {report.first_bad_seq}: {kind}: {report.detail}", err=True)
    raise typer.Exit(1)


@audit_app.command("verify")
def verify(
    file: Path | None = typer.Option(None, "--file", help="Verify an export file offline instead."),
    trusted_key: list[str] = typer.Option(
        [], "--trusted-key", help="key_ref=base64 public key the export must be signed with (repeatable)."
    ),
    from_seq: int = typer.Option(1, "--from", min=1, help="First seq (database only)."),
    to_seq: int | None = typer.Option(None, "--to", min=1, help="Last seq (database only)."),
) -> None:
    """Recompute the chain link by link and check every checkpoint signature. Exit 1 names
    the first bad seq and what is wrong with it."""
    if file is not None:
        _report(verify_export_file(file, _trusted_keys(trusted_key) or None))
        return

    async def run(db: Database, kms: KmsProvider) -> VerifyReport:
        report = await verify_chain(db, kms, from_seq=from_seq, to_seq=to_seq)
        if from_seq == 1 and to_seq is None:
            await record_verification(db, report, now=SystemClock().now())
        return report

    _report(_run(run))


def _trusted_keys(values: list[str]) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for value in values:
        key_ref, sep, encoded = value.partition("=")
        if not sep:
            typer.echo("--trusted-key must look like key_ref=base64", err=True)
            raise typer.Exit(2)
        try:
            keys[key_ref] = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            typer.echo(f"--trusted-key {key_ref}: not base64", err=True)
            raise typer.Exit(2) from exc
    return keys


@audit_app.command("export")
def export(
    out: Path = typer.Option(..., "--out", help="JSON Lines file to write."),
    from_seq: int = typer.Option(1, "--from", min=1),
    to_seq: int | None = typer.Option(None, "--to", min=1),
) -> None:
    """Write a range of entries and its checkpoints as JSON Lines, verifiable offline."""

    async def run(db: Database, kms: KmsProvider) -> Any:
        with out.open("w", encoding="utf-8") as handle:
            return await export_jsonl(
                db, kms, handle, from_seq=from_seq, to_seq=to_seq, now=SystemClock().now()
            )

    summary = _run(run)
    typer.echo(json.dumps({"file": str(out), "entries": summary.entries, "checkpoints": summary.checkpoints}))


@audit_app.command("checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint of the chain's current head now."""

    async def run(db: Database, kms: KmsProvider) -> Any:
        return await create_checkpoint(db, kms, now=SystemClock().now())

    created = _run(run)
    if created is None:
        typer.echo("nothing to checkpoint: the chain is empty or its head is already signed")
        return
    typer.echo(f"checkpoint at seq {created.seq} signed with {created.key_ref}")
