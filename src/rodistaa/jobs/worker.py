"""The worker loop: every periodic job (`jobs.registry`) runs when due, on exactly one instance
(`jobs.leadership`), until asked to stop.

Decisions:

* One task per job: a long run of one job (a daily fleet sweep) never delays another (the
  minute's auto-finalization). Each task sleeps until its job is next due as recorded in
  `job_runs` (so it wakes when another instance's run makes it due again), at most
  `MAX_SLEEP_S`. While another instance holds a job's lease it looks again every quarter
  interval (at most `MAX_SLEEP_S`), so a dead leader's job is taken over at its next due time.
* A job that raises is recorded FAILED with the error's type (not its message, which may hold
  data) and logged; the worker goes on. A database outage while claiming is logged and retried
  after `RETRY_S`.
* Stopping: `stop_event` set (SIGTERM/SIGINT for `rodistaa worker`, the app's shutdown for the
  in-process worker) lets the running jobs finish and starts no new run. Cancelling the task
  instead abandons the runs: their `job_runs` rows stay RUNNING and the leases are released
  (or die with the connection), which is what a crash looks like and what the jobs tolerate
  (each is idempotent).
* Time is the service clock's (`services.clock`), as everywhere else: instances must agree on
  the time to a fraction of the shortest interval (NTP does).
* Metrics: every run this worker executes counts in `job_runs_total{job,outcome}` and a success
  sets `job_last_success_timestamp_seconds{job}` to the run's start. Both outcomes of every
  selected job exist at zero from the start, so the first failure is visible to increase().
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import timedelta

import structlog

from rodistaa.http.services import Services
from rodistaa.jobs.leadership import FAILED, SUCCEEDED, claim_run, default_runner, finish_run, leadership
from rodistaa.jobs.registry import PeriodicJob, build_registry
from rodistaa.ops.metrics import JOB_LAST_SUCCESS, JOB_RUNS, declare_jobs

log = structlog.get_logger("rodistaa.worker")

MAX_SLEEP_S = 5.0
MIN_SLEEP_S = 0.05
RETRY_S = 5.0
BUSY_RETRY_FRACTION = 4


async def run_worker_forever(
    services: Services,
    stop_event: asyncio.Event,
    *,
    jobs: Sequence[PeriodicJob] | None = None,
    runner: str | None = None,
) -> None:
    """Run the periodic jobs until `stop_event` is set; returns once the running jobs ended.
    `jobs` defaults to the registry built from `services.settings` (tests pass their own)."""
    selected = list(jobs) if jobs is not None else build_registry(services.settings)
    name = runner or default_runner()
    declare_jobs(job.name for job in selected)
    log.info("worker_started", runner=name, jobs={job.name: job.interval_s for job in selected})
    tasks = [asyncio.create_task(_job_loop(services, job, stop_event, name)) for job in selected]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    log.info("worker_stopped", runner=name)


async def _job_loop(services: Services, job: PeriodicJob, stop_event: asyncio.Event, runner: str) -> None:
    while not stop_event.is_set():
        try:
            delay = await run_if_due(services, job, runner=runner)
        except Exception as exc:  # the database is unreachable: try again later
            log.warning("worker_attempt_failed", job=job.name, error=type(exc).__name__)
            delay = RETRY_S
        await _sleep_unless_stopped(stop_event, delay)


async def _sleep_unless_stopped(stop_event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop_event.wait(), timeout=seconds)


async def run_if_due(services: Services, job: PeriodicJob, *, runner: str) -> float:
    """One attempt: take the job's lease, run it if due, record the run. Returns how many
    seconds to wait before the next attempt."""
    interval = timedelta(seconds=job.interval_s)
    async with leadership(services.db, job.name) as leader:
        if not leader:  # another instance holds it: look again soon, to take over if it dies
            return max(MIN_SLEEP_S, min(job.interval_s / BUSY_RETRY_FRACTION, MAX_SLEEP_S))
        now = services.clock.now()
        claim = await claim_run(services.db, job.name, interval=interval, now=now, runner=runner)
        if claim.started_at is not None:
            status, summary = await _run(services, job)
            _count_run(job.name, status, claim.started_at.timestamp())
            await finish_run(
                services.db,
                job.name,
                started_at=claim.started_at,
                runner=runner,
                now=services.clock.now(),
                status=status,
                summary=summary,
            )
    wait = (claim.next_due_at - services.clock.now()).total_seconds()
    return max(MIN_SLEEP_S, min(wait, MAX_SLEEP_S))


def _count_run(job: str, status: str, started_at_s: float) -> None:
    outcome = "succeeded" if status == SUCCEEDED else "failed"
    JOB_RUNS.labels(job, outcome).inc()
    if status == SUCCEEDED:
        JOB_LAST_SUCCESS.labels(job).set(started_at_s)


async def _run(services: Services, job: PeriodicJob) -> tuple[str, dict[str, object]]:
    log.info("job_started", job=job.name)
    try:
        result = await job.run(services)
    except Exception as exc:
        log.exception("job_failed", job=job.name)
        return FAILED, {"error": type(exc).__name__}
    summary = result.summary()
    log.info("job_finished", job=job.name, summary=summary)
    return SUCCEEDED, summary
