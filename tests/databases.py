"""Throw-away databases for tests: SQLite files always, PostgreSQL when TEST_DATABASE_URL is set
(CI sets it; `CI=true` without it is an error so the PostgreSQL half can never be skipped)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

BACKENDS = ["sqlite", "postgres"]


def postgres_server_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true but TEST_DATABASE_URL is not set: the PostgreSQL run would be skipped")
    return None


def require_backend(backend: str) -> None:
    if backend == "postgres" and postgres_server_url() is None:
        pytest.skip("TEST_DATABASE_URL not set")


async def _admin_execute(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def fresh_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """An empty database of `backend`, dropped afterwards; yields its async URL."""
    name = f"rodistaa_t_{secrets.token_hex(6)}"
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_dir / (name + '.db')}"
        return
    server_url = postgres_server_url()
    assert server_url is not None
    asyncio.run(_admin_execute(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
