"""What every `rodistaa` subcommand shares."""

from __future__ import annotations

import typer

from rodistaa.settings import Settings, UnsafeSettingsError, load_settings


def load_cli_settings() -> Settings:
    """Settings, or exit 2 with every unsafe setting named."""
    try:
        return load_settings()
    except UnsafeSettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
