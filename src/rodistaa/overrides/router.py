"""HTTP for overrides (four eyes) and admin TOTP enrolment; admins only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, status

from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.http.auth import require_role
from rodistaa.http.context import client_ip
from rodistaa.http.errors import ERROR_RESPONSES, documented_error
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services
from rodistaa.overrides.schemas import (
    ApiStatus,
    OverrideCreate,
    OverrideDecision,
    OverrideOut,
    RejectDecision,
    TotpConfirm,
    TotpEnrolmentOut,
    TotpStatusOut,
    stored_status,
)
from rodistaa.overrides.service import OverrideService

router = APIRouter(tags=["admin"])
AdminActor = Annotated[Actor, Depends(require_role(Role.ADMIN))]


async def get_override_service(services: Annotated[Services, Depends(get_services)]) -> OverrideService:
    return OverrideService(services)


ServiceDep = Annotated[OverrideService, Depends(get_override_service)]


@router.post("/admin/totp/enrol", response_model=TotpEnrolmentOut, responses=ERROR_RESPONSES)
async def enrol_totp(actor: AdminActor, service: ServiceDep) -> TotpEnrolmentOut:
    """A new TOTP secret for the calling admin, shown once (409 TOTP_ALREADY_ENROLLED once confirmed)."""
    enrolment = await service.enrol_totp(actor)
    return TotpEnrolmentOut(secret=enrolment.secret, otpauthUri=enrolment.otpauth_uri)


@router.post("/admin/totp/confirm", response_model=TotpStatusOut, responses=ERROR_RESPONSES)
async def confirm_totp(body: TotpConfirm, actor: AdminActor, service: ServiceDep) -> TotpStatusOut:
    """Confirm the enrolment with a current code (400 INVALID_TOTP_CODE otherwise)."""
    await service.confirm_totp(actor, body.code)
    return TotpStatusOut(enrolled=True, confirmed=True)


@router.get("/admin/totp", response_model=TotpStatusOut, responses=ERROR_RESPONSES)
async def totp_status(actor: AdminActor, service: ServiceDep) -> TotpStatusOut:
    enrolled, confirmed = await service.totp_status(actor)
    return TotpStatusOut(enrolled=enrolled, confirmed=confirmed)


@router.post(
    "/admin/overrides",
    status_code=status.HTTP_201_CREATED,
    response_model=OverrideOut,
    responses=ERROR_RESPONSES
    | documented_error(404, "NOT_FOUND: the override's target entity does not exist"),
)
async def request_override(body: OverrideCreate, actor: AdminActor, service: ServiceDep) -> OverrideOut:
    """Request an override; another admin decides it."""
    return OverrideOut.of(await service.request(actor, body))


@router.get("/admin/overrides", response_model=Page[OverrideOut], responses=ERROR_RESPONSES)
async def list_overrides(
    _actor: AdminActor,
    service: ServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    status_filter: Annotated[ApiStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    """Newest first."""
    stored = stored_status(status_filter) if status_filter is not None else None
    records, total = await service.list_overrides(status=stored, page=page)
    return build_page([OverrideOut.of(r) for r in records], total, page)


@router.get("/admin/overrides/{overrideId}", response_model=OverrideOut, responses=ERROR_RESPONSES)
async def get_override(overrideId: str, _actor: AdminActor, service: ServiceDep) -> OverrideOut:
    return OverrideOut.of(await service.get_override(overrideId))


@router.post("/admin/overrides/{overrideId}/approve", response_model=OverrideOut, responses=ERROR_RESPONSES)
async def approve_override(
    overrideId: str,
    actor: AdminActor,
    service: ServiceDep,
    request: Request,
    body: Annotated[OverrideDecision | None, Body()] = None,
) -> OverrideOut:
    """Approve and execute (another admin than the requester; critical ones need a
    justification and the approver's `totpCode`)."""
    decision = body or OverrideDecision()
    record = await service.approve(
        actor, overrideId, totp_code=decision.totpCode, note=decision.reason, ip=client_ip(request)
    )
    return OverrideOut.of(record)


@router.post("/admin/overrides/{overrideId}/reject", response_model=OverrideOut, responses=ERROR_RESPONSES)
async def reject_override(
    overrideId: str,
    actor: AdminActor,
    service: ServiceDep,
    body: Annotated[RejectDecision | None, Body()] = None,
) -> OverrideOut:
    decision = body or RejectDecision()
    return OverrideOut.of(await service.reject(actor, overrideId, note=decision.reason))
