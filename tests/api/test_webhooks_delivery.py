"""Webhook delivery end to end: outbox events reach a real receiver on loopback once each with
a valid signature, failures back off and disable the subscription after ten in a row, a
re-enabled subscription gets the same event (same id) again, and concurrent workers never
send one delivery twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from rodistaa.ledger.errors import InvalidSignature
from rodistaa.ledger.webhook import verify_signature
from rodistaa.webhooks import repo
from rodistaa.webhooks.delivery import LEASE, MAX_CONSECUTIVE_FAILURES, deliver_outbox
from rodistaa.webhooks.tables import webhook_deliveries
from tests.api.finalization_setup import notifications_of
from tests.api.flows import admin_session, sign_in
from tests.conftest import Harness
from tests.webhooks.flows import (
    audit_entries,
    delivery_rows,
    emit,
    register,
    subscription_row,
    unpublished_events,
)
from tests.webhooks.receiver import Received, running_receiver


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness


ADMIN_MOBILE = "+919000000001"  # admin_session's default


def assert_signed(h: Harness, secret: str, received: Received) -> None:
    """Raises unless the signature is a valid HMAC of the exact body at the worker's time."""
    verify_signature(secret, received.headers["x-rodistaa-signature"], received.body, now=h.clock.now())


async def run(h: Harness) -> dict[str, object]:
    return (await deliver_outbox(h.app.state.services)).summary()


class TestDelivery:
    async def test_each_subscribed_event_arrives_once_signed(self, h: Harness) -> None:
        admin = await admin_session(h)
        async with running_receiver() as receiver:
            webhook = await register(h, admin, receiver.url, ["booking.created", "acs.block"])
            created = await emit(h, "booking.created", {"bookingId": "RID-20250101-0001", "tonnage": 12.5})
            blocked = await emit(h, "acs.block", {"entityType": "truck", "entityId": "TRK-X"})
            await emit(h, "shipment.completed", {"shipmentId": "SH-1"})  # not subscribed

            summary = await run(h)
            assert summary["eventsPublished"] == 3
            assert summary["deliveriesCreated"] == 2
            assert summary["delivered"] == 2
            assert sorted(r.event_id for r in receiver.requests) == sorted([created, blocked])
            for received in receiver.requests:
                assert received.path == "/hooks/rodistaa"
                assert received.headers["content-type"] == "application/json"
                assert_signed(h, webhook["secret"], received)
                assert received.document["id"] == received.event_id
                assert received.headers["x-rodistaa-event"] == received.document["name"]
            by_id = {r.event_id: r.document for r in receiver.requests}
            assert by_id[created]["name"] == "booking.created"
            assert by_id[created]["payload"] == {"bookingId": "RID-20250101-0001", "tonnage": 12.5}
            assert by_id[blocked]["payload"]["entityId"] == "TRK-X"

            again = await run(h)
            assert again["attempted"] == 0 and again["eventsPublished"] == 0
            assert len(receiver.requests) == 2
        assert await unpublished_events(h) == []
        rows = await delivery_rows(h, webhook["id"])
        assert [(r["status"], r["attempts"], r["last_status_code"]) for r in rows] == [
            ("DELIVERED", 1, 200)
        ] * 2

        log = await h.client.get(f"/v1/webhooks/{webhook['id']}/deliveries", headers=admin.headers)
        assert log.status_code == 200
        assert {(d["eventId"], d["status"]) for d in log.json()["data"]} == {
            (created, "DELIVERED"),
            (blocked, "DELIVERED"),
        }

    async def test_a_wrong_secret_does_not_verify(self, h: Harness) -> None:
        admin = await admin_session(h)
        async with running_receiver() as receiver:
            webhook = await register(h, admin, receiver.url, ["booking.created"])
            other = await register(h, admin, "https://other.example.com/h", ["payment.succeeded"])
            await emit(h, "booking.created", {"bookingId": "RID-20250101-0002"})
            await run(h)
        [received] = receiver.requests
        assert_signed(h, webhook["secret"], received)
        with pytest.raises(InvalidSignature) as refused:
            assert_signed(h, other["secret"], received)
        assert refused.value.details == {"reason": "mismatch"}

    async def test_ten_failures_in_a_row_disable_and_re_enable_redelivers_the_same_event(
        self, h: Harness
    ) -> None:
        admin = await admin_session(h)
        async with running_receiver(status=500) as receiver:
            webhook = await register(h, admin, receiver.url, ["payment.succeeded"])
            event_id = await emit(h, "payment.succeeded", {"operatorId": "USR-OP-1", "amountPaise": 50000})
            for attempt in range(1, MAX_CONSECUTIVE_FAILURES + 1):
                summary = await run(h)
                assert summary["failedAttempts"] == 1, (attempt, summary)
                [row] = await delivery_rows(h, webhook["id"])
                assert (row["status"], row["attempts"], row["last_status_code"]) == ("PENDING", attempt, 500)
                wait = row["next_attempt_at"] - row["last_attempt_at"]
                base = min(30 * 2**attempt, 3600)
                assert timedelta(seconds=base * 0.5) <= wait <= timedelta(seconds=base * 1.5)
                h.clock.advance(hours=2)
            assert summary["subscriptionsDisabled"] == 1
            sub = await subscription_row(h, webhook["id"])
            assert (sub["status"], sub["consecutive_failures"]) == ("DISABLED", 10)
            assert sub["disabled_reason"].startswith("10 consecutive failed deliveries")
            assert [r.event_id for r in receiver.requests] == [event_id] * 10

            # Disabled: the pending delivery waits, nothing is sent, new events are not queued.
            await emit(h, "payment.succeeded", {"operatorId": "USR-OP-1", "amountPaise": 70000})
            assert (await run(h))["attempted"] == 0
            assert len(receiver.requests) == 10
            [row] = await delivery_rows(h, webhook["id"])
            assert row["status"] == "PENDING"
            actions = [(e["action"], e["actor"]) for e in await audit_entries(h, webhook["id"])]
            assert actions[-1] == ("webhook.disabled", "system:webhook-delivery")
            assert any(webhook["id"] in m for m in await notifications_of(h, admin.user_id))

            receiver.status = 204
            admin = await sign_in(h, ADMIN_MOBILE)  # the first token expired while the clock ran
            enabled = await h.client.post(f"/v1/webhooks/{webhook['id']}/enable", headers=admin.headers)
            assert enabled.status_code == 200, enabled.text
            assert enabled.json()["active"] is True and enabled.json()["consecutiveFailures"] == 0
            summary = await run(h)  # due at once: re-enable cancels the remaining backoff
            assert summary["delivered"] == 1
        redelivered = receiver.requests[-1]
        assert redelivered.event_id == event_id
        assert redelivered.document["id"] == event_id
        assert redelivered.body == receiver.requests[0].body
        assert_signed(h, webhook["secret"], redelivered)
        [row] = await delivery_rows(h, webhook["id"])
        assert (row["status"], row["attempts"], row["last_status_code"]) == ("DELIVERED", 11, 204)
        sub = await subscription_row(h, webhook["id"])
        assert (sub["status"], sub["consecutive_failures"], sub["disabled_reason"]) == ("ACTIVE", 0, None)
        assert [e["action"] for e in await audit_entries(h, webhook["id"])][-1] == "webhook.enabled"

    async def test_a_success_resets_the_failure_streak(self, h: Harness) -> None:
        admin = await admin_session(h)
        async with running_receiver(status=503) as receiver:
            webhook = await register(h, admin, receiver.url, ["booking.created"])
            await emit(h, "booking.created", {"bookingId": "RID-20250101-0003"})
            for _ in range(3):
                await run(h)
                h.clock.advance(hours=2)
            assert (await subscription_row(h, webhook["id"]))["consecutive_failures"] == 3
            receiver.status = 200
            await run(h)
        assert (await subscription_row(h, webhook["id"]))["consecutive_failures"] == 0

    async def test_an_unreachable_receiver_counts_as_a_failure(self, h: Harness) -> None:
        admin = await admin_session(h)
        async with running_receiver() as receiver:
            url = receiver.url
        webhook = await register(h, admin, url, ["booking.created"])  # nobody listens any more
        await emit(h, "booking.created", {"bookingId": "RID-20250101-0004"})
        assert (await run(h))["failedAttempts"] == 1
        [row] = await delivery_rows(h, webhook["id"])
        assert row["status"] == "PENDING" and row["last_status_code"] is None
        assert row["last_error"].startswith("connection failed")


