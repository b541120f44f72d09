"""`rodistaa jobs ...`: background jobs run once (a scheduler such as cron or a Kubernetes
CronJob calls `rodistaa jobs run NAME`). Jobs are idempotent: a repeated or overlapping run
changes nothing twice.

Two kinds: the fleet's jobs need only the database; the freight jobs (auto-finalize,
no-ping-alerts) raise ACS events and notify users, so they get the whole service container,
built exactly as the API builds it (same settings, same active rule bundle)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import typer

from rodistaa.cli_common import load_cli_settings
from rodistaa.core.clock import SystemClock
from rodistaa.db.engine import Database, create_engine
from rodistaa.finalization.jobs import JOBS as FINALIZATION_JOBS
from rodistaa.fleet.jobs import JOBS as FLEET_JOBS
from rodistaa.fleet.jobs import JobSpec
from rodistaa.jobs.spec import JobSummary, ServiceJobSpec
from rodistaa.settings import Settings
from rodistaa.tracking.jobs import JOBS as TRACKING_JOBS

jobs_app = typer.Typer(help="Background jobs, run once.", no_args_is_help=True)

REGISTRY: Mapping[str, JobSpec] = dict(FLEET_JOBS)
SERVICE_REGISTRY: Mapping[str, ServiceJobSpec] = {**FINALIZATION_JOBS, **TRACKING_JOBS}


def _descriptions() -> dict[str, str]:
    return {
        **{name: spec.description for name, spec in REGISTRY.items()},
        **{name: spec.description for name, spec in SERVICE_REGISTRY.items()},
    }


@jobs_app.command("list")
def list_jobs() -> None:
    """The jobs `run` knows, one per line with what it does."""
    descriptions = _descriptions()
    width = max(len(name) for name in descriptions)
    for name, description in sorted(descriptions.items()):
        typer.echo(f"{name:<{width}}  {description}")


async def _run_database_job(spec: JobSpec, settings: Settings) -> JobSummary:
    db = Database(create_engine(settings.database_url))
    try:
        return await spec.run(db, SystemClock())
    finally:
        await db.dispose()


async def _run_service_job(spec: ServiceJobSpec, settings: Settings) -> JobSummary:
    from rodistaa.app import build_services  # the web app is only needed by these jobs

    services = await build_services(settings, clock=SystemClock())
    try:
        return await spec.run(services)
    finally:
        await services.db.dispose()


@jobs_app.command("run")
def run_job(name: str = typer.Argument(..., help="The job's name (see `rodistaa jobs list`).")) -> None:
    """Run one job to completion and print its summary as JSON."""
    if name not in REGISTRY and name not in SERVICE_REGISTRY:
        typer.echo(f"unknown job {name!r}; known jobs: {', '.join(sorted(_descriptions()))}", err=True)
        raise typer.Exit(2)
    settings = load_cli_settings()
    if name in REGISTRY:
        result = asyncio.run(_run_database_job(REGISTRY[name], settings))
    else:
        result = asyncio.run(_run_service_job(SERVICE_REGISTRY[name], settings))
    typer.echo(json.dumps(result.summary(), sort_keys=True))
