"""How a SQLAlchemy URL becomes the libpq environment of pg_dump / pg_restore."""

from __future__ import annotations

import pytest

from rodistaa.backup.errors import BackupFailed
from rodistaa.backup.postgres import libpq_environment


def test_every_part_of_the_url_becomes_a_pg_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    env = libpq_environment("postgresql+asyncpg://app:p%40ss%3Aw%2Frd@db.internal:6432/rodistaa?ssl=require")
    assert {
        name: env[name] for name in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE")
    } == {
        "PGHOST": "db.internal",
        "PGPORT": "6432",
        "PGUSER": "app",
        "PGPASSWORD": "p@ss:w/rd",
        "PGDATABASE": "rodistaa",
        "PGSSLMODE": "require",
    }


def test_libpq_sslmode_is_accepted_too() -> None:
    assert libpq_environment("postgresql://app@db/rodistaa?sslmode=verify-full")["PGSSLMODE"] == "verify-full"


def test_unset_parts_leave_the_operators_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """No password in the URL: a PGPASSWORD (or ~/.pgpass) the operator set still applies."""
    monkeypatch.setenv("PGPASSWORD", "from-the-operator")
    monkeypatch.delenv("PGPORT", raising=False)
    env = libpq_environment("postgresql+asyncpg://app@db/rodistaa")
    assert env["PGPASSWORD"] == "from-the-operator"
    assert "PGPORT" not in env
    assert env["PATH"]


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///var/rodistaa.db", "postgresql+asyncpg://app@db"])
def test_anything_but_a_postgres_database_is_refused(url: str) -> None:
    with pytest.raises(BackupFailed, match="not a PostgreSQL URL with a database name"):
        libpq_environment(url)
