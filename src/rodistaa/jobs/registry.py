"""The periodic jobs `rodistaa worker` runs, each with how often it is due.

Decisions:

* Default intervals: `auto-finalize` every 60 s (a booking waits at most a minute past its
  bidding deadline), `no-ping-alerts` every 300 s (alerts are about 30-minute silences),
  `audit-checkpoint` every 30 s (an entry stays unsigned at most `audit_checkpoint_every_s`
  plus 30 s), the outbox delivery jobs every 10 s, and the daily fleet jobs
  (`document-expiry`, `inspection-due`, `expiry-notifications`) and `acs-events-retention`
  once a day.
* One setting changes them: `worker_intervals` (`WORKER_INTERVALS`), a mapping of job name to
  seconds, given as JSON (`{"auto-finalize": 30}`) or as `name=seconds` pairs separated by
  commas. An unknown name or a non-positive interval is refused when the worker starts, so a
  typo never silently leaves a job on its default.
* Outbox delivery belongs to the webhooks domain: its jobs are whatever
  `rodistaa.webhooks.jobs.JOBS` exports, imported when the registry is built; without that
  module the worker runs without them.
* No expired-block cleanup job: a block whose `expires_at` has passed is already inactive for
  every reader (`acs.enforcement` filters `expires_at > now`), and a stored BLOCKED truck status
  is sticky by design until an override lifts it (`fleet.status`). There is nothing to clean.
* `acs-events-retention` deletes evaluated ACS events (`acs_events`, the backtest and rate
  window record; not the audit log, whose hash chain refuses deletes) older than
  `acs_events_retention_days` (default 180), in batches of 1000 rows, each batch in its own
  transaction with an audit entry counting what it deleted. Nothing reads events that old:
  the rate facts look back one minute, dashboards a month; backtests can only go back as far.
* `audit-verify` (every 6 hours) recomputes the whole audit chain and checks every checkpoint
  signature, like `rodistaa audit verify`, and records the result: the
  `audit_last_verification_ok` gauge and its alert read it, so tampering is noticed within
  hours without anyone running the command (measured: 9 s for 100,000 entries on 2 cores,
  docs/runbooks/backup-restore.md). A failed verification is a finding, not a failed job: it
  is logged as an error and alerted on through the gauge.
* `idempotency-purge` (hourly) deletes idempotency records past their replay window
  (`IDEMPOTENCY_TTL_HOURS`); requests already ignore expired records, so it only keeps the table
  small (docs/idempotency.md).
* The retention jobs `gps-retention`, `notifications-retention`, `credentials-retention` and
  `audit-retention` (daily) are whatever `rodistaa.retention.jobs.JOBS` exports; their periods
  and what each keeps are in docs/retention.md.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import structlog
from sqlalchemy import delete, select

from rodistaa.acs.audit import AuditEntryDraft, append, maybe_checkpoint, record_verification, verify_chain
from rodistaa.acs.metrics import refresh_audit_gauges
from rodistaa.acs.tables import acs_events
from rodistaa.finalization.jobs import JOBS as FINALIZATION_JOBS
from rodistaa.fleet.jobs import JOBS as FLEET_JOBS
from rodistaa.fleet.jobs import JobSpec
from rodistaa.http.services import Services
from rodistaa.idempotency.jobs import JOBS as IDEMPOTENCY_JOBS
from rodistaa.jobs.spec import JobSummary, ServiceJobSpec
from rodistaa.retention.jobs import JOBS as RETENTION_JOBS
from rodistaa.tracking.jobs import JOBS as TRACKING_JOBS

log = structlog.get_logger("rodistaa.jobs")

JOB_ACTOR = "system:jobs"
DAY_S = 24 * 3600.0
WEBHOOK_JOBS_MODULE = "rodistaa.webhooks.jobs"
WEBHOOK_DEFAULT_INTERVAL_S = 10.0
DEFAULT_RETENTION_DAYS = 180
RETENTION_BATCH = 1000

DEFAULT_INTERVALS_S: Mapping[str, float] = MappingProxyType(
    {
        "auto-finalize": 60.0,
        "no-ping-alerts": 300.0,
        "document-expiry": DAY_S,
        "inspection-due": DAY_S,
        "expiry-notifications": DAY_S,
        "audit-checkpoint": 30.0,
        "audit-verify": 6 * 3600.0,
        "acs-events-retention": DAY_S,
        "idempotency-purge": 3600.0,
        "gps-retention": DAY_S,
        "notifications-retention": DAY_S,
        "credentials-retention": DAY_S,
        "audit-retention": DAY_S,
    }
)


class WorkerConfigError(ValueError):
    """The worker's settings name a job that does not exist or give an unusable interval."""


@dataclass(frozen=True)
class PeriodicJob:
    """A job and how often it is due: at most one run starts per `interval_s`."""

    name: str
    description: str
    interval_s: float
    run: Callable[[Services], Awaitable[JobSummary]]


@dataclass
class CountSummary:
    job: str
    counts: dict[str, object] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        return {"job": self.job, **self.counts}


def _database_job(spec: JobSpec) -> Callable[[Services], Awaitable[JobSummary]]:
    async def run(services: Services) -> JobSummary:
        return await spec.run(services.db, services.clock)

    return run


async def audit_checkpoint(services: Services) -> CountSummary:
    """One pass of what `acsapi.tasks.checkpoint_forever` does in every API instance."""
    settings = services.settings
    checkpoint = await maybe_checkpoint(
        services.db,
        services.kms,
        every_entries=settings.audit_checkpoint_every_entries,
        every_seconds=settings.audit_checkpoint_every_s,
        now=services.clock.now(),
    )
    return CountSummary("audit-checkpoint", {"signedSeq": checkpoint.seq if checkpoint else None})


