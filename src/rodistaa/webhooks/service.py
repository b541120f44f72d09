"""Webhook subscription use cases (PRODUCT §10, issue 6 item 5): register, list, read the
delivery log, re-enable. HQ admins register partners (partners have no accounts of their own:
they are onboarded by HQ, who hands them the URL's secret), so every route is ADMIN-only.

Registration validates the URL (`urls.check_registration_url`), generates the signing secret,
stores it sealed (`vault`), audits `webhook.registered` last in the transaction and returns
the secret once. Re-enabling is a claim on `status = 'DISABLED'` (409 INVALID_STATE when the
subscription is already active, nothing changed), resets the failure streak, makes its pending
deliveries due now and is audited as `webhook.enabled`. Reads are not audited: they show no
secret and no personal data.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.core.actor import Actor
from rodistaa.core.ids import new_id
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.webhooks import repo, vault
from rodistaa.webhooks.errors import WebhookAlreadyActive, WebhookNotFound
from rodistaa.webhooks.repo import Delivery, DeliveryStatus, Subscription, SubscriptionStatus
from rodistaa.webhooks.schemas import WebhookRegister
from rodistaa.webhooks.urls import check_registration_url


def url_audit_data(url: str) -> dict[str, str]:
    """The URL's hash, not the URL: a path may carry a partner's token."""
    return {"urlSha256": hashlib.sha256(url.encode()).hexdigest(), "scheme": urlsplit(url).scheme}


class WebhookService:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.db
        self._clock = services.clock

    async def register(self, actor: Actor, body: WebhookRegister) -> tuple[Subscription, str]:
        """The new ACTIVE subscription and its secret (shown once). Raises ValidationFailed
        (`url`) for a URL the environment does not accept."""
        url = check_registration_url(body.url, self._services.settings.env)
        events = [e.value for e in dict.fromkeys(body.events)]  # duplicates dropped, order kept
        now = self._clock.now()
        subscription_id = new_id("WHK")
        secret = vault.new_secret()
        sealed = await vault.seal(self._services.kms, subscription_id, secret)
        async with self._db.transaction() as conn:
            subscription = await repo.insert_subscription(
                conn,
                subscription_id=subscription_id,
                url=url,
                events=events,
                secret_ciphertext=sealed,
                created_by=actor.user_id,
                now=now,
            )
            data = {**url_audit_data(url), "events": events}
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "webhook.registered", "webhook", subscription_id, data),
                now=now,
            )
        return subscription, secret

    async def list_subscriptions(
        self, *, status: SubscriptionStatus | None, page: PageRequest
    ) -> tuple[list[Subscription], int]:
        async with self._db.read() as conn:
            return await repo.list_subscriptions(conn, status=status, offset=page.offset, limit=page.limit)

    async def list_deliveries(
        self, subscription_id: str, *, status: DeliveryStatus | None, page: PageRequest
    ) -> tuple[list[Delivery], int]:
        """Newest first; 404 for an unknown subscription."""
        async with self._db.read() as conn:
            if await repo.get_subscription(conn, subscription_id) is None:
                raise WebhookNotFound()
            return await repo.list_deliveries(
                conn, subscription_id, status=status, offset=page.offset, limit=page.limit
            )

    async def enable(self, actor: Actor, subscription_id: str) -> Subscription:
        """404 for an unknown subscription, 409 INVALID_STATE for an active one."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            before = await repo.get_subscription(conn, subscription_id)
            if before is None:
                raise WebhookNotFound()
            if not await repo.enable_subscription(conn, subscription_id, now=now):
                raise WebhookAlreadyActive()
            after = await repo.get_subscription(conn, subscription_id)
            data = {"previousFailures": before.consecutive_failures}
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "webhook.enabled", "webhook", subscription_id, data),
                now=now,
            )
        if after is None:  # the row was claimed in this transaction; it cannot have vanished
            raise WebhookNotFound()
        return after
