"""All SQL of the retention jobs. Every delete states what is due in its own WHERE clause (not
only in the query that chose the rows), so a row that changed after it was chosen — a login
code replaced by a new request, a shipment frozen meanwhile — is not deleted."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.tables import notifications
from rodistaa.db.tables import otp_codes, refresh_token_families, refresh_tokens, signup_tokens_used
from rodistaa.shipments.repo import frozen_expr
from rodistaa.shipments.status import FINAL_STATUSES
from rodistaa.shipments.tables import shipments
from rodistaa.tracking.tables import gps_daily_summaries, gps_pings

_FINAL = sorted(s.value for s in FINAL_STATUSES)

# --- raw GPS fixes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TakenFix:
    lat: float
    lng: float
    recorded_at: datetime
    speed_kmh: float | None
    mock_location: bool


@dataclass(frozen=True)
class DailySummary:
    """One `gps_daily_summaries` row (see its column comments in `tracking.tables`)."""

    shipment_id: str
    day: str
    ping_count: int
    first_recorded_at: datetime
    last_recorded_at: datetime
    first_lat: float
    first_lng: float
    last_lat: float
    last_lng: float
    distance_km: float
    max_speed_kmh: float | None
    mock_location_count: int


class SummaryExists(Exception):
    """The (shipment, day) already has a summary: its fixes were summarised before, yet more
    are stored for that day. Never expected (fixes are accepted only en route, summaries are
    made only after the trip ended); the caller rolls back rather than overwrite either."""


def _track_disposable(now: datetime) -> ColumnElement[bool]:
    """For a query on `shipments`: the trip has ended (a final state, which nothing leaves) and
    nothing holds it — no active freeze or shipment block, whose track is evidence."""
    return and_(shipments.c.status.in_(_FINAL), ~frozen_expr(now))


async def shipments_with_due_fixes(
    conn: AsyncConnection, *, before: datetime, now: datetime, after_id: str, limit: int
) -> list[str]:
    """Ids of disposable shipments holding fixes taken before `before`, after `after_id` in id
    order (keyset pages). Probes go through the (shipment_id, recorded_at) unique index."""
    has_due_fix = (
        select(gps_pings.c.id)
        .where(gps_pings.c.shipment_id == shipments.c.id, gps_pings.c.recorded_at < before)
        .exists()
    )
    query = (
        select(shipments.c.id)
        .where(shipments.c.id > after_id, _track_disposable(now), has_due_fix)
        .order_by(shipments.c.id)
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars())


async def oldest_fix_at(
    conn: AsyncConnection, shipment_id: str, *, since: datetime | None, before: datetime
) -> datetime | None:
    """When the shipment's oldest fix in [since, before) was taken, or None."""
    conditions = [gps_pings.c.shipment_id == shipment_id, gps_pings.c.recorded_at < before]
    if since is not None:
        conditions.append(gps_pings.c.recorded_at >= since)
    found: datetime | None = (
        await conn.execute(select(func.min(gps_pings.c.recorded_at)).where(*conditions))
    ).scalar()
    return found


async def take_fixes(
    conn: AsyncConnection, shipment_id: str, *, start: datetime, end: datetime, now: datetime
) -> list[TakenFix]:
    """Delete and return the shipment's fixes taken in [start, end), provided the shipment is
    still disposable. The DELETE is the claim: of two concurrent runs only one gets the rows
    (the other's DELETE waits for it on PostgreSQL, or runs after it on SQLite, and finds
    none), so a day is never summarised twice. Returned in no particular order."""
    still_disposable = select(shipments.c.id).where(shipments.c.id == shipment_id, _track_disposable(now))
    result = await conn.execute(
        delete(gps_pings)
        .where(
            gps_pings.c.shipment_id == shipment_id,
            gps_pings.c.recorded_at >= start,
            gps_pings.c.recorded_at < end,
            still_disposable.exists(),
        )
        .returning(
            gps_pings.c.lat,
            gps_pings.c.lng,
            gps_pings.c.recorded_at,
            gps_pings.c.speed_kmh,
            gps_pings.c.mock_location,
        )
    )
    return [TakenFix(r.lat, r.lng, r.recorded_at, r.speed_kmh, bool(r.mock_location)) for r in result]


async def insert_daily_summary(conn: AsyncConnection, summary: DailySummary) -> None:
    """Raises SummaryExists when the (shipment, day) already has one."""
    try:
        await conn.execute(gps_daily_summaries.insert().values(**asdict(summary)))
    except IntegrityError as exc:
        raise SummaryExists(summary.shipment_id, summary.day) from exc


