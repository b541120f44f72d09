"""`rodistaa jobs ...`: background jobs run once (`rodistaa jobs run NAME`, for a scheduler such
as cron, or by hand), and `rodistaa worker` (the `worker` function below, registered by the
main CLI), which runs every job periodically on exactly one instance (`jobs.worker`). Jobs are
idempotent: a repeated or overlapping run changes nothing twice.

Two kinds: the fleet's jobs need only the database; the others (auto-finalize, no-ping-alerts,
audit-checkpoint, retention, webhook delivery) get the whole service container, built exactly
as the API builds it (same settings, same active rule bundle)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import typer

from rodistaa.cli_common import load_cli_settings
from rodistaa.core.clock import SystemClock
from rodistaa.db.engine import Database, create_engine
from rodistaa.fleet.jobs import JOBS as FLEET_JOBS
from rodistaa.fleet.jobs import JobSpec
from rodistaa.jobs.registry import WorkerConfigError, available_jobs, build_registry
from rodistaa.jobs.spec import JobSummary
from rodistaa.ops.logging import configure_logging
from rodistaa.ops.metrics import serve_worker_metrics
from rodistaa.ops.telemetry import init_sentry
from rodistaa.settings import Settings

jobs_app = typer.Typer(help="Background jobs, run once.", no_args_is_help=True)


@jobs_app.command("list")
def list_jobs() -> None:
    """The jobs `run` knows, one per line with their default interval and what they do."""
    jobs = available_jobs()
    width = max(len(name) for name in jobs)
    for name, (description, _run, interval_s) in sorted(jobs.items()):
        typer.echo(f"{name:<{width}}  every {interval_s:>6g}s  {description}")


async def _run_database_job(spec: JobSpec, settings: Settings) -> JobSummary:
    db = Database(create_engine(settings.database_url))
    try:
        return await spec.run(db, SystemClock())
    finally:
        await db.dispose()


async def _run_service_job(name: str, settings: Settings) -> JobSummary:
    from rodistaa.app import build_services  # the web app is only needed by these jobs

    services = await build_services(settings, clock=SystemClock())
    try:
        return await available_jobs()[name][1](services)
    finally:
        await services.aclose()


@jobs_app.command("run")
def run_job(name: str = typer.Argument(..., help="The job's name (see `rodistaa jobs list`).")) -> None:
    """Run one job to completion now (whether or not it is due) and print its summary as JSON."""
    known = available_jobs()
    if name not in known:
        typer.echo(f"unknown job {name!r}; known jobs: {', '.join(sorted(known))}", err=True)
        raise typer.Exit(2)
    settings = load_cli_settings()
    if name in FLEET_JOBS:
        result = asyncio.run(_run_database_job(FLEET_JOBS[name], settings))
    else:
        result = asyncio.run(_run_service_job(name, settings))
    typer.echo(json.dumps(result.summary(), sort_keys=True))


def worker() -> None:
    """Run the periodic jobs until SIGTERM or SIGINT (a second signal stops at once)."""
    settings = load_cli_settings()
    try:
        build_registry(settings)
    except WorkerConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level, json=settings.log_json, stream=sys.stderr)
    init_sentry(settings)
    if settings.worker_metrics_port is not None:  # job metrics for Prometheus (docs/observability.md)
        serve_worker_metrics(
            settings.worker_metrics_host, settings.worker_metrics_port, token=settings.metrics_token
        )
    asyncio.run(_serve_worker(settings))


async def _serve_worker(settings: Settings) -> None:
    from rodistaa.acsapi.tasks import sync_revision_forever
    from rodistaa.app import build_services
    from rodistaa.jobs.worker import run_worker_forever

    services = await build_services(settings, clock=SystemClock())
    stop = asyncio.Event()
    main = asyncio.create_task(run_worker_forever(services, stop))
    # The jobs evaluate ACS rules: follow the active revision as every API instance does.
    sync = asyncio.create_task(sync_revision_forever(services.acs, settings.acs_sync_interval_s))

    def on_signal() -> None:
        if stop.is_set():
            main.cancel()  # second signal: abandon the running jobs (they are idempotent)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await main
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        sync.cancel()
        await asyncio.gather(sync, return_exceptions=True)
        await services.aclose()
