"""All SQL of the webhooks domain: subscriptions, the delivery log, and the outbox reads and
claims of the delivery worker."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.tables import outbox_events
from rodistaa.core.ids import new_id
from rodistaa.webhooks.tables import webhook_deliveries, webhook_subscriptions

MAX_ERROR_LENGTH = 256


class SubscriptionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    events: tuple[str, ...]
    secret_ciphertext: str
    status: SubscriptionStatus
    consecutive_failures: int
    disabled_reason: str | None
    disabled_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: str
    subscription_id: str
    event_id: str
    event_name: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class OutboxEvent:
    id: str
    name: str
    payload: Any
    created_at: datetime


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this worker holds until `lease_until` (its `next_attempt_at` meanwhile)."""

    id: str
    subscription_id: str
    event_id: str
    attempts: int
    lease_until: datetime


def _is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        url=row.url,
        events=tuple(json.loads(row.events)),
        secret_ciphertext=row.secret_ciphertext,
        status=SubscriptionStatus(row.status),
        consecutive_failures=row.consecutive_failures,
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def insert_subscription(
    conn: AsyncConnection,
    *,
    subscription_id: str,
    url: str,
    events: Sequence[str],
    secret_ciphertext: str,
    created_by: str,
    now: datetime,
) -> Subscription:
    subscription = Subscription(
        id=subscription_id,
        url=url,
        events=tuple(events),
        secret_ciphertext=secret_ciphertext,
        status=SubscriptionStatus.ACTIVE,
        consecutive_failures=0,
        disabled_reason=None,
        disabled_at=None,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    await conn.execute(
        webhook_subscriptions.insert().values(
            id=subscription.id,
            url=subscription.url,
            events=json.dumps(list(subscription.events)),
            secret_ciphertext=secret_ciphertext,
            status=subscription.status.value,
            consecutive_failures=0,
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
    )
    return subscription


async def get_subscription(conn: AsyncConnection, subscription_id: str) -> Subscription | None:
    row = (
        await conn.execute(select(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id))
    ).first()
    return _subscription(row) if row is not None else None


async def list_subscriptions(
    conn: AsyncConnection, *, status: SubscriptionStatus | None, offset: int, limit: int
) -> tuple[list[Subscription], int]:
    query = select(webhook_subscriptions)
    if status is not None:
        query = query.where(webhook_subscriptions.c.status == status.value)
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(
        query.order_by(webhook_subscriptions.c.created_at.desc(), webhook_subscriptions.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [_subscription(r) for r in rows], int(total)


async def active_subscriptions(conn: AsyncConnection) -> list[Subscription]:
    rows = await conn.execute(
        select(webhook_subscriptions).where(webhook_subscriptions.c.status == SubscriptionStatus.ACTIVE.value)
    )
    return [_subscription(r) for r in rows]


async def enable_subscription(conn: AsyncConnection, subscription_id: str, *, now: datetime) -> bool:
    """DISABLED → ACTIVE with a fresh failure streak; the claim (`status = 'DISABLED'`) keeps
    two concurrent re-enables from both reporting success. The subscription's PENDING
    deliveries become due now instead of waiting out the backoff they were given."""
    claimed = await conn.execute(
        update(webhook_subscriptions)
        .where(
            webhook_subscriptions.c.id == subscription_id,
            webhook_subscriptions.c.status == SubscriptionStatus.DISABLED.value,
        )
        .values(
            status=SubscriptionStatus.ACTIVE.value,
            consecutive_failures=0,
            disabled_reason=None,
            disabled_at=None,
            updated_at=now,
        )
    )
    if claimed.rowcount != 1:
        return False
    await conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.subscription_id == subscription_id,
            webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
        )
        .values(next_attempt_at=now)
    )
    return True


async def list_deliveries(
    conn: AsyncConnection,
    subscription_id: str,
    *,
    status: DeliveryStatus | None,
    offset: int,
    limit: int,
) -> tuple[list[Delivery], int]:
    query: Select[Any] = (
        select(webhook_deliveries, outbox_events.c.name.label("event_name"))
        .join(outbox_events, outbox_events.c.id == webhook_deliveries.c.event_id)
        .where(webhook_deliveries.c.subscription_id == subscription_id)
    )
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status.value)
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(
        query.order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    deliveries = [
        Delivery(
            id=r.id,
            subscription_id=r.subscription_id,
            event_id=r.event_id,
            event_name=r.event_name,
            status=DeliveryStatus(r.status),
            attempts=r.attempts,
            next_attempt_at=r.next_attempt_at,
            last_attempt_at=r.last_attempt_at,
            last_status_code=r.last_status_code,
            last_error=r.last_error,
            delivered_at=r.delivered_at,
            created_at=r.created_at,
        )
        for r in rows
    ]
    return deliveries, int(total)


# --- the delivery worker -------------------------------------------------------------------


async def lock_unpublished_events(conn: AsyncConnection, *, limit: int) -> list[tuple[str, str]]:
    """(id, name) of the oldest outbox events not yet fanned out. On PostgreSQL the rows stay
    locked until the caller commits and a concurrent worker skips them (SKIP LOCKED), so two
    workers fan out different events; SQLite transactions are serial (BEGIN IMMEDIATE)."""
    query = (
        select(outbox_events.c.id, outbox_events.c.name)
        .where(outbox_events.c.published_at.is_(None))
        .order_by(outbox_events.c.created_at, outbox_events.c.id)
        .limit(limit)
    )
    if _is_postgres(conn):
        query = query.with_for_update(skip_locked=True)
    return [(r.id, r.name) for r in await conn.execute(query)]


async def insert_deliveries(conn: AsyncConnection, pairs: Sequence[tuple[str, str]], *, now: datetime) -> int:
    """One PENDING delivery per (subscription id, event id), due now; an existing pair is left
    alone (the unique constraint makes a repeated fan-out harmless). Returns how many were new."""
    if not pairs:
        return 0
    insert = pg_insert if _is_postgres(conn) else sqlite_insert
    rows = [
        {
            "id": new_id("WHD"),
            "subscription_id": subscription_id,
            "event_id": event_id,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for subscription_id, event_id in pairs
    ]
    result = await conn.execute(
        insert(webhook_deliveries)
        .values(rows)
        .on_conflict_do_nothing(
            index_elements=[webhook_deliveries.c.subscription_id, webhook_deliveries.c.event_id]
        )
    )
    return int(result.rowcount)


async def mark_published(conn: AsyncConnection, event_ids: Sequence[str], *, now: datetime) -> None:
    if event_ids:
        await conn.execute(
            update(outbox_events)
            .where(outbox_events.c.id.in_(event_ids), outbox_events.c.published_at.is_(None))
            .values(published_at=now)
        )


async def claim_due_deliveries(
    conn: AsyncConnection, *, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedDelivery]:
    """Claim up to `limit` PENDING deliveries that are due, of ACTIVE subscriptions, by moving
    their `next_attempt_at` to `lease_until`: until then no other run sees them as due, so two
    workers never send one delivery at the same time, and a worker that dies mid-send leaves
    the delivery due again once the lease runs out (at-least-once). PostgreSQL: candidates
    are locked with SKIP LOCKED, so a concurrent worker takes the next ones instead of waiting;
    the conditional UPDATE is the claim on both databases."""
    query = (
        select(webhook_deliveries.c.id)
        .join(webhook_subscriptions, webhook_subscriptions.c.id == webhook_deliveries.c.subscription_id)
        .where(
            webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
            webhook_deliveries.c.next_attempt_at <= now,
            webhook_subscriptions.c.status == SubscriptionStatus.ACTIVE.value,
        )
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
        .limit(limit)
    )
    if _is_postgres(conn):
        query = query.with_for_update(of=webhook_deliveries, skip_locked=True)
    candidates = [r.id for r in await conn.execute(query)]
    if not candidates:
        return []
    claimed = await conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.id.in_(candidates),
            webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
            webhook_deliveries.c.next_attempt_at <= now,
        )
        .values(next_attempt_at=lease_until)
        .returning(
            webhook_deliveries.c.id,
            webhook_deliveries.c.subscription_id,
            webhook_deliveries.c.event_id,
            webhook_deliveries.c.attempts,
        )
    )
    rows = sorted(claimed, key=lambda r: candidates.index(r.id))
    return [ClaimedDelivery(r.id, r.subscription_id, r.event_id, r.attempts, lease_until) for r in rows]


async def outbox_events_by_id(conn: AsyncConnection, event_ids: Sequence[str]) -> dict[str, OutboxEvent]:
    rows = await conn.execute(select(outbox_events).where(outbox_events.c.id.in_(list(event_ids))))
    return {r.id: OutboxEvent(r.id, r.name, json.loads(r.payload), r.created_at) for r in rows}


async def subscriptions_by_id(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, Subscription]:
    rows = await conn.execute(select(webhook_subscriptions).where(webhook_subscriptions.c.id.in_(list(ids))))
    return {r.id: _subscription(r) for r in rows}


def _held(claim: ClaimedDelivery) -> Any:
    """The delivery is still this worker's: PENDING, same attempt count, same lease. A worker
    whose lease ran out (and whose delivery another worker re-claimed) records nothing."""
    return (
        (webhook_deliveries.c.id == claim.id)
        & (webhook_deliveries.c.status == DeliveryStatus.PENDING.value)
        & (webhook_deliveries.c.attempts == claim.attempts)
        & (webhook_deliveries.c.next_attempt_at == claim.lease_until)
    )


async def record_success(
    conn: AsyncConnection, claim: ClaimedDelivery, *, status_code: int, now: datetime
) -> bool:
    result = await conn.execute(
        update(webhook_deliveries)
        .where(_held(claim))
        .values(
            status=DeliveryStatus.DELIVERED.value,
            attempts=claim.attempts + 1,
            last_attempt_at=now,
            last_status_code=status_code,
            last_error=None,
            delivered_at=now,
            next_attempt_at=now,
        )
    )
    return result.rowcount == 1


async def record_failure(
    conn: AsyncConnection,
    claim: ClaimedDelivery,
    *,
    status_code: int | None,
    error: str,
    next_attempt_at: datetime,
    give_up: bool,
    now: datetime,
) -> bool:
    result = await conn.execute(
        update(webhook_deliveries)
        .where(_held(claim))
        .values(
            status=(DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING).value,
            attempts=claim.attempts + 1,
            last_attempt_at=now,
            last_status_code=status_code,
            last_error=error[:MAX_ERROR_LENGTH],
            next_attempt_at=next_attempt_at,
        )
    )
    return result.rowcount == 1


async def reset_failure_streak(conn: AsyncConnection, subscription_id: str, *, now: datetime) -> None:
    await conn.execute(
        update(webhook_subscriptions)
        .where(
            webhook_subscriptions.c.id == subscription_id, webhook_subscriptions.c.consecutive_failures != 0
        )
        .values(consecutive_failures=0, updated_at=now)
    )


async def add_failure(conn: AsyncConnection, subscription_id: str, *, now: datetime) -> int | None:
    """Lengthen an ACTIVE subscription's failure streak by one (an atomic increment, so
    concurrent failures all count); returns the new streak, None if it is not ACTIVE."""
    result = await conn.execute(
        update(webhook_subscriptions)
        .where(
            webhook_subscriptions.c.id == subscription_id,
            webhook_subscriptions.c.status == SubscriptionStatus.ACTIVE.value,
        )
        .values(consecutive_failures=webhook_subscriptions.c.consecutive_failures + 1, updated_at=now)
        .returning(webhook_subscriptions.c.consecutive_failures)
    )
    streak = result.scalar_one_or_none()
    return int(streak) if streak is not None else None


async def disable_subscription(
    conn: AsyncConnection, subscription_id: str, *, reason: str, min_failures: int, now: datetime
) -> bool:
    """ACTIVE → DISABLED once the streak reached `min_failures`; the claim makes sure only one
    worker disables (and audits) it."""
    result = await conn.execute(
        update(webhook_subscriptions)
        .where(
            webhook_subscriptions.c.id == subscription_id,
            webhook_subscriptions.c.status == SubscriptionStatus.ACTIVE.value,
            webhook_subscriptions.c.consecutive_failures >= min_failures,
        )
        .values(
            status=SubscriptionStatus.DISABLED.value,
            disabled_reason=reason[:MAX_ERROR_LENGTH],
            disabled_at=now,
            updated_at=now,
        )
    )
    return result.rowcount == 1
