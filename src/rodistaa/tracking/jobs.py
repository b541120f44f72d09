"""The `no-ping-alerts` job (PRODUCT §6): a shipment en route (IN_TRANSIT, OTP_PENDING) that
has been silent too long gets a NO_PING alert, and its operator (and for a critical one its
shipper) a notification. Run by a scheduler every few minutes through `rodistaa jobs run`.

* Silent since: the time of the latest fix (`shipment_positions.recorded_at`: where the truck
  last was, not when the server heard of it), or the start of the trip when there is no fix.
  Frozen shipments are included: a frozen truck on the road that goes silent matters as much.
* Severity: WARNING after `no_ping_alert_after_s` (30 min), CRITICAL after
  `no_ping_critical_after_s` (60 min).
* Repeats: no new alert while the shipment has a NO_PING alert that is unacknowledged and less
  than `no_ping_repeat_s` (60 min) old, or that was acknowledged less than that long ago (an
  acknowledgement means "I am on it", so the reminders pause for one interval instead of
  starting again on the next run). One exception: the first time a silence (identified by its
  `silent_since`) crosses the critical threshold, a CRITICAL alert is raised even inside the
  interval — the escalation happens once per silence.
* Concurrency: each shipment is decided in its own short transaction under a per-shipment
  advisory lock (PostgreSQL; SQLite serialises write transactions), re-reading the silence
  under the lock, so two concurrent runs raise one alert and a ping that arrived meanwhile is
  seen. The alert, its notifications and its audit entry commit together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.core.roles import Role
from rodistaa.http.services import Services
from rodistaa.jobs.spec import ServiceJobSpec
from rodistaa.notifications.repo import notify
from rodistaa.settings import Settings
from rodistaa.shipments.status import EN_ROUTE_STATUSES
from rodistaa.tracking import repo
from rodistaa.tracking.repo import SilentShipment

JOB_ACTOR = "system:jobs"
NO_PING = "NO_PING"
BATCH = 200


class Severity(StrEnum):
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


@dataclass
class NoPingResult:
    examined: int = 0
    warnings: int = 0
    criticals: int = 0
    suppressed: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "job": "no-ping-alerts",
            "examined": self.examined,
            "raised": {"WARNING": self.warnings, "CRITICAL": self.criticals},
            "suppressed": self.suppressed,
        }


def severity_for(silence: timedelta, settings: Settings) -> Severity:
    if silence >= timedelta(seconds=settings.no_ping_critical_after_s):
        return Severity.CRITICAL
    return Severity.WARNING


def alert_message(shipment_id: str, severity: Severity, silence: timedelta) -> str:
    minutes = int(silence.total_seconds() // 60)
    prefix = "CRITICAL: " if severity is Severity.CRITICAL else ""
    return f"{prefix}No GPS ping from shipment {shipment_id} for {minutes} minutes"


async def no_ping_alerts(services: Services) -> NoPingResult:
    """Raise the NO_PING alerts due now; see the module docstring for the rules."""
    result = NoPingResult()
    now = services.clock.now()
    silent_before = now - timedelta(seconds=services.settings.no_ping_alert_after_s)
    after_id = ""
    while True:
        async with services.db.read() as conn:
            page = await repo.silent_shipments(
                conn, statuses=EN_ROUTE_STATUSES, silent_before=silent_before, after_id=after_id, limit=BATCH
            )
        if not page:
            return result
        for candidate in page:
            result.examined += 1
            await _decide(services, candidate.shipment_id, result, now=now, silent_before=silent_before)
        after_id = page[-1].shipment_id


async def _decide(
    services: Services, shipment_id: str, result: NoPingResult, *, now: datetime, silent_before: datetime
) -> None:
    settings = services.settings
    async with services.db.transaction() as conn:
        await repo.lock_alerts_of(conn, shipment_id)
        found = await repo.silent_shipments(
            conn,
            statuses=EN_ROUTE_STATUSES,
            silent_before=silent_before,
            after_id="",
            limit=1,
            only=shipment_id,
        )
        if not found:
            return  # a ping arrived, or the trip ended, since the page was read
        silent = found[0]
        severity = severity_for(now - silent.silent_since, settings)
        if not await _due(
            conn, silent, severity, now=now, repeat=timedelta(seconds=settings.no_ping_repeat_s)
        ):
            result.suppressed += 1
            return
        alert = await repo.insert_alert(
            conn,
            shipment_id,
            kind=NO_PING,
            severity=severity.value,
            silent_since=silent.silent_since,
            now=now,
        )
        await _notify_parties(conn, silent, severity, now=now)
        data = {
            "shipmentId": shipment_id,
            "severity": severity.value,
            "silentForS": int((now - silent.silent_since).total_seconds()),
        }
        await append(
            conn,
            AuditEntryDraft(JOB_ACTOR, "tracking.alert_raised", "tracking_alert", alert.id, data),
            now=now,
        )
    if severity is Severity.CRITICAL:
        result.criticals += 1
    else:
        result.warnings += 1


async def _due(
    conn: AsyncConnection, silent: SilentShipment, severity: Severity, *, now: datetime, repeat: timedelta
) -> bool:
    if not await repo.recent_alert_exists(conn, silent.shipment_id, NO_PING, since=now - repeat):
        return True
    if severity is not Severity.CRITICAL:
        return False
    # The one escalation of this silence to CRITICAL, even within the repeat interval.
    already = await repo.episode_has_severity(
        conn, silent.shipment_id, NO_PING, silent_since=silent.silent_since, severity=Severity.CRITICAL.value
    )
    return not already


async def _notify_parties(
    conn: AsyncConnection, silent: SilentShipment, severity: Severity, *, now: datetime
) -> None:
    message = alert_message(silent.shipment_id, severity, now - silent.silent_since)
    await notify(conn, user_id=silent.operator_id, role=Role.OPERATOR, message=message, now=now)
    if severity is Severity.CRITICAL:
        await notify(conn, user_id=silent.shipper_id, role=Role.SHIPPER, message=message, now=now)


JOBS: Mapping[str, ServiceJobSpec] = MappingProxyType(
    {
        "no-ping-alerts": ServiceJobSpec(
            "no-ping-alerts",
            "Raise NO_PING alerts for shipments en route without a GPS ping for too long.",
            no_ping_alerts,
        )
    }
)
