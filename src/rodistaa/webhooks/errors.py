"""Typed errors of the webhooks domain."""

from __future__ import annotations

from rodistaa.core.errors import InvalidState, NotFound


class WebhookNotFound(NotFound):
    message = "Webhook subscription not found"


class WebhookAlreadyActive(InvalidState):
    message = "The webhook subscription is already active"
