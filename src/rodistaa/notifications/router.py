"""HTTP for the in-app inbox: `GET /v1/notifications`, `POST /v1/notifications/{id}/read`.
Any signed-in user, their own inbox only (someone else's notification is 404)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from rodistaa.http.auth import CurrentActor
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services
from rodistaa.notifications.schemas import NotificationOut
from rodistaa.notifications.service import NotificationService

router = APIRouter(tags=["notifications"])


async def get_notification_service(
    services: Annotated[Services, Depends(get_services)],
) -> NotificationService:
    return NotificationService(services)


ServiceDep = Annotated[NotificationService, Depends(get_notification_service)]


@router.get("/notifications", response_model=Page[NotificationOut], responses=ERROR_RESPONSES)
async def list_notifications(
    actor: CurrentActor,
    service: ServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    unread: Annotated[bool, Query(description="Only the caller's own unread notifications")] = False,
) -> dict[str, Any]:
    """The caller's notifications and the broadcasts to their role, newest first."""
    records, total = await service.list_inbox(actor, unread_only=unread, page=page)
    return build_page([NotificationOut.of(r) for r in records], total, page)


@router.post(
    "/notifications/{notificationId}/read", response_model=NotificationOut, responses=ERROR_RESPONSES
)
async def mark_notification_read(
    notificationId: str, actor: CurrentActor, service: ServiceDep
) -> NotificationOut:
    """Idempotent; `409 INVALID_STATE` for a broadcast to a role."""
    return NotificationOut.of(await service.mark_read(actor, notificationId))
