"""HTTP for shipments: reads for the parties and admins, the crew and trip moves, the delivery
OTP for the shipper, and the admin's cancel, fail, freeze and unfreeze.

Every route admits the roles that can see shipments at all (shipper, operator, driver, admin;
anyone else 403); a shipment outside what the caller may see is 404, and one they may see but
not act on is 403 (`service.ensure_*`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from rodistaa.apikeys.scopes import Scope
from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.http.auth import AdminActor, require_access, require_role
from rodistaa.http.context import client_ip
from rodistaa.http.errors import ERROR_RESPONSES, documented_error
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services
from rodistaa.shipments.schemas import (
    AdminReasonRequest,
    AlternateTruckRequest,
    AssignRequest,
    BreakdownRequest,
    OtpOut,
    RejectDriverRequest,
    ShipmentOut,
)
from rodistaa.shipments.service import OtpView, ShipmentService, ShipmentView
from rodistaa.shipments.status import ShipmentStatus

router = APIRouter(tags=["shipments"])
_PARTY_ROLES = (Role.SHIPPER, Role.OPERATOR, Role.DRIVER, Role.ADMIN)
PartyActor = Annotated[Actor, Depends(require_role(*_PARTY_ROLES))]
# The two reads are also open to partner keys granted bookings:read (acting as their owner).
ShipmentReadAccess = Annotated[Actor, Depends(require_access(Scope.BOOKINGS_READ, roles=_PARTY_ROLES))]
_NOT_ELIGIBLE = documented_error(
    422, "TRUCK_NOT_ELIGIBLE or DRIVER_NOT_ELIGIBLE: not the operator's own ACTIVE truck or verified driver"
)
# The code must not outlive the response in any cache (browser, proxy, app HTTP cache).
NO_STORE = {"Cache-Control": "no-store"}


async def get_shipment_service(services: Annotated[Services, Depends(get_services)]) -> ShipmentService:
    return ShipmentService(services)


ShipmentServiceDep = Annotated[ShipmentService, Depends(get_shipment_service)]


def shipment_out(view: ShipmentView) -> ShipmentOut:
    return ShipmentOut.of(
        view.shipment, frozen=view.frozen, frozen_reason=view.frozen_reason, otp_issued=view.otp_issued
    )


def otp_out(view: OtpView) -> OtpOut:
    state = view.state
    return OtpOut(
        otp=view.code,
        issuedAt=state.issued_at,
        expiresAt=state.expires_at,
        attempts=state.attempts,
        locked=state.locked,
        consumed=state.consumed_at is not None,
    )


@router.get("/shipments", response_model=Page[ShipmentOut], responses=ERROR_RESPONSES)
async def list_shipments(
    actor: ShipmentReadAccess,
    service: ShipmentServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    status_filter: Annotated[ShipmentStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    """Shippers: their own; operators: the ones they won; drivers: the ones they are assigned
    to; admins: all. Newest first. `status` matches the stored state (`workflowStatus`)."""
    views, total = await service.list_shipments(actor, status=status_filter, page=page)
    return build_page([shipment_out(v) for v in views], total, page)


@router.get("/shipments/{shipmentId}", response_model=ShipmentOut, responses=ERROR_RESPONSES)
async def get_shipment(
    shipmentId: str, actor: ShipmentReadAccess, service: ShipmentServiceDep
) -> ShipmentOut:
    return shipment_out(await service.get_shipment(actor, shipmentId))


@router.post(
    "/shipments/{shipmentId}/assign", response_model=ShipmentOut, responses=ERROR_RESPONSES | _NOT_ELIGIBLE
)
async def assign(
    shipmentId: str, body: AssignRequest, actor: PartyActor, service: ShipmentServiceDep, request: Request
) -> ShipmentOut:
    """The operator assigns one of its ACTIVE trucks and a driver of its fleet before the start
    (from ASSIGNED, DRIVER_PENDING_APPROVAL or APPROVED) → DRIVER_PENDING_APPROVAL."""
    view = await service.assign(
        actor, shipmentId, driver_id=body.driverId, truck_id=body.truckId, ip=client_ip(request)
    )
    return shipment_out(view)


@router.post("/shipments/{shipmentId}/approve-driver", response_model=ShipmentOut, responses=ERROR_RESPONSES)
async def approve_driver(shipmentId: str, actor: PartyActor, service: ShipmentServiceDep) -> ShipmentOut:
    """The shipper approves the assigned driver → APPROVED."""
    return shipment_out(await service.approve_driver(actor, shipmentId))


@router.post("/shipments/{shipmentId}/reject-driver", response_model=ShipmentOut, responses=ERROR_RESPONSES)
async def reject_driver(
    shipmentId: str,
    actor: PartyActor,
    service: ShipmentServiceDep,
    body: Annotated[RejectDriverRequest | None, Body()] = None,
) -> ShipmentOut:
    """The shipper rejects the assigned driver → ASSIGNED, without driver or truck."""
    reason = body.reason if body is not None else None
    return shipment_out(await service.reject_driver(actor, shipmentId, reason=reason))


@router.post("/shipments/{shipmentId}/start", response_model=ShipmentOut, responses=ERROR_RESPONSES)
async def start(
    shipmentId: str, actor: PartyActor, service: ShipmentServiceDep, request: Request
) -> ShipmentOut:
    """The approved driver starts → IN_TRANSIT; the shipper's delivery OTP is issued."""
    return shipment_out(await service.start(actor, shipmentId, ip=client_ip(request)))