class TestConcurrency:
    async def test_two_workers_at_once_deliver_each_event_once(self, h: Harness) -> None:
        admin = await admin_session(h)
        async with running_receiver() as receiver:
            first = await register(h, admin, receiver.url, ["booking.created"])
            second = await register(h, admin, receiver.url, ["booking.created", "shipment.assigned"])
            names = ["booking.created", "shipment.assigned"] * 30
            events = [await emit(h, name, {"n": n}) for n, name in enumerate(names)]
            services = h.app.state.services
            results = await asyncio.gather(*(deliver_outbox(services) for _ in range(4)))
        expected = Counter({e: 2 for e in events[0::2]}) + Counter(events[1::2])
        assert Counter(r.event_id for r in receiver.requests) == expected
        assert sum(r.delivered for r in results) == 90
        assert sum(r.events_published for r in results) == 60
        for webhook in (first, second):
            rows = await delivery_rows(h, webhook["id"])
            assert {(r["status"], r["attempts"]) for r in rows} == {("DELIVERED", 1)}

    async def test_a_claimed_delivery_is_not_sent_again_until_its_lease_runs_out(self, h: Harness) -> None:
        """A worker claimed a delivery and died before sending: the next runs leave it alone
        while the lease holds, then send it (same event id) once the lease has run out."""
        admin = await admin_session(h)
        services = h.app.state.services
        async with running_receiver() as receiver:
            webhook = await register(h, admin, receiver.url, ["booking.created"])
            event_id = await emit(h, "booking.created", {"bookingId": "RID-20250101-0005"})
            await run(h)  # fan-out: the delivery exists and was sent once
            [row] = await delivery_rows(h, webhook["id"])
            async with services.db.transaction() as conn:  # make it due again, as for a retry
                await conn.execute(
                    webhook_deliveries.update()
                    .where(webhook_deliveries.c.id == row["id"])
                    .values(status="PENDING", next_attempt_at=h.clock.now())
                )
            now = h.clock.now()
            async with services.db.transaction() as conn:  # the dying worker's claim
                claims = await repo.claim_due_deliveries(conn, now=now, lease_until=now + LEASE, limit=10)
            assert [c.id for c in claims] == [row["id"]]
            assert (await run(h))["attempted"] == 0
            h.clock.advance(seconds=LEASE.total_seconds() - 1)
            assert (await run(h))["attempted"] == 0
            h.clock.advance(seconds=2)
            assert (await run(h))["delivered"] == 1
        assert [r.event_id for r in receiver.requests] == [event_id, event_id]
