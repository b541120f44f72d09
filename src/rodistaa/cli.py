"""The `rodistaa` command: serve, database migrations, first admin."""

from __future__ import annotations

import asyncio
import sys

import typer
import uvicorn

from rodistaa.acsapi.audit_cli import audit_app
from rodistaa.acsapi.cli import acs_app
from rodistaa.backup.cli import backup_app
from rodistaa.cli_common import load_cli_settings
from rodistaa.core.clock import SystemClock
from rodistaa.core.errors import AppError
from rodistaa.core.phone import InvalidPhoneNumber, mask_phone, normalize_indian_mobile
from rodistaa.core.roles import Role
from rodistaa.db import migrate
from rodistaa.db.engine import Database, create_engine
from rodistaa.jobs.cli import jobs_app, worker
from rodistaa.kms_cli import kms_app
from rodistaa.ops.logging import configure_logging
from rodistaa.ops.metrics import multiprocess_directory
from rodistaa.settings import Settings
from rodistaa.users.service import UserService

app = typer.Typer(help="Rodistaa Core: marketplace API and ACS engine.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(acs_app, name="acs")
app.add_typer(audit_app, name="audit")
app.add_typer(backup_app, name="backup")
app.add_typer(jobs_app, name="jobs")
app.command("worker")(worker)
app.add_typer(kms_app, name="kms")


@app.callback()
def _logs_to_stderr() -> None:
    """Command output goes to stdout (JSON, tables); log lines go to stderr so they never mix.
    `serve` reconfigures logging for the service itself."""
    configure_logging("INFO", stream=sys.stderr)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
) -> None:
    """Serve the API with Uvicorn (uvloop + httptools). With several workers, their metrics
    are merged through PROMETHEUS_MULTIPROC_DIR (a temporary directory unless set; emptied at
    start either way; docs/observability.md)."""
    settings = load_cli_settings()  # refuse unsafe settings before forking workers
    with multiprocess_directory(workers):  # before the workers are spawned: they inherit it
        uvicorn.run(
            "rodistaa.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_config=None,
            proxy_headers=False,
            server_header=False,
            log_level=settings.log_level.lower(),
            # Uvicorn restarts a worker that has not answered within this after spawning; importing
            # the app takes seconds on a busy 2-core machine, far beyond the default 5 s.
            timeout_worker_healthcheck=30,
        )


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    migrate.upgrade(load_cli_settings().database_url, revision)


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base or -1.")) -> None:
    """Revert migrations down to REVISION."""
    migrate.downgrade(load_cli_settings().database_url, revision)


@db_app.command("current")
def db_current() -> None:
    """Show the database's current revision."""
    migrate.current(load_cli_settings().database_url)


@users_app.command("create-admin")
def create_admin(
    mobile: str = typer.Option(..., help="Indian mobile number of the admin."),
    name: str = typer.Option(..., help="Display name."),
) -> None:
    """Create an ADMIN account (the first admin; later admins are created through the API)."""
    try:
        normalised = normalize_indian_mobile(mobile)
    except InvalidPhoneNumber as exc:
        typer.echo(f"invalid --mobile: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not name.strip():
        typer.echo("invalid --name: must not be empty", err=True)
        raise typer.Exit(2)
    try:
        user_id = asyncio.run(_create_admin(load_cli_settings(), normalised, name.strip()))
    except AppError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created admin {user_id} ({mask_phone(normalised)})")


async def _create_admin(settings: Settings, mobile: str, name: str) -> str:
    db = Database(create_engine(settings.database_url))
    try:
        users = UserService(db=db, clock=SystemClock())
        user = await users.create_user(
            mobile=mobile, name=name, role=Role.ADMIN, email=None, created_by="cli"
        )
        return user.id
    finally:
        await db.dispose()


def main() -> None:
    app(prog_name="rodistaa")


if __name__ == "__main__":
    main()
