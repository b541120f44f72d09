"""HTTP for partner webhooks (ADMIN only): register (the secret is in the 201 response, once),
list, the delivery log of one subscription, and manual re-enable."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from rodistaa.apikeys.scopes import Scope
from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.http.auth import require_access
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services
from rodistaa.webhooks.repo import DeliveryStatus, SubscriptionStatus
from rodistaa.webhooks.schemas import DeliveryOut, WebhookCreated, WebhookOut, WebhookRegister
from rodistaa.webhooks.service import WebhookService

router = APIRouter(tags=["webhooks"])
# Admin sessions, or partner keys granted webhooks:manage (which only ADMIN-owned keys may hold).
AdminActor = Annotated[Actor, Depends(require_access(Scope.WEBHOOKS_MANAGE, roles=(Role.ADMIN,)))]


async def get_webhook_service(services: Annotated[Services, Depends(get_services)]) -> WebhookService:
    return WebhookService(services)


WebhookServiceDep = Annotated[WebhookService, Depends(get_webhook_service)]
PageDep = Annotated[PageRequest, Depends(page_request)]


@router.post(
    "/webhooks/register",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses=ERROR_RESPONSES,
)
async def register_webhook(
    body: WebhookRegister, actor: AdminActor, service: WebhookServiceDep
) -> WebhookCreated:
    """Subscribe a partner URL to events. `secret` signs every delivery
    (`X-Rodistaa-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`) and is
    shown only in this response."""
    subscription, secret = await service.register(actor, body)
    return WebhookCreated.with_secret(subscription, secret)


@router.get("/webhooks", response_model=Page[WebhookOut], responses=ERROR_RESPONSES)
async def list_webhooks(
    actor: AdminActor,
    service: WebhookServiceDep,
    page: PageDep,
    status_filter: Annotated[SubscriptionStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    """Every subscription, newest first, without secrets."""
    subscriptions, total = await service.list_subscriptions(status=status_filter, page=page)
    return build_page([WebhookOut.of(s) for s in subscriptions], total, page)


@router.get("/webhooks/{webhookId}/deliveries", response_model=Page[DeliveryOut], responses=ERROR_RESPONSES)
async def list_webhook_deliveries(
    webhookId: str,
    actor: AdminActor,
    service: WebhookServiceDep,
    page: PageDep,
    status_filter: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    """The delivery log of one subscription, newest first."""
    deliveries, total = await service.list_deliveries(webhookId, status=status_filter, page=page)
    return build_page([DeliveryOut.of(d) for d in deliveries], total, page)


@router.post("/webhooks/{webhookId}/enable", response_model=WebhookOut, responses=ERROR_RESPONSES)
async def enable_webhook(webhookId: str, actor: AdminActor, service: WebhookServiceDep) -> WebhookOut:
    """Re-enable a DISABLED subscription: the failure streak starts again from zero and its
    pending deliveries are retried on the next worker run (409 INVALID_STATE when active)."""
    return WebhookOut.of(await service.enable(actor, webhookId))
