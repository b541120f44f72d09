"""Delivery of outbox events to partner webhooks (PRODUCT §10; issue 6 item 5).

`deliver_outbox` runs in two steps, each safe to run on several workers at once:

1. **Fan-out.** Outbox events not yet published (`published_at IS NULL`, oldest first) get one
   PENDING delivery per ACTIVE subscription that lists the event's name, then `published_at`
   is set, in one transaction per batch. The unique (subscription, event) pair makes a
   repeated fan-out harmless; on PostgreSQL the events are locked with SKIP LOCKED so two
   workers fan out different events. A subscription only receives events published while it
   is ACTIVE: events fanned out while it was disabled, or before it existed, are not replayed.
2. **Sending.** Due deliveries (`PENDING`, `next_attempt_at <= now`, subscription ACTIVE) are
   claimed in a short transaction that moves their `next_attempt_at` forward by `LEASE`
   (PostgreSQL: SKIP LOCKED; SQLite: transactions are serial), then sent concurrently without
   any transaction open, and each outcome is recorded in a transaction of its own, only if the
   claim still holds (same attempt count and lease). A worker that dies mid-send leaves the
   delivery due again when the lease runs out: delivery is at least once, and receivers
   de-duplicate by `X-Rodistaa-Event-Id` (the outbox event id, the same on every attempt).

The request: `POST <url>` with the JSON body `{"id", "name", "createdAt", "payload"}` (compact,
sorted keys, so a redelivery is byte-identical apart from the signature time) and headers
`X-Rodistaa-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>` (the
same scheme the payment provider uses towards us, `ledger.webhook.signature_header`),
`X-Rodistaa-Event-Id` and `X-Rodistaa-Event`. Redirects are not followed (a redirect could lead
to an address the URL checks refused) and environment proxies are ignored. Any 2xx within
`TIMEOUT_S` is a success; anything else (other status, timeout, connection error, a host that
resolves to a non-public address outside development and test) is a failed attempt.

After a failed attempt the delivery waits `min(2^attempts * 30 s, 1 h) * uniform(0.5, 1.5)`
(jitter spreads the retries of many deliveries that failed together) and the subscription's
`consecutive_failures` grows by one; a success resets it to 0. At `MAX_CONSECUTIVE_FAILURES`
the subscription is DISABLED (reason recorded, audited as `webhook.disabled`, its registering
admin notified); its PENDING deliveries stay PENDING and go out after a manual re-enable. A
single delivery is given up (FAILED) after `MAX_ATTEMPTS` attempts: an event the receiver
keeps refusing while it accepts others must not be retried forever.

Each recorded attempt counts once in `webhook_deliveries_total{outcome}` after its transaction
commits: `delivered`, `failed` (retried later) or `given_up` (it was the last attempt). An
attempt whose claim was lost meanwhile is discarded (its delivery is due again) and not counted.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.core.roles import Role
from rodistaa.http.services import Services
from rodistaa.ledger.webhook import signature_header
from rodistaa.notifications.repo import notify
from rodistaa.ops.metrics import WEBHOOK_DELIVERIES
from rodistaa.security.envelope import DecryptionFailed
from rodistaa.security.kms import KmsError
from rodistaa.webhooks import repo, vault
from rodistaa.webhooks.repo import ClaimedDelivery, OutboxEvent, Subscription
from rodistaa.webhooks.urls import UnsafeDestination, check_destination

log = structlog.get_logger("rodistaa.webhooks")

SIGNATURE_HEADER = "X-Rodistaa-Signature"
EVENT_ID_HEADER = "X-Rodistaa-Event-Id"
EVENT_NAME_HEADER = "X-Rodistaa-Event"
TIMEOUT_S = 5.0
# Whole-attempt ceiling: httpx's timeout applies per read, a receiver dripping bytes could
# otherwise hold an attempt (and the lease) for much longer.
ATTEMPT_CEILING_S = 2 * TIMEOUT_S
SEND_BATCH = 50
SEND_CONCURRENCY = 10
FAN_OUT_BATCH = 200
# A batch is sent in SEND_BATCH / SEND_CONCURRENCY waves of at most ATTEMPT_CEILING_S each
# (50 s): the lease is well beyond that, so a live worker never loses its claim.
LEASE = timedelta(minutes=2)
MAX_CONSECUTIVE_FAILURES = 10
MAX_ATTEMPTS = 20
BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 3600
JOB_ACTOR = "system:webhook-delivery"

# Not for secrecy, but the system source keeps linters and reviewers from wondering.
_jitter = random.SystemRandom()


@dataclass
class DeliveryRunResult:
    events_published: int = 0
    deliveries_created: int = 0
    attempted: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    subscriptions_disabled: int = 0
    lost_claims: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "eventsPublished": self.events_published,
            "deliveriesCreated": self.deliveries_created,
            "attempted": self.attempted,
            "delivered": self.delivered,
            "failedAttempts": self.failed_attempts,
            "givenUp": self.given_up,
            "subscriptionsDisabled": self.subscriptions_disabled,
            "lostClaims": self.lost_claims,
        }


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None  # None: delivered

    @property
    def delivered(self) -> bool:
        return self.error is None


def backoff(attempts: int, rng: random.Random = _jitter) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1-based)."""
    base = min(BACKOFF_BASE_S * 2 ** min(attempts, 20), BACKOFF_CAP_S)
    return timedelta(seconds=base * rng.uniform(0.5, 1.5))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_body(event: OutboxEvent) -> bytes:
    document = {
        "id": event.id,
        "name": event.name,
        "createdAt": _iso(event.created_at),
        "payload": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


async def deliver_outbox(services: Services, *, client: httpx.AsyncClient | None = None) -> DeliveryRunResult:
    """Fan out unpublished outbox events, then send every delivery due now. Idempotent and
    safe to run concurrently (see the module docstring)."""
    result = DeliveryRunResult()
    await _fan_out(services, result)
    if client is not None:
        await _send_due(services, client, result)
        return result
    async with new_client() as own_client:
        await _send_due(services, own_client, result)
    return result


def new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT_S), follow_redirects=False, trust_env=False)


