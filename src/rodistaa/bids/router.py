"""HTTP for bids: place, modify, withdraw (operators); read (operators their own, the booking's
shipper all of its bids with the operator masked, admins all).

Routes drop unset fields (`response_model_exclude_unset`): that is how `fee`, `operatorId` and
`truckId` are absent, not null, for the booking's shipper, and `operatorAlias` for everyone
else (see `BidOut.of`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status

from rodistaa.bids.repo import BidStatus
from rodistaa.bids.schemas import BidCreate, BidModify, BidOut
from rodistaa.bids.service import BidService, BidView
from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.http.auth import require_role
from rodistaa.http.context import client_ip
from rodistaa.http.errors import ERROR_RESPONSES, documented_error
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services

router = APIRouter(tags=["bids"])
OperatorActor = Annotated[Actor, Depends(require_role(Role.OPERATOR))]
# Who may read bids at all; what each of them sees is `repo.readable`.
BidReaderActor = Annotated[Actor, Depends(require_role(Role.SHIPPER, Role.OPERATOR, Role.ADMIN))]
BidListerActor = Annotated[Actor, Depends(require_role(Role.OPERATOR, Role.ADMIN))]


async def get_bid_service(services: Annotated[Services, Depends(get_services)]) -> BidService:
    return BidService(services)


BidServiceDep = Annotated[BidService, Depends(get_bid_service)]
StatusFilter = Annotated[BidStatus | None, Query(alias="status")]
_OUT_OF_RANGE = documented_error(422, "BID_OUT_OF_RANGE: the amount lies outside the booking's price range")
_CREATE_ERRORS = documented_error(
    404, "NOT_FOUND: the booking does not exist or is not open to operators"
) | documented_error(422, "BID_OUT_OF_RANGE, TRUCK_NOT_ELIGIBLE or INSUFFICIENT_BALANCE (the fee)")


def bid_out(view: BidView) -> BidOut:
    return BidOut.of(view.bid, with_fee=view.with_fee, operator_alias=view.operator_alias)


@router.post(
    "/bids",
    status_code=status.HTTP_201_CREATED,
    response_model=BidOut,
    response_model_exclude_unset=True,
    responses=ERROR_RESPONSES | _CREATE_ERRORS,
)
async def create_bid(
    body: BidCreate, actor: OperatorActor, service: BidServiceDep, request: Request
) -> BidOut:
    """A KYC-verified operator bids on an OPEN or NEGOTIATION booking, inside its price range,
    paying the bidding fee from its ledger (`422 INSUFFICIENT_BALANCE` / `LEDGER_INSUFFICIENT`
    when it cannot). One ACTIVE bid per operator per booking (`409 DUPLICATE_BID`); `409
    BIDDING_CLOSED` once `autoFinalizeAt` has passed; ACS reject codes as 403."""
    return bid_out(await service.create_bid(actor, body, ip=client_ip(request)))


@router.get(
    "/bids", response_model=Page[BidOut], response_model_exclude_unset=True, responses=ERROR_RESPONSES
)
async def list_bids(
    actor: BidListerActor,
    service: BidServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    status_filter: StatusFilter = None,
) -> dict[str, Any]:
    """Operators: their own bids; admins: all. Newest first."""
    views, total = await service.list_bids(actor, status=status_filter, page=page)
    return build_page([bid_out(v) for v in views], total, page)


@router.get(
    "/bids/{bidId}", response_model=BidOut, response_model_exclude_unset=True, responses=ERROR_RESPONSES
)
async def get_bid(bidId: str, actor: BidReaderActor, service: BidServiceDep) -> BidOut:
    """The bidding operator, the booking's shipper and admins; `404` for anyone else."""
    return bid_out(await service.get_bid(actor, bidId))


@router.patch(
    "/bids/{bidId}",
    response_model=BidOut,
    response_model_exclude_unset=True,
    responses=ERROR_RESPONSES | _OUT_OF_RANGE,
)
async def modify_bid(
    bidId: str, body: BidModify, actor: OperatorActor, service: BidServiceDep, request: Request
) -> BidOut:
    """A new amount for the operator's own ACTIVE bid (inside the range, no new fee). Throttled
    by ACS RF20 (`429 RATE_LIMIT_EXCEEDED` with `Retry-After`). Notes cannot be changed."""
    return bid_out(await service.modify_bid(actor, bidId, body, ip=client_ip(request)))


@router.delete(
    "/bids/{bidId}", response_model=BidOut, response_model_exclude_unset=True, responses=ERROR_RESPONSES
)
async def withdraw_bid(bidId: str, actor: OperatorActor, service: BidServiceDep) -> BidOut:
    """The operator's own ACTIVE bid becomes WITHDRAWN; the fee is not refunded."""
    return bid_out(await service.withdraw_bid(actor, bidId))


@router.get(
    "/bookings/{bookingId}/bids",
    response_model=list[BidOut],
    response_model_exclude_unset=True,
    responses=ERROR_RESPONSES,
)
async def list_booking_bids(
    bookingId: str, actor: BidReaderActor, service: BidServiceDep, status_filter: StatusFilter = None
) -> list[BidOut]:
    """Sealed bidding: the booking's shipper and admins see every bid, an operator only its
    own. The shipper sees `operatorAlias` instead of `operatorId`/`truckId`. Ordered
    `amount ASC, createdAt ASC`. `404` when the booking is not visible."""
    return [bid_out(v) for v in await service.list_for_booking(actor, bookingId, status=status_filter)]
