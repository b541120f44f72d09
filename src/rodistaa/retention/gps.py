"""`gps-retention`: raw GPS fixes older than `GPS_RETENTION_DAYS` become one summary row per
shipment and UTC day (`gps_daily_summaries`), and are deleted.

* Only ended trips (COMPLETED, CANCELLED, FAILED) are summarised. A trip still running — en
  route, or back to driver approval after a breakdown — keeps every fix however old: the
  track is being written and read (no-ping alerts, ACS deltas, the spoof history).
* A frozen shipment (an active ACS or admin freeze, or an active shipment block) keeps its raw
  fixes while the hold lasts: the track is the evidence of the review. Once the hold is lifted
  the next run summarises it like any other.
* One transaction per (shipment, day): the fixes are deleted (the DELETE is the claim, see
  `repo.take_fixes`), the summary written from exactly the deleted rows, and an audit entry
  appended. A day is at most 86,400 fixes (one a second), so no transaction is large however
  big the backlog, and a failure loses nothing: the day's fixes come back with the rollback.
* `shipment_positions` (the latest position) is not touched: it is one row per shipment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise

import structlog

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.http.services import Services
from rodistaa.retention import policy, repo
from rodistaa.retention.repo import DailySummary, SummaryExists, TakenFix
from rodistaa.tracking.spoof import Fix, distance_km

log = structlog.get_logger("rodistaa.retention")

JOB_ACTOR = "system:jobs"
SHIPMENT_PAGE = 200


def summarize_day(shipment_id: str, day: date, fixes: Sequence[TakenFix]) -> DailySummary:
    """The summary of one shipment's fixes of one UTC day (at least one fix). Distance is the
    sum of great-circle distances between consecutive fixes in time order — the track as the
    device reported it, mock locations included (they are counted apart)."""
    ordered = sorted(fixes, key=lambda f: f.recorded_at)
    points = [Fix(f.lat, f.lng, f.recorded_at) for f in ordered]
    speeds = [f.speed_kmh for f in ordered if f.speed_kmh is not None]
    first, last = ordered[0], ordered[-1]
    return DailySummary(
        shipment_id=shipment_id,
        day=day.isoformat(),
        ping_count=len(ordered),
        first_recorded_at=first.recorded_at,
        last_recorded_at=last.recorded_at,
        first_lat=first.lat,
        first_lng=first.lng,
        last_lat=last.lat,
        last_lng=last.lng,
        distance_km=sum((distance_km(a, b) for a, b in pairwise(points)), 0.0),
        max_speed_kmh=max(speeds, default=None),
        mock_location_count=sum(1 for f in ordered if f.mock_location),
    )


@dataclass
class GpsRetentionResult:
    before: datetime
    days: int = 0
    deleted: int = 0
    conflicts: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "job": "gps-retention",
            "before": self.before.isoformat(),
            "summarisedDays": self.days,
            "deletedFixes": self.deleted,
            "conflicts": len(self.conflicts),
        }


async def gps_retention(services: Services, *, page: int = SHIPMENT_PAGE) -> GpsRetentionResult:
    """Summarise and delete every due day of every disposable shipment (module docstring)."""
    now = services.clock.now()
    result = GpsRetentionResult(policy.gps_due_before(now, services.settings.gps_retention_days))
    after_id = ""
    while True:
        async with services.db.read() as conn:
            ids = await repo.shipments_with_due_fixes(
                conn, before=result.before, now=now, after_id=after_id, limit=page
            )
        if not ids:
            return result
        for shipment_id in ids:
            await _summarize_shipment(services, shipment_id, result, now=now)
        after_id = ids[-1]


async def _summarize_shipment(
    services: Services, shipment_id: str, result: GpsRetentionResult, *, now: datetime
) -> None:
    """Day by day, oldest first; `since` moves past each day so a day that could not be taken
    (frozen meanwhile, a conflict) is not tried again in this run."""
    since: datetime | None = None
    while True:
        async with services.db.read() as conn:
            oldest = await repo.oldest_fix_at(conn, shipment_id, since=since, before=result.before)
        if oldest is None:
            return
        day, start, end = policy.utc_day_bounds(oldest)
        await _summarize_day(services, shipment_id, day, start, end, result, now=now)
        since = end


async def _summarize_day(
    services: Services,
    shipment_id: str,
    day: date,
    start: datetime,
    end: datetime,
    result: GpsRetentionResult,
    *,
    now: datetime,
) -> None:
    try:
        async with services.db.transaction() as conn:
            fixes = await repo.take_fixes(conn, shipment_id, start=start, end=end, now=now)
            if not fixes:
                return  # another run took them, or the shipment was frozen meanwhile
            summary = summarize_day(shipment_id, day, fixes)
            await repo.insert_daily_summary(conn, summary)
            data = {"day": summary.day, "pingCount": summary.ping_count}
            draft = AuditEntryDraft(JOB_ACTOR, "tracking.fixes_summarised", "shipment", shipment_id, data)
            await append(conn, draft, now=now)
    except SummaryExists:
        # Rolled back: the raw fixes stay; an operator decides (docs/retention.md).
        log.warning("retention.gps_summary_exists", shipment_id=shipment_id, day=day.isoformat())
        result.conflicts.append(f"{shipment_id}/{day.isoformat()}")
        return
    result.days += 1
    result.deleted += len(fixes)
