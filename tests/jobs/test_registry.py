"""The job registry and its one setting, one worker attempt (`run_if_due`) against the app's
service container with a fake clock, and the `acs-events-retention` job."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.tables import acs_events
from rodistaa.http.services import Services
from rodistaa.jobs.leadership import FAILED, RUNNING, SUCCEEDED
from rodistaa.jobs.registry import (
    DEFAULT_INTERVALS_S,
    PeriodicJob,
    WorkerConfigError,
    acs_events_retention,
    build_registry,
    parse_intervals,
)
from rodistaa.jobs.tables import job_runs
from rodistaa.jobs.worker import MAX_SLEEP_S, run_if_due
from tests.conftest import Harness


def settings(**values: Any) -> SimpleNamespace:
    """The settings the registry reads, with their defaults."""
    return SimpleNamespace(**{"worker_intervals": "", "acs_events_retention_days": 180, **values})


class TestRegistry:
    def test_every_job_has_its_default_interval(self) -> None:
        jobs = {job.name: job.interval_s for job in build_registry(settings())}
        assert {name: jobs[name] for name in DEFAULT_INTERVALS_S} == dict(DEFAULT_INTERVALS_S)
        assert jobs["auto-finalize"] == 60 and jobs["no-ping-alerts"] == 300
        assert jobs["document-expiry"] == jobs["inspection-due"] == jobs["expiry-notifications"] == 86400

    @pytest.mark.parametrize(
        "raw",
        [
            {"auto-finalize": 5, "no-ping-alerts": 30.5},
            '{"auto-finalize": 5, "no-ping-alerts": 30.5}',
            "auto-finalize=5, no-ping-alerts=30.5",
        ],
    )
    def test_the_setting_overrides_intervals_in_any_of_its_forms(self, raw: object) -> None:
        jobs = {job.name: job.interval_s for job in build_registry(settings(worker_intervals=raw))}
        assert (jobs["auto-finalize"], jobs["no-ping-alerts"], jobs["audit-checkpoint"]) == (5, 30.5, 30)

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ("auto-finalise=5", "unknown jobs ['auto-finalise']"),
            ("auto-finalize=0", "positive"),
            ("auto-finalize=-1", "positive"),
            ("auto-finalize=soon", "not a number"),
            ("auto-finalize", "name=seconds"),
            ('{"auto-finalize": ', "not valid JSON"),
            ("auto-finalize=nan", "positive"),
        ],
    )
    def test_a_bad_setting_is_refused_at_start(self, raw: str, message: str) -> None:
        with pytest.raises(WorkerConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            build_registry(settings(worker_intervals=raw))

    def test_a_bad_retention_age_is_refused_at_start(self) -> None:
        with pytest.raises(WorkerConfigError, match="acs_events_retention_days"):
            build_registry(settings(acs_events_retention_days=0))

    def test_no_setting_means_the_defaults(self) -> None:
        assert parse_intervals(None) == {} and parse_intervals("") == {}


@dataclass
class Counted:
    runs: int = 0

    def summary(self) -> dict[str, object]:
        return {"runs": self.runs}


def counting_job(counter: Counted, *, interval_s: float = 60, fail: bool = False) -> PeriodicJob:
    async def run(services: Services) -> Counted:
        counter.runs += 1
        if fail:
            raise ValueError("contains data that must not be stored")
        return counter

    return PeriodicJob("test-counting", "Counts its runs.", interval_s, run)


async def job_row(h: Harness, name: str) -> dict[str, Any]:
    async with h.app.state.services.db.read() as conn:
        found = (await conn.execute(select(job_runs).where(job_runs.c.name == name))).mappings().one()
    return dict(found)


class TestOneAttempt:
    async def test_a_due_job_runs_once_per_interval_and_is_recorded(self, harness: Harness) -> None:
        h, counter = harness, Counted()
        job = counting_job(counter)
        services = h.app.state.services
        first_at = h.clock.now()

        assert await run_if_due(services, job, runner="here:1") == MAX_SLEEP_S
        h.clock.advance(seconds=59)
        await run_if_due(services, job, runner="there:2")
        assert counter.runs == 1
        stored = await job_row(h, "test-counting")
        assert (stored["last_started_at"], stored["last_status"], stored["runner"]) == (
            first_at,
            SUCCEEDED,
            "here:1",
        )
        assert stored["last_finished_at"] == first_at
        assert json.loads(stored["last_summary"]) == {"runs": 1}

        h.clock.advance(seconds=1)
        await run_if_due(services, job, runner="there:2")
        assert counter.runs == 2
        assert (await job_row(h, "test-counting"))["runner"] == "there:2"

    async def test_the_wait_is_until_the_next_due_time_when_shorter(self, harness: Harness) -> None:
        h, job = harness, counting_job(Counted(), interval_s=2)
        await run_if_due(h.app.state.services, job, runner="a")
        h.clock.advance(seconds=0.5)
        assert await run_if_due(h.app.state.services, job, runner="a") == pytest.approx(1.5)

    async def test_a_failing_job_is_recorded_failed_with_its_error_type_only(self, harness: Harness) -> None:
        h, counter = harness, Counted()
        await run_if_due(h.app.state.services, counting_job(counter, fail=True), runner="a")
        stored = await job_row(h, "test-counting")
        assert stored["last_status"] == FAILED and json.loads(stored["last_summary"]) == {
            "error": "ValueError"
        }
        h.clock.advance(seconds=30)  # a failed run still counts as the interval's run
        await run_if_due(h.app.state.services, counting_job(counter), runner="a")
        assert counter.runs == 1

    async def test_a_run_cut_short_stays_running_and_is_retried_an_interval_later(
        self, harness: Harness
    ) -> None:
        h, counter = harness, Counted()
        services = h.app.state.services

        async def crash(services: Services) -> Counted:
            raise KeyboardInterrupt  # not an Exception: nothing records the end, like a kill

        with pytest.raises(KeyboardInterrupt):
            await run_if_due(services, PeriodicJob("test-counting", "", 60, crash), runner="dead:1")
        assert (await job_row(h, "test-counting"))["last_status"] == RUNNING
        await run_if_due(services, counting_job(counter), runner="alive:2")
        assert counter.runs == 0
        h.clock.advance(seconds=60)
        await run_if_due(services, counting_job(counter), runner="alive:2")
        assert counter.runs == 1


async def insert_event(h: Harness, event_id: str, age: timedelta) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            acs_events.insert().values(
                event_id=event_id,
                event_type="test.event",
                at=h.clock.now() - age,
                actor_id=None,
                event="{}",
                context="{}",
                facts="{}",
                outcome="ALLOW",
                code=None,
                rule_id=None,
                matched="[]",
                revision="r1",
            )
        )


class TestRetention:
    async def test_deletes_only_events_older_than_the_retention_age_in_audited_batches(
        self, harness: Harness
    ) -> None:
        h = harness
        for i in range(5):
            await insert_event(h, f"EV-OLD-{i}", timedelta(days=181))
        await insert_event(h, "EV-EDGE", timedelta(days=179, hours=23))
        await insert_event(h, "EV-NEW", timedelta(days=1))
        async with h.app.state.services.db.read() as conn:
            seq_before = (await conn.execute(select(func.max(audit_log.c.seq)))).scalar() or 0

        result = await acs_events_retention(h.app.state.services, batch=2)

        assert result.summary()["deleted"] == 5
        async with h.app.state.services.db.read() as conn:
            left = set((await conn.execute(select(acs_events.c.event_id))).scalars())
            entries = (
                (
                    await conn.execute(
                        select(audit_log).where(audit_log.c.seq > seq_before).order_by(audit_log.c.seq)
                    )
                )
                .mappings()
                .all()
            )
        assert left == {"EV-EDGE", "EV-NEW"}
        assert [e["action"] for e in entries] == ["acs.events_purged"] * 3
        assert [json.loads(e["data"])["deleted"] for e in entries] == [2, 2, 1]

        again = await acs_events_retention(h.app.state.services, batch=2)
        assert again.summary()["deleted"] == 0
