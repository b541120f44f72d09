"""`audit-retention` deletes nothing: it reports entries older than AUDIT_RETENTION_YEARS as due
for archival, and refuses a period under 7 years (as the settings do). Each test runs on a
database of its own whose chain starts eight years ago, as a long-running deployment's would."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from pydantic import ValidationError
from sqlalchemy import func, select

from rodistaa.acs.audit import AuditEntryDraft, append_standalone, verify_chain
from rodistaa.acs.audit.tables import audit_log
from rodistaa.db import migrate
from rodistaa.http.services import Services
from rodistaa.retention.jobs import audit_retention
from rodistaa.retention.policy import RetentionConfigError, years_before
from rodistaa.settings import Settings
from tests.conftest import FakeClock, Harness, make_settings, running_app
from tests.databases import fresh_database


@pytest.fixture
def own_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A chain of this test's own, so its first entry is as old as the test says."""
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        yield url


async def entry(services: Services, name: str, at: datetime) -> int:
    draft = AuditEntryDraft("test", "test.event", "thing", name, {})
    return (await append_standalone(services.db, draft, now=at)).seq


async def entry_count(services: Services) -> int:
    async with services.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(audit_log))).scalar_one())


class TestAuditRetention:
    async def test_reports_entries_past_seven_years_for_archival_and_deletes_none(
        self, own_database: str
    ) -> None:
        now = datetime.now(UTC)
        clock = FakeClock()
        clock.current = years_before(now, 8)
        async with running_app(make_settings(own_database), clock=clock) as h:
            services = h.app.state.services
            await entry(services, "eight-years-old", clock.now())
            clock.current = years_before(now, 2)
            six_years_on = (await audit_retention(services)).summary()
            assert (six_years_on["due"], six_years_on["archivalRequired"]) == (0, False)

            last_due = await entry(
                services, "just-past-seven-years", years_before(now, 7) - timedelta(seconds=1)
            )
            await entry(services, "just-inside-seven-years", years_before(now, 7) + timedelta(seconds=1))
            clock.current = now
            await entry(services, "today", now)
            stored = await entry_count(services)

            with structlog.testing.capture_logs() as logs:
                result = await audit_retention(services)

            assert result.summary() == {
                "job": "audit-retention",
                "before": years_before(now, 7).isoformat(),
                "due": last_due,  # every entry up to it is older
                "throughSeq": last_due,
                "archivalRequired": True,
            }
            [warning] = [e for e in logs if e["event"] == "retention.audit_archival_required"]
            assert warning["log_level"] == "warning"
            assert (warning["due_entries"], warning["through_seq"]) == (last_due, last_due)
            assert await entry_count(services) == stored
            assert (await verify_chain(services.db, services.kms)).ok

    async def test_a_period_under_seven_years_is_refused_by_the_job(self, harness: Harness) -> None:
        services = harness.app.state.services
        shorter = replace(
            services, settings=services.settings.model_copy(update={"audit_retention_years": 6})
        )
        with pytest.raises(RetentionConfigError, match=r"AUDIT_RETENTION_YEARS must be .* >= 7"):
            await audit_retention(shorter)


class TestSetting:
    @pytest.mark.parametrize("years", [0, 1, 6, -7])
    def test_under_seven_years_is_refused_naming_the_setting(self, years: int) -> None:
        with pytest.raises(ValidationError, match=r"AUDIT_RETENTION_YEARS must be .* >= 7"):
            Settings(_env_file=None, audit_retention_years=years)  # type: ignore[call-arg]

    def test_seven_years_or_more_is_accepted(self) -> None:
        assert Settings(_env_file=None).audit_retention_years == 7  # type: ignore[call-arg]
        assert Settings(_env_file=None, audit_retention_years=10).audit_retention_years == 10  # type: ignore[call-arg]