@router.get("/shipments/{shipmentId}/otp", response_model=OtpOut, responses=ERROR_RESPONSES)
async def get_otp(
    shipmentId: str, actor: PartyActor, service: ShipmentServiceDep, response: Response
) -> OtpOut:
    """The delivery OTP, for the shipment's shipper only (404 OTP_NOT_ISSUED before the start)."""
    response.headers.update(NO_STORE)
    return otp_out(await service.reveal_otp(actor, shipmentId))


@router.post("/shipments/{shipmentId}/otp/reissue", response_model=OtpOut, responses=ERROR_RESPONSES)
async def reissue_otp(
    shipmentId: str, actor: PartyActor, service: ShipmentServiceDep, response: Response
) -> OtpOut:
    """The shipper replaces the OTP (IN_TRANSIT or OTP_PENDING): the old code stops working,
    attempts restart, a brute-force lock and RF04's shipment block are lifted."""
    response.headers.update(NO_STORE)
    return otp_out(await service.reissue_otp(actor, shipmentId))


@router.post("/shipments/{shipmentId}/breakdown", response_model=ShipmentOut, responses=ERROR_RESPONSES)
async def report_breakdown(
    shipmentId: str, body: BreakdownRequest, actor: PartyActor, service: ShipmentServiceDep
) -> ShipmentOut:
    """The assigned driver or the operator reports a breakdown of an IN_TRANSIT shipment."""
    return shipment_out(await service.report_breakdown(actor, shipmentId, reason=body.reason))


@router.post(
    "/shipments/{shipmentId}/alternate-truck",
    response_model=ShipmentOut,
    responses=ERROR_RESPONSES | _NOT_ELIGIBLE,
)
async def assign_alternate_truck(
    shipmentId: str,
    body: AlternateTruckRequest,
    actor: PartyActor,
    service: ShipmentServiceDep,
    request: Request,
) -> ShipmentOut:
    """After a breakdown the operator moves the load to another ACTIVE truck; a new driver
    needs the shipper's approval (→ DRIVER_PENDING_APPROVAL). No fee is charged."""
    view = await service.assign_alternate_truck(
        actor, shipmentId, truck_id=body.truckId, driver_id=body.driverId, ip=client_ip(request)
    )
    return shipment_out(view)


@router.post("/admin/shipments/{shipmentId}/cancel", response_model=ShipmentOut, responses=ERROR_RESPONSES)
async def admin_cancel(
    shipmentId: str, body: AdminReasonRequest, actor: AdminActor, service: ShipmentServiceDep
) -> ShipmentOut:
    """Any state but a final one, frozen or not → CANCELLED."""
    return shipment_out(
        await service.end(actor, shipmentId, target=ShipmentStatus.CANCELLED, reason=body.reason)
    )


@router.post("/admin/shipments/{shipmentId}/fail", response_model=ShipmentOut, responses=ERROR_RESPONSES)
async def admin_fail(
    shipmentId: str, body: AdminReasonRequest, actor: AdminActor, service: ShipmentServiceDep
) -> ShipmentOut:
    """Any state but a final one, frozen or not → FAILED."""
    return shipment_out(
        await service.end(actor, shipmentId, target=ShipmentStatus.FAILED, reason=body.reason)
    )


@router.post("/admin/shipments/{shipmentId}/freeze", response_model=ShipmentOut, responses=ERROR_RESPONSES)
async def admin_freeze(
    shipmentId: str, body: AdminReasonRequest, actor: AdminActor, service: ShipmentServiceDep
) -> ShipmentOut:
    """Freeze for review: nothing but an admin ending it moves the shipment until unfrozen."""
    return shipment_out(await service.freeze(actor, shipmentId, reason=body.reason))


@router.post("/admin/shipments/{shipmentId}/unfreeze", response_model=ShipmentOut, responses=ERROR_RESPONSES)
async def admin_unfreeze(shipmentId: str, actor: AdminActor, service: ShipmentServiceDep) -> ShipmentOut:
    """Lift the admins' freezes (not ACS's, not blocks: those need an approved override, 409
    FREEZE_NEEDS_OVERRIDE when nothing else holds it); the stored state shows again."""
    return shipment_out(await service.unfreeze(actor, shipmentId))