# --- notifications and credentials ---------------------------------------------------------------


async def delete_notifications(conn: AsyncConnection, *, created_before: datetime, limit: int) -> int:
    """Delete up to `limit` notifications created before `created_before`, oldest first."""
    due = notifications.c.created_at < created_before
    oldest = select(notifications.c.id).where(due).order_by(notifications.c.created_at).limit(limit)
    result = await conn.execute(delete(notifications).where(notifications.c.id.in_(oldest), due))
    return int(result.rowcount)


async def delete_login_codes(conn: AsyncConnection, *, expired_before: datetime, limit: int) -> int:
    """Delete up to `limit` login codes that expired before `expired_before`. A consumed code
    is covered too: it can only have been consumed before its expiry. The re-check in the
    DELETE keeps a code that a new request replaced meanwhile (same row, new expiry)."""
    due = otp_codes.c.expires_at < expired_before
    oldest = select(otp_codes.c.mobile).where(due).order_by(otp_codes.c.expires_at).limit(limit)
    result = await conn.execute(delete(otp_codes).where(otp_codes.c.mobile.in_(oldest), due))
    return int(result.rowcount)


async def delete_signup_token_uses(conn: AsyncConnection, *, used_before: datetime, limit: int) -> int:
    """Delete up to `limit` records of sign-up tokens used before `used_before`."""
    due = signup_tokens_used.c.used_at < used_before
    oldest = select(signup_tokens_used.c.jti).where(due).order_by(signup_tokens_used.c.used_at).limit(limit)
    result = await conn.execute(delete(signup_tokens_used).where(signup_tokens_used.c.jti.in_(oldest), due))
    return int(result.rowcount)


def _dead_session(*, expired_before: datetime, created_before: datetime) -> ColumnElement[bool]:
    """For a query on `refresh_token_families`: a session none of whose refresh tokens is valid
    after `expired_before` — used, revoked or not, every token of it has expired. Such a
    session can never gain a token again (a refresh needs an unexpired token; a login opens
    a new session). `created_before` covers a session that has no token at all."""
    fam = refresh_token_families
    live_token = (
        select(refresh_tokens.c.id)
        .where(refresh_tokens.c.family_id == fam.c.id, refresh_tokens.c.expires_at >= expired_before)
        .exists()
    )
    return and_(fam.c.created_at < created_before, ~live_token)


async def delete_dead_sessions(
    conn: AsyncConnection, *, expired_before: datetime, created_before: datetime, limit: int
) -> tuple[int, int]:
    """Delete up to `limit` dead sessions with all their refresh tokens; (sessions, tokens).

    A session's used and revoked tokens go only with the whole session: reuse detection
    (`auth.service.refresh`) recognises a replayed token by its stored row, so no token of a
    session is deleted while any token of it can still be presented."""
    fam = refresh_token_families
    dead = _dead_session(expired_before=expired_before, created_before=created_before)
    ids = list((await conn.execute(select(fam.c.id).where(dead).order_by(fam.c.id).limit(limit))).scalars())
    if not ids:
        return 0, 0
    tokens = await conn.execute(
        delete(refresh_tokens).where(
            refresh_tokens.c.family_id.in_(ids), refresh_tokens.c.expires_at < expired_before
        )
    )
    sessions = await conn.execute(delete(fam).where(fam.c.id.in_(ids), dead))
    return int(sessions.rowcount), int(tokens.rowcount)


# --- audit log ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditDue:
    """Audit entries past their retention period: how many, and the highest seq among them."""

    count: int
    through_seq: int | None


NOTHING_DUE = AuditDue(0, None)


async def audit_entries_due(conn: AsyncConnection, *, before: str, margin_before: str) -> AuditDue:
    """Entries whose `at` (the canonical ISO text, which sorts as time) is before `before`.

    The chain is appended in time order, up to the clock difference between instances; when
    its first entry is not older than `margin_before` (a day after `before`) nothing can be
    due and the daily check costs one primary-key read instead of a scan of the whole log."""
    first_at = (await conn.execute(select(audit_log.c.at).order_by(audit_log.c.seq).limit(1))).scalar()
    if first_at is None or first_at >= margin_before:
        return NOTHING_DUE
    count, through_seq = (
        await conn.execute(select(func.count(), func.max(audit_log.c.seq)).where(audit_log.c.at < before))
    ).one()
    return AuditDue(int(count), through_seq) if count else NOTHING_DUE
