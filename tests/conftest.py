"""Shared fixtures: one migrated database per backend for the session, a fresh app per test
(with its own clock and OTP outbox), and tables emptied after each test."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from rodistaa.app import create_app
from rodistaa.db import migrate
from rodistaa.db.engine import create_engine
from rodistaa.db.schema import metadata
from rodistaa.settings import Environment, Settings
from tests.databases import BACKENDS, fresh_database, require_backend

TEST_JWT_SECRET = "test-signing-key-0123456789abcdef0123456789"
TEST_HMAC_KEY = "test-hmac-key-0123456789abcdef0123456789abcd"
TEST_KMS_KEYS = "1:" + base64.b64encode(b"k" * 32).decode()
TEST_STORAGE_DIR = Path(tempfile.mkdtemp(prefix="rodistaa-test-storage-"))
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = REPO_ROOT / "rules"
REFERENCE_BUNDLE = REPO_ROOT.parent / "shared" / "reference" / "acs_rules_top25.yaml"


class FakeClock:
    """Starts at the real time (the rate-limit windows use it) and moves only when told."""

    def __init__(self) -> None:
        self.current = datetime.now(UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class CapturingOtpSender:
    """The SMS gateway boundary: records what would have been sent."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, mobile: str, code: str, ttl_s: int) -> None:
        self.sent.append((mobile, code))

    def last_code(self, mobile: str) -> str:
        return next(code for to, code in reversed(self.sent) if to == mobile)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_backend(request.param)
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        migrate.upgrade(url)
        yield url


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": Environment.TEST,
        "database_url": database_url,
        "jwt_keys": f"k1:{TEST_JWT_SECRET}",
        "jwt_active_kid": "k1",
        "hmac_key": TEST_HMAC_KEY,
        "otp_dev_echo": False,
        "log_json": True,
        "local_kms_key_id": "test-kms",
        "local_kms_keys": TEST_KMS_KEYS,
        "acs_bundle_path": str(DEFAULT_BUNDLE),
        "storage_local_dir": str(TEST_STORAGE_DIR),
        "acs_watch_bundle": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def empty_tables(database_url: str) -> None:
    """Empty every table except the append-only audit tables (marked `refuses_delete`), whose
    triggers refuse DELETE and TRUNCATE; tests that need an empty chain use a fresh database."""
    tables = [t for t in metadata.sorted_tables if not t.info.get("refuses_delete")]
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in tables)
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(tables):
                    await conn.execute(table.delete())
    finally:
        await engine.dispose()


@dataclass
class Harness:
    client: httpx.AsyncClient
    clock: FakeClock
    sms: CapturingOtpSender
    settings: Settings
    app: Any


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings of the app under test."""
    return {}


@asynccontextmanager
async def running_app(
    settings: Settings, *, clock: FakeClock | None = None, otp_sender: Any = None
) -> AsyncIterator[Harness]:
    """An app with its lifespan started and an in-process HTTP client."""
    clock = clock or FakeClock()
    sms = CapturingOtpSender()
    app = create_app(settings, clock=clock, otp_sender=otp_sender or sms)
    # Start-up builds the services and loads the ACS bundle: seconds on a loaded 2-core machine,
    # beyond asgi-lifespan's 5 s default.
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Harness(client, clock, sms, settings, app)


@dataclass
class SharedApp:
    """One running app per database for the tests that use the default settings.

    Building an app and running its lifespan costs about a quarter of a second (FastAPI builds
    every route's models on the first request of each app), which dominated the suite. Between
    tests the shared app is put back as a fresh one would start (`reset`): clock at the real
    time, empty SMS outbox and rate limiters, the default ACS bundle active again (the tables
    were emptied), the service container and the route table as they were built. Tests with
    their own `settings_overrides` still get an app of their own."""

    harness: Harness
    built_services: dict[str, Any]
    built_routes: int

    async def reset(self) -> Harness:
        h = self.harness
        h.clock.current = datetime.now(UTC)
        h.sms.sent.clear()
        services = h.app.state.services
        vars(services).update(self.built_services)
        if len(h.app.router.routes) != self.built_routes:
            del h.app.router.routes[self.built_routes :]
            h.app.openapi_schema = None
        await services.limiter.reset()
        await services.acs.start(h.settings.acs_bundle_path)
        return h


@pytest.fixture(scope="session")
async def shared_app(database_url: str) -> AsyncIterator[SharedApp]:
    """Depends on the database, so it stops before that database is dropped."""
    async with running_app(make_settings(database_url)) as h:
        yield SharedApp(h, dict(vars(h.app.state.services)), len(h.app.router.routes))


@pytest.fixture
async def harness(
    database_url: str, settings_overrides: dict[str, Any], shared_app: SharedApp
) -> AsyncIterator[Harness]:
    try:
        if settings_overrides:
            async with running_app(make_settings(database_url, **settings_overrides)) as h:
                yield h
        else:
            yield await shared_app.reset()
    finally:
        await empty_tables(database_url)


@pytest.fixture
async def clean_database(database_url: str) -> AsyncIterator[str]:
    """The session's database for tests that start their own app; emptied afterwards."""
    try:
        yield database_url
    finally:
        await empty_tables(database_url)


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but TEST_REDIS_URL is not set")
        pytest.skip("TEST_REDIS_URL not set")
    return url
