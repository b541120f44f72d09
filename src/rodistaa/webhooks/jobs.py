"""`webhook-delivery`: fan out new outbox events and send the webhook deliveries due now
(`delivery.deliver_outbox`). Idempotent; safe on several workers at once."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from rodistaa.jobs.spec import ServiceJobSpec
from rodistaa.webhooks.delivery import deliver_outbox

JOBS: Mapping[str, ServiceJobSpec] = MappingProxyType(
    {
        "webhook-delivery": ServiceJobSpec(
            "webhook-delivery",
            "Fan out new outbox events to webhook subscriptions and send the deliveries due now.",
            deliver_outbox,
        )
    }
)