async def audit_verify(services: Services) -> CountSummary:
    """Verify the whole chain, record the result and publish it in this process's gauges."""
    report = await verify_chain(services.db, services.kms, from_seq=1, to_seq=None)
    await record_verification(services.db, report, now=services.clock.now())
    await refresh_audit_gauges(services.db)
    if not report.ok:
        log.error(
            "audit_verification_failed",
            first_bad_seq=report.first_bad_seq,
            kind=report.kind.value if report.kind else None,
        )
    counts: dict[str, object] = {
        "ok": report.ok,
        "entries": report.count,
        "firstBadSeq": report.first_bad_seq,
    }
    return CountSummary("audit-verify", counts)


def retention_days(settings: Any) -> int:
    days = settings.acs_events_retention_days
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise WorkerConfigError("acs_events_retention_days must be a whole number of days >= 1")
    return days


async def acs_events_retention(services: Services, *, batch: int = RETENTION_BATCH) -> CountSummary:
    """Delete evaluated ACS events older than the retention age, oldest first, in batches."""
    now = services.clock.now()
    cutoff = now - timedelta(days=retention_days(services.settings))
    deleted = 0
    while True:
        removed = await _delete_batch(services, cutoff, batch=batch, now=now)
        deleted += removed
        if removed < batch:
            return CountSummary("acs-events-retention", {"deleted": deleted, "before": cutoff.isoformat()})


async def _delete_batch(services: Services, cutoff: datetime, *, batch: int, now: datetime) -> int:
    async with services.db.transaction() as conn:
        ids = list(
            (
                await conn.execute(
                    select(acs_events.c.event_id)
                    .where(acs_events.c.at < cutoff)
                    .order_by(acs_events.c.at)
                    .limit(batch)
                )
            ).scalars()
        )
        if not ids:
            return 0
        await conn.execute(delete(acs_events).where(acs_events.c.event_id.in_(ids)))
        data = {"deleted": len(ids), "before": cutoff.isoformat()}
        await append(
            conn, AuditEntryDraft(JOB_ACTOR, "acs.events_purged", "acs_events", "retention", data), now=now
        )
    return len(ids)


def _webhook_jobs() -> Mapping[str, ServiceJobSpec]:
    try:
        module = importlib.import_module(WEBHOOK_JOBS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name in (WEBHOOK_JOBS_MODULE, WEBHOOK_JOBS_MODULE.rsplit(".", 1)[0]):
            return {}
        raise  # the module exists but one of its own imports is broken: say so
    jobs: Mapping[str, ServiceJobSpec] = module.JOBS
    return jobs


def available_jobs() -> dict[str, tuple[str, Callable[[Services], Awaitable[JobSummary]], float]]:
    """Every periodic job: name → (description, run, default interval in seconds)."""
    found: dict[str, tuple[str, Callable[[Services], Awaitable[JobSummary]], float]] = {}
    for name, spec in FLEET_JOBS.items():
        found[name] = (spec.description, _database_job(spec), DEFAULT_INTERVALS_S[name])
    service_jobs = {**FINALIZATION_JOBS, **TRACKING_JOBS, **IDEMPOTENCY_JOBS, **RETENTION_JOBS}
    for name, service_spec in service_jobs.items():
        found[name] = (service_spec.description, service_spec.run, DEFAULT_INTERVALS_S[name])
    found["audit-checkpoint"] = (
        "Sign an audit checkpoint when enough entries or time have accumulated.",
        audit_checkpoint,
        DEFAULT_INTERVALS_S["audit-checkpoint"],
    )
    found["audit-verify"] = (
        "Verify the whole audit chain and its checkpoint signatures; record the result.",
        audit_verify,
        DEFAULT_INTERVALS_S["audit-verify"],
    )
    found["acs-events-retention"] = (
        "Delete evaluated ACS events older than the retention age (not the audit log).",
        acs_events_retention,
        DEFAULT_INTERVALS_S["acs-events-retention"],
    )
    for name, service_spec in _webhook_jobs().items():
        found[name] = (service_spec.description, service_spec.run, WEBHOOK_DEFAULT_INTERVAL_S)
    return found


def parse_intervals(raw: object) -> dict[str, float]:
    """`worker_intervals` as a mapping: a dict, JSON text, or `name=seconds,name=seconds`."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("{"):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                raise WorkerConfigError(f"worker_intervals is not valid JSON: {exc.msg}") from exc
        else:
            pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise WorkerConfigError("worker_intervals must be name=seconds pairs separated by commas")
            raw = {name.strip(): value.strip() for name, value in pairs}
    if not isinstance(raw, Mapping):
        raise WorkerConfigError("worker_intervals must map job names to seconds")
    intervals: dict[str, float] = {}
    for name, value in raw.items():
        try:
            seconds = float(value)
        except (TypeError, ValueError) as exc:
            raise WorkerConfigError(f"worker_intervals[{name!r}] is not a number of seconds") from exc
        if not seconds > 0 or seconds == float("inf"):
            raise WorkerConfigError(f"worker_intervals[{name!r}] must be a positive number of seconds")
        intervals[str(name)] = seconds
    return intervals


def build_registry(settings: Any) -> list[PeriodicJob]:
    """The jobs with their intervals: defaults, overridden by `settings.worker_intervals`."""
    available = available_jobs()
    overrides = parse_intervals(settings.worker_intervals)
    unknown = sorted(set(overrides) - set(available))
    if unknown:
        raise WorkerConfigError(
            f"worker_intervals names unknown jobs {unknown}; known jobs: {sorted(available)}"
        )
    retention_days(settings)  # refuse a bad retention age at start, not at the first run
    return [
        PeriodicJob(name, description, overrides.get(name, default), run)
        for name, (description, run, default) in sorted(available.items())
    ]