async def _fan_out(services: Services, result: DeliveryRunResult) -> None:
    while True:
        now = services.clock.now()
        async with services.db.transaction() as conn:
            events = await repo.lock_unpublished_events(conn, limit=FAN_OUT_BATCH)
            if not events:
                return
            subscriptions = await repo.active_subscriptions(conn)
            pairs = [(s.id, event_id) for event_id, name in events for s in subscriptions if name in s.events]
            result.deliveries_created += await repo.insert_deliveries(conn, pairs, now=now)
            await repo.mark_published(conn, [event_id for event_id, _ in events], now=now)
        result.events_published += len(events)
        if len(events) < FAN_OUT_BATCH:
            return


async def _send_due(services: Services, client: httpx.AsyncClient, result: DeliveryRunResult) -> None:
    # One cut-off for the run: a failed delivery is rescheduled after it, so the loop ends.
    cutoff = services.clock.now()
    signing_secrets: dict[str, str | None] = {}
    gate = asyncio.Semaphore(SEND_CONCURRENCY)
    while True:
        async with services.db.transaction() as conn:
            claims = await repo.claim_due_deliveries(
                conn, now=cutoff, lease_until=services.clock.now() + LEASE, limit=SEND_BATCH
            )
            events = await repo.outbox_events_by_id(conn, [c.event_id for c in claims])
            subscriptions = await repo.subscriptions_by_id(conn, [c.subscription_id for c in claims])
        if not claims:
            return
        for subscription in subscriptions.values():
            if subscription.id not in signing_secrets:
                signing_secrets[subscription.id] = await _open_secret(services, subscription)
        batch = _Batch(services, client, gate, events, subscriptions, signing_secrets, result)
        await asyncio.gather(*(batch.send(claim) for claim in claims))
        if len(claims) < SEND_BATCH:
            return


@dataclass(frozen=True)
class _Batch:
    """What the concurrent sends of one claimed batch share."""

    services: Services
    client: httpx.AsyncClient
    gate: asyncio.Semaphore
    events: Mapping[str, OutboxEvent]
    subscriptions: Mapping[str, Subscription]
    signing_secrets: Mapping[str, str | None]
    result: DeliveryRunResult

    async def send(self, claim: ClaimedDelivery) -> None:
        subscription = self.subscriptions[claim.subscription_id]
        event = self.events[claim.event_id]
        async with self.gate:
            outcome = await _attempt(
                self.services, self.client, subscription, event, self.signing_secrets[subscription.id]
            )
        await _record(self.services, claim, subscription, outcome, self.result)


async def _open_secret(services: Services, subscription: Subscription) -> str | None:
    try:
        return await vault.open_secret(services.kms, subscription.id, subscription.secret_ciphertext)
    except (KmsError, DecryptionFailed, ValueError):
        log.error("webhook_secret_unavailable", webhook_id=subscription.id)
        return None


