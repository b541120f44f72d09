"""HTTP for bookings: create (shippers), list and read (shippers, operators, admins), cancel.

Routes drop unset fields (`response_model_exclude_unset`): that is how `expectedPrice` is
absent, not null, for operators (see `BookingOut.of`). Every other field is always set.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, status

from rodistaa.apikeys.scopes import Scope
from rodistaa.bookings.repo import BookingStatus
from rodistaa.bookings.schemas import BookingCreate, BookingOut, CancelRequest
from rodistaa.bookings.service import BookingService, BookingView
from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.http.auth import require_access, require_role
from rodistaa.http.context import client_ip
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.ratelimit import limit_request
from rodistaa.http.services import Services, get_services

router = APIRouter(tags=["bookings"])
ShipperActor = Annotated[Actor, Depends(require_role(Role.SHIPPER))]
# Who may read bookings at all; what each of them sees is `repo.readable`.
_READER_ROLES = (Role.SHIPPER, Role.OPERATOR, Role.ADMIN)
BookingReaderActor = Annotated[Actor, Depends(require_role(*_READER_ROLES))]
# The reads are also open to partner keys granted bookings:read (acting as their owner).
BookingReadAccess = Annotated[Actor, Depends(require_access(Scope.BOOKINGS_READ, roles=_READER_ROLES))]


async def get_booking_service(services: Annotated[Services, Depends(get_services)]) -> BookingService:
    return BookingService(services)


BookingServiceDep = Annotated[BookingService, Depends(get_booking_service)]


def booking_out(view: BookingView) -> BookingOut:
    return BookingOut.of(view.booking, with_expected_price=view.with_expected_price, for_admin=view.for_admin)


@router.post(
    "/bookings",
    status_code=status.HTTP_201_CREATED,
    response_model=BookingOut,
    response_model_exclude_unset=True,
    responses=ERROR_RESPONSES,
)
async def create_booking(
    body: BookingCreate, actor: ShipperActor, service: BookingServiceDep, request: Request
) -> BookingOut:
    """A KYC-verified shipper posts a load (ACS RF01 answers `403 KYC_REQUIRED` otherwise). The
    server computes the distance, the expected price and, when none is given, the price range.
    At most `RATE_LIMIT_BOOKING_CREATE_PER_USER` (100 a day) per shipper: 429 after that."""
    await limit_request(request, [("booking_create", actor.user_id)])
    return booking_out(await service.create_booking(actor, body, ip=client_ip(request)))


@router.get(
    "/bookings",
    response_model=Page[BookingOut],
    response_model_exclude_unset=True,
    responses=ERROR_RESPONSES,
)
async def list_bookings(
    actor: BookingReadAccess,
    service: BookingServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    status_filter: Annotated[BookingStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    """Shippers: their own; operators: bookings taking bids (OPEN, NEGOTIATION), without the
    expected price; admins: all. Newest first."""
    views, total = await service.list_bookings(actor, status=status_filter, page=page)
    return build_page([booking_out(v) for v in views], total, page)


@router.get(
    "/bookings/{bookingId}",
    response_model=BookingOut,
    response_model_exclude_unset=True,
    responses=ERROR_RESPONSES,
)
async def get_booking(bookingId: str, actor: BookingReadAccess, service: BookingServiceDep) -> BookingOut:
    return booking_out(await service.get_booking(actor, bookingId))


@router.post(
    "/bookings/{bookingId}/cancel",
    response_model=BookingOut,
    response_model_exclude_unset=True,
    responses=ERROR_RESPONSES,
)
async def cancel_booking(
    bookingId: str,
    actor: BookingReaderActor,
    service: BookingServiceDep,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> BookingOut:
    """The owning shipper (reason optional) or an admin (reason required) cancels an OPEN or
    NEGOTIATION booking; `409 INVALID_STATE` otherwise. Answers the cancelled booking."""
    reason = body.reason if body is not None else None
    return booking_out(await service.cancel_booking(actor, bookingId, reason=reason))
