"""Alembic migrations against `rodistaa.db.tables.metadata`, on SQLite and PostgreSQL.

Migrations run Alembic's env.py, which calls `asyncio.run`, so every test here is synchronous:
migrations are applied directly and the inspection steps use their own `asyncio.run`.
"""

from __future__ import annotations

import ast
import asyncio
import inspect as pyinspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, inspect
from sqlalchemy.engine import Connection

from rodistaa.db import migrate
from rodistaa.db.engine import create_engine
from rodistaa.db.schema import metadata
from tests.databases import BACKENDS, fresh_database, require_backend

T = TypeVar("T")

ALEMBIC_VERSION = "alembic_version"
VERSIONS_DIR = migrate.MIGRATIONS_DIR / "versions"


def _script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))


def _inspect_sync(url: str, fn: Callable[[Connection], T]) -> T:
    """Run `fn(sync_connection)` on a fresh engine, outside any running event loop."""

    async def run() -> T:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _table_names(url: str) -> set[str]:
    return _inspect_sync(url, lambda conn: set(inspect(conn).get_table_names()))


def _current_heads(url: str) -> set[str]:
    return _inspect_sync(url, lambda conn: set(MigrationContext.configure(conn).get_current_heads()))


def _drift(url: str) -> list[Any]:
    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))

    return _inspect_sync(url, compare)


def _check_constraint_names(url: str) -> dict[str, set[str]]:
    def collect(conn: Connection) -> dict[str, set[str]]:
        inspector = inspect(conn)
        return {
            name: {str(ck["name"]) for ck in inspector.get_check_constraints(name)}
            for name in metadata.tables
        }

    return _inspect_sync(url, collect)


EXPECTED_TABLES = set(metadata.tables) | {ALEMBIC_VERSION}


class TestRevisionGraph:
    def test_single_head(self) -> None:
        heads = _script_directory().get_heads()
        assert len(heads) == 1, f"migration history has {len(heads)} heads: {heads}"
        assert migrate.head_revision() == heads[0]

    def test_history_is_linear_and_rooted_once(self) -> None:
        revisions = list(_script_directory().walk_revisions())
        assert revisions, "no migrations found"
        roots = [rev.revision for rev in revisions if rev.down_revision is None]
        assert len(roots) == 1, f"expected one base migration, found {roots}"
        for rev in revisions:
            assert not isinstance(rev.down_revision, tuple | list), (
                f"{rev.revision} is a merge point; history must be linear"
            )

    def test_every_versions_file_is_a_known_revision(self) -> None:
        files = {path.resolve() for path in VERSIONS_DIR.glob("*.py")}
        known = {Path(rev.path).resolve() for rev in _script_directory().walk_revisions()}
        assert files, f"no migration modules under {VERSIONS_DIR}"
        assert files == known, f"stray or unloaded migration files: {files ^ known}"

    def test_every_migration_has_a_real_downgrade(self) -> None:
        revisions = list(_script_directory().walk_revisions())
        assert revisions
        for rev in revisions:
            downgrade = getattr(rev.module, "downgrade", None)
            assert callable(downgrade), f"{rev.revision} defines no downgrade()"
            tree = ast.parse(textwrap.dedent(pyinspect.getsource(downgrade)))
            function = tree.body[0]
            assert isinstance(function, ast.FunctionDef)
            body = [
                stmt
                for stmt in function.body
                if not isinstance(stmt, ast.Pass)
                and not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
            ]
            assert body, f"{rev.revision}: downgrade() is empty (only pass/docstring/...)"
            assert not any(isinstance(stmt, ast.Raise) for stmt in body), (
                f"{rev.revision}: downgrade() raises instead of reverting"
            )
            calls_op = any(
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in {"op", "batch_op"}
                for node in ast.walk(function)
            )
            assert calls_op, f"{rev.revision}: downgrade() performs no schema operation"


@pytest.mark.parametrize("backend", BACKENDS)
class TestMigrationsOnDatabase:
    def test_upgrade_creates_exactly_the_metadata_tables(self, backend: str, tmp_path: Path) -> None:
        require_backend(backend)
        with fresh_database(backend, tmp_path) as url:
            assert _table_names(url) == set()
            migrate.upgrade(url)
            assert _table_names(url) == EXPECTED_TABLES
            assert _current_heads(url) == {migrate.head_revision()}

    def test_upgrade_downgrade_upgrade_round_trip(self, backend: str, tmp_path: Path) -> None:
        require_backend(backend)
        with fresh_database(backend, tmp_path) as url:
            migrate.upgrade(url)
            assert _table_names(url) == EXPECTED_TABLES

            migrate.downgrade(url, "base")
            assert _table_names(url) <= {ALEMBIC_VERSION}
            assert _current_heads(url) == set()

            migrate.upgrade(url)
            assert _table_names(url) == EXPECTED_TABLES
            assert _current_heads(url) == {migrate.head_revision()}
            # Indexes, constraints and defaults come back exactly, not just the table names.
            assert _drift(url) == []

    def test_upgrade_at_head_is_a_no_op(self, backend: str, tmp_path: Path) -> None:
        require_backend(backend)
        with fresh_database(backend, tmp_path) as url:
            migrate.upgrade(url)
            migrate.upgrade(url)
            assert _table_names(url) == EXPECTED_TABLES
            assert _current_heads(url) == {migrate.head_revision()}

    def test_no_drift_between_migrations_and_metadata(self, backend: str, tmp_path: Path) -> None:
        require_backend(backend)
        with fresh_database(backend, tmp_path) as url:
            migrate.upgrade(url)
            diff = _drift(url)
            assert diff == [], f"migrations and tables.py disagree: {diff}"

    def test_check_constraints_match_metadata(self, backend: str, tmp_path: Path) -> None:
        # Autogenerate does not compare CHECK constraints; compare their names here.
        require_backend(backend)
        expected = {
            table.name: {
                str(constraint.name)
                for constraint in table.constraints
                if isinstance(constraint, CheckConstraint)
            }
            for table in metadata.tables.values()
        }
        assert any(expected.values()), "metadata defines no CHECK constraints to compare"
        with fresh_database(backend, tmp_path) as url:
            migrate.upgrade(url)
            assert _check_constraint_names(url) == expected
