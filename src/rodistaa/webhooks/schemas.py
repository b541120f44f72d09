"""API models of webhooks (contract: `Webhook` and the `/webhooks/register` body).

`Webhook` keeps the contract's `id, url, events, active` first; `status`, the failure streak,
the disable reason and the times are additions. The signing `secret` appears only in the
registration response (`WebhookCreated`): it is stored encrypted and never shown again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

from rodistaa.webhooks.repo import Delivery, DeliveryStatus, Subscription, SubscriptionStatus
from rodistaa.webhooks.urls import MAX_URL_LENGTH


class WebhookEvent(StrEnum):
    """The events partners may subscribe to (PRODUCT §10)."""

    BOOKING_CREATED = "booking.created"
    BOOKING_FINALIZED = "booking.finalized"
    SHIPMENT_ASSIGNED = "shipment.assigned"
    SHIPMENT_COMPLETED = "shipment.completed"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    ACS_BLOCK = "acs.block"


WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_URL_LENGTH)]


class WebhookRegister(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://partner.example.com/hooks/rodistaa",
                    "events": ["booking.created", "shipment.completed"],
                }
            ]
        },
    )

    url: WebhookUrl
    events: Annotated[list[WebhookEvent], Field(min_length=1, max_length=len(WebhookEvent))]


_WEBHOOK_EXAMPLE: JsonDict = {
    "id": "WHK-01J9ZC3D5E7F9G1H3J5K7M9N1P",
    "url": "https://partner.example.com/hooks/rodistaa",
    "events": ["booking.created", "shipment.completed"],
    "active": True,
    "status": "ACTIVE",
    "consecutiveFailures": 0,
    "disabledReason": None,
    "disabledAt": None,
    "createdAt": "2024-01-15T10:30:00Z",
    "updatedAt": "2024-01-15T10:30:00Z",
}


class WebhookOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_WEBHOOK_EXAMPLE]})

    id: str
    url: str
    events: list[str]
    active: bool
    status: SubscriptionStatus
    consecutiveFailures: int
    disabledReason: str | None
    disabledAt: datetime | None
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def of(cls, subscription: Subscription) -> WebhookOut:
        return cls.model_validate(_webhook_fields(subscription))


class WebhookCreated(WebhookOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_WEBHOOK_EXAMPLE, "secret": "Xq3v9LmT0bR7kP2sW8nF4hJ6cY1dG5aZ0eK3uM9pQ7w"}]  # nosec B105 # an OpenAPI example value
        }
    )

    secret: str = Field(description="The signing secret. Shown once: store it now.")

    @classmethod
    def with_secret(cls, subscription: Subscription, secret: str) -> WebhookCreated:
        return cls.model_validate({**_webhook_fields(subscription), "secret": secret})


def _webhook_fields(subscription: Subscription) -> dict[str, object]:
    return {
        "id": subscription.id,
        "url": subscription.url,
        "events": list(subscription.events),
        "active": subscription.status is SubscriptionStatus.ACTIVE,
        "status": subscription.status,
        "consecutiveFailures": subscription.consecutive_failures,
        "disabledReason": subscription.disabled_reason,
        "disabledAt": subscription.disabled_at,
        "createdAt": subscription.created_at,
        "updatedAt": subscription.updated_at,
    }


class DeliveryOut(BaseModel):
    id: str
    webhookId: str
    eventId: str
    eventName: str
    status: DeliveryStatus
    attempts: int
    nextAttemptAt: datetime | None
    lastAttemptAt: datetime | None
    lastStatusCode: int | None
    lastError: str | None
    deliveredAt: datetime | None
    createdAt: datetime

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        pending = delivery.status is DeliveryStatus.PENDING
        return cls(
            id=delivery.id,
            webhookId=delivery.subscription_id,
            eventId=delivery.event_id,
            eventName=delivery.event_name,
            status=delivery.status,
            attempts=delivery.attempts,
            nextAttemptAt=delivery.next_attempt_at if pending else None,
            lastAttemptAt=delivery.last_attempt_at,
            lastStatusCode=delivery.last_status_code,
            lastError=delivery.last_error,
            deliveredAt=delivery.delivered_at,
            createdAt=delivery.created_at,
        )