async def _attempt(
    services: Services,
    client: httpx.AsyncClient,
    subscription: Subscription,
    event: OutboxEvent,
    secret: str | None,
) -> Outcome:
    if secret is None:
        return Outcome(None, "signing secret unavailable")
    try:
        await check_destination(subscription.url, services.settings.env)
    except UnsafeDestination as exc:
        return Outcome(None, f"refused destination: {exc}")
    body = event_body(event)
    timestamp = int(services.clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Rodistaa-Webhooks/1",
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
        EVENT_ID_HEADER: event.id,
        EVENT_NAME_HEADER: event.name,
    }
    try:
        async with asyncio.timeout(ATTEMPT_CEILING_S):
            # Streamed and never read: the receiver's answer is its status, not its body.
            async with client.stream("POST", subscription.url, content=body, headers=headers) as response:
                status_code = response.status_code
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(None, "timeout")
    except httpx.HTTPError as exc:
        return Outcome(None, f"connection failed: {type(exc).__name__}")
    if 200 <= status_code < 300:
        return Outcome(status_code, None)
    return Outcome(status_code, f"HTTP {status_code}")


async def _record(
    services: Services,
    claim: ClaimedDelivery,
    subscription: Subscription,
    outcome: Outcome,
    result: DeliveryRunResult,
) -> None:
    result.attempted += 1
    now = services.clock.now()
    async with services.db.transaction() as conn:
        if outcome.delivered:
            counted = await _record_success(conn, claim, subscription, outcome, result, now=now)
        else:
            counted = await _record_failure(conn, claim, subscription, outcome, result, now=now)
    if counted is None:  # the claim was lost: another worker owns this delivery now
        return
    # After the commit: an attempt whose record was rolled back is not counted.
    WEBHOOK_DELIVERIES.labels(counted).inc()
    if outcome.error:
        log.info(
            "webhook_attempt_failed", webhook_id=subscription.id, delivery_id=claim.id, error=outcome.error
        )


async def _record_success(
    conn: AsyncConnection,
    claim: ClaimedDelivery,
    subscription: Subscription,
    outcome: Outcome,
    result: DeliveryRunResult,
    *,
    now: datetime,
) -> str | None:
    """`delivered`, or None when the claim no longer holds."""
    if not await repo.record_success(conn, claim, status_code=outcome.status_code or 200, now=now):
        result.lost_claims += 1
        return None
    await repo.reset_failure_streak(conn, subscription.id, now=now)
    result.delivered += 1
    return "delivered"


async def _record_failure(
    conn: AsyncConnection,
    claim: ClaimedDelivery,
    subscription: Subscription,
    outcome: Outcome,
    result: DeliveryRunResult,
    *,
    now: datetime,
) -> str | None:
    """`failed` (retried later) or `given_up` (that was the last attempt), or None when the
    claim no longer holds. Disables the subscription at MAX_CONSECUTIVE_FAILURES."""
    give_up = claim.attempts + 1 >= MAX_ATTEMPTS
    recorded = await repo.record_failure(
        conn,
        claim,
        status_code=outcome.status_code,
        error=outcome.error or "failed",
        next_attempt_at=now + backoff(claim.attempts + 1),
        give_up=give_up,
        now=now,
    )
    if not recorded:
        result.lost_claims += 1
        return None
    result.failed_attempts += 1
    result.given_up += int(give_up)
    streak = await repo.add_failure(conn, subscription.id, now=now)
    disable = streak is not None and streak >= MAX_CONSECUTIVE_FAILURES
    if disable and await _disable(conn, subscription, streak or 0, outcome, now=now):
        result.subscriptions_disabled += 1
    return "given_up" if give_up else "failed"


async def _disable(
    conn: AsyncConnection, subscription: Subscription, streak: int, outcome: Outcome, *, now: datetime
) -> bool:
    reason = f"{streak} consecutive failed deliveries; last: {outcome.error}"
    if not await repo.disable_subscription(
        conn, subscription.id, reason=reason, min_failures=MAX_CONSECUTIVE_FAILURES, now=now
    ):
        return False
    await notify(
        conn,
        user_id=subscription.created_by,
        role=Role.ADMIN,
        message=f"Webhook {subscription.id} was disabled after {streak} consecutive failed deliveries.",
        now=now,
    )
    data = {"consecutiveFailures": streak, "lastStatusCode": outcome.status_code}
    await append(
        conn, AuditEntryDraft(JOB_ACTOR, "webhook.disabled", "webhook", subscription.id, data), now=now
    )
    return True
