"""`rodistaa jobs ...`: background jobs run once (a scheduler such as cron or a Kubernetes
CronJob calls `rodistaa jobs run NAME` daily). Jobs are idempotent: a repeated or overlapping
run changes nothing twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import typer

from rodistaa.cli_common import load_cli_settings
from rodistaa.core.clock import SystemClock
from rodistaa.db.engine import Database, create_engine
from rodistaa.fleet.jobs import JOBS as FLEET_JOBS
from rodistaa.fleet.jobs import JobResult, JobSpec

jobs_app = typer.Typer(help="Background jobs, run once.", no_args_is_help=True)

REGISTRY: Mapping[str, JobSpec] = dict(FLEET_JOBS)


@jobs_app.command("list")
def list_jobs() -> None:
    """The jobs `run` knows, one per line with what it does."""
    width = max(len(name) for name in REGISTRY)
    for name, spec in sorted(REGISTRY.items()):
        typer.echo(f"{name:<{width}}  {spec.description}")


@jobs_app.command("run")
def run_job(name: str = typer.Argument(..., help="The job's name (see `rodistaa jobs list`).")) -> None:
    """Run one job to completion and print its summary as JSON."""
    spec = REGISTRY.get(name)
    if spec is None:
        typer.echo(f"unknown job {name!r}; known jobs: {', '.join(sorted(REGISTRY))}", err=True)
        raise typer.Exit(2)
    settings = load_cli_settings()

    async def run() -> JobResult:
        db = Database(create_engine(settings.database_url))
        try:
            return await spec.run(db, SystemClock())
        finally:
            await db.dispose()

    typer.echo(json.dumps(asyncio.run(run()).summary(), sort_keys=True))
