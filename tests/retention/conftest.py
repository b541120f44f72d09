"""The `rodistaa jobs` CLI fixtures (a throw-away SQLite file and a Typer runner), shared."""

from tests.test_jobs_cli import db_path, runner  # noqa: F401 - fixtures, found by name
