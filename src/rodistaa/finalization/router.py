"""HTTP for finalization: a shipper accepts a bid; an admin finalizes a booking.

Neither route is in the reference contract (see `finalization.schemas`). Both answer 200 with
`FinalizationOut` (unset fields dropped: the shipper's `bid` has `operatorAlias`, an admin's
`operatorId`); 409 INVALID_STATE when the bid is not ACTIVE or the booking no longer takes
bids (nothing changed), 409 WINNER_INELIGIBLE (ACS RF14, or the standing re-checked in the
winning transaction) when the chosen operator may not win, 409 BID_CHANGED when the accepted
amount is no longer the bid's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from rodistaa.core.actor import Actor
from rodistaa.core.money import rupees_to_paise
from rodistaa.core.roles import Role
from rodistaa.finalization.schemas import AcceptBidRequest, AdminFinalizeRequest, FinalizationOut
from rodistaa.finalization.service import FinalizationService
from rodistaa.http.auth import require_role
from rodistaa.http.context import client_ip
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.services import Services, get_services

router = APIRouter(tags=["finalization"])
ShipperActor = Annotated[Actor, Depends(require_role(Role.SHIPPER))]
AdminActor = Annotated[Actor, Depends(require_role(Role.ADMIN))]


async def get_finalization_service(
    services: Annotated[Services, Depends(get_services)],
) -> FinalizationService:
    return FinalizationService(services)


FinalizationServiceDep = Annotated[FinalizationService, Depends(get_finalization_service)]


@router.post(
    "/bids/{bidId}/accept",
    response_model=FinalizationOut,
    response_model_exclude_unset=True,
    responses=ERROR_RESPONSES,
)
async def accept_bid(
    bidId: str,
    actor: ShipperActor,
    service: FinalizationServiceDep,
    request: Request,
    body: Annotated[AcceptBidRequest | None, Body()] = None,
) -> FinalizationOut:
    """The shipper owning the bid's booking accepts an ACTIVE bid at its current amount: the
    booking becomes FINALIZED, the bid ACCEPTED, every other active bid REJECTED (fees are not
    refunded) and the shipment is created ASSIGNED. With `expectedAmount` (optional body), only
    at that amount (409 BID_CHANGED otherwise). Another shipper's bid answers 404."""
    expected = body.expectedAmount if body is not None else None
    result = await service.accept(
        actor,
        bidId,
        expected_amount_paise=rupees_to_paise(expected) if expected is not None else None,
        ip=client_ip(request),
    )
    return FinalizationOut.of(result, operator_alias=service.shipper_alias(result.bid))


@router.post(
    "/admin/bookings/{bookingId}/finalize",
    response_model=FinalizationOut,
    response_model_exclude_unset=True,
    responses=ERROR_RESPONSES,
)
async def admin_finalize(
    bookingId: str,
    body: AdminFinalizeRequest,
    actor: AdminActor,
    service: FinalizationServiceDep,
    request: Request,
) -> FinalizationOut:
    """An admin finalizes with `bidId` (that bid, eligibility checked) or without it (the first
    eligible candidate by amount, time, operator id; none → the booking is CANCELLED with
    `cancelReason: NO_VALID_BIDS` and `bid`/`shipment` are null). `reason` is required."""
    outcome = await service.admin_finalize(
        actor, bookingId, bid_id=body.bidId, reason=body.reason, ip=client_ip(request)
    )
    return FinalizationOut.of(outcome)
