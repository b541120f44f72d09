"""The retention jobs (docs/retention.md), registered with the worker by `jobs.registry`:

* `gps-retention` — raw GPS fixes → daily summaries (`retention.gps`).
* `notifications-retention` — notifications older than `NOTIFICATION_RETENTION_DAYS`, read or
  not (the inbox is a feed of recent events; each one's cause is kept where it happened).
* `credentials-retention` — login codes, used sign-up tokens and sessions (refresh-token
  families with all their tokens), each `EXPIRED_CREDENTIALS_RETENTION_HOURS` after it
  stopped working.
* `audit-retention` — deletes nothing: it reports audit entries older than
  `AUDIT_RETENTION_YEARS` as due for archival (the chain refuses deletes by trigger).

Deletes go in batches of `BATCH` rows, each batch its own transaction with an audit entry
counting what it removed, so a large backlog never holds locks for long. Every job is
idempotent and safe to run concurrently: each DELETE re-checks what is due (`retention.repo`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.audit.canonical import format_timestamp
from rodistaa.auth.service import SIGNUP_TOKEN_TTL
from rodistaa.http.services import Services
from rodistaa.jobs.spec import ServiceJobSpec
from rodistaa.retention import policy, repo
from rodistaa.retention.gps import gps_retention

log = structlog.get_logger("rodistaa.retention")

JOB_ACTOR = "system:jobs"
BATCH = 1000


@dataclass(frozen=True)
class CountsSummary:
    job: str
    counts: Mapping[str, object]

    def summary(self) -> dict[str, object]:
        return {"job": self.job, **self.counts}


async def _purge(
    services: Services,
    delete_batch: Callable[[AsyncConnection], Awaitable[int]],
    *,
    batch: int,
    table: str,
    before: datetime,
    now: datetime,
) -> int:
    """Run `delete_batch` (which deletes at most `batch` rows) until a batch comes back short;
    each batch commits with an audit entry `retention.purged` counting its rows."""
    total = 0
    while True:
        async with services.db.transaction() as conn:
            removed = await delete_batch(conn)
            if removed:
                data = {"deleted": removed, "before": before.isoformat()}
                await append(
                    conn, AuditEntryDraft(JOB_ACTOR, "retention.purged", "table", table, data), now=now
                )
        total += removed
        if removed < batch:
            return total


async def notifications_retention(services: Services, *, batch: int = BATCH) -> CountsSummary:
    """Notifications created more than NOTIFICATION_RETENTION_DAYS ago, read or not."""
    now = services.clock.now()
    before = now - timedelta(days=services.settings.notification_retention_days)

    async def delete_batch(conn: AsyncConnection) -> int:
        return await repo.delete_notifications(conn, created_before=before, limit=batch)

    deleted = await _purge(services, delete_batch, batch=batch, table="notifications", before=before, now=now)
    return CountsSummary("notifications-retention", {"deleted": deleted, "before": before.isoformat()})


async def credentials_retention(services: Services, *, batch: int = BATCH) -> CountsSummary:
    """Login codes expired, sign-up tokens expired (a used token's record is what refuses its
    replay, so it stays until the token itself has expired) and sessions dead (every refresh
    token expired) for longer than the grace period."""
    settings = services.settings
    now = services.clock.now()
    expired_before = now - timedelta(hours=settings.expired_credentials_retention_hours)
    created_before = expired_before - timedelta(seconds=settings.refresh_token_ttl_s)
    tokens_deleted = 0

    async def codes(conn: AsyncConnection) -> int:
        return await repo.delete_login_codes(conn, expired_before=expired_before, limit=batch)

    async def signups(conn: AsyncConnection) -> int:
        # A token is used after it was issued, so it expired at most SIGNUP_TOKEN_TTL after its use.
        used_before = expired_before - SIGNUP_TOKEN_TTL
        return await repo.delete_signup_token_uses(conn, used_before=used_before, limit=batch)

    async def sessions(conn: AsyncConnection) -> int:
        nonlocal tokens_deleted
        families, tokens = await repo.delete_dead_sessions(
            conn, expired_before=expired_before, created_before=created_before, limit=batch
        )
        tokens_deleted += tokens
        return families

    async def purge(table: str, delete_batch: Callable[[AsyncConnection], Awaitable[int]]) -> int:
        return await _purge(services, delete_batch, batch=batch, table=table, before=expired_before, now=now)

    counts = {
        "loginCodes": await purge("otp_codes", codes),
        "signupTokens": await purge("signup_tokens_used", signups),
        "sessions": await purge("refresh_token_families", sessions),
    }
    return CountsSummary(
        "credentials-retention",
        {**counts, "refreshTokens": tokens_deleted, "expiredBefore": expired_before.isoformat()},
    )


async def audit_retention(services: Services) -> CountsSummary:
    """Check that no audit entry is past `AUDIT_RETENTION_YEARS`; if some are, log that they
    need archiving (docs/retention.md#audit-log). Never deletes. Raises RetentionConfigError
    for a period under 7 years, whatever the settings object let through."""
    now = services.clock.now()
    before = policy.audit_due_before(now, services.settings.audit_retention_years)
    async with services.db.read() as conn:
        due = await repo.audit_entries_due(
            conn, before=format_timestamp(before), margin_before=format_timestamp(before + policy.ONE_DAY)
        )
    if due.count:
        log.warning(
            "retention.audit_archival_required",
            due_entries=due.count,
            through_seq=due.through_seq,
            before=before.isoformat(),
        )
    return CountsSummary(
        "audit-retention",
        {
            "before": before.isoformat(),
            "due": due.count,
            "throughSeq": due.through_seq,
            "archivalRequired": due.count > 0,
        },
    )


JOBS: Mapping[str, ServiceJobSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            ServiceJobSpec(
                "gps-retention",
                "Summarise raw GPS fixes past GPS_RETENTION_DAYS per shipment and day, then delete them.",
                gps_retention,
            ),
            ServiceJobSpec(
                "notifications-retention",
                "Delete notifications older than NOTIFICATION_RETENTION_DAYS.",
                notifications_retention,
            ),
            ServiceJobSpec(
                "credentials-retention",
                "Delete expired login codes, sign-up token records and dead sessions.",
                credentials_retention,
            ),
            ServiceJobSpec(
                "audit-retention",
                "Report audit entries past AUDIT_RETENTION_YEARS for archival (never deletes).",
                audit_retention,
            ),
        )
    }
)
