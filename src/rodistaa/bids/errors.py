"""Typed errors of the bids domain (PRODUCT §6 "Bidding"). Finalization raises the same
`BookingNotTakingBids` and `BidNotActive`: one error per state, whoever finds it."""

from __future__ import annotations

from typing import Any

from rodistaa.core.errors import AppError, Conflict, InvalidState


class DuplicateBid(Conflict):
    """The unique partial index `uq_bids_active_operator_booking` refused a second ACTIVE bid."""

    code, message = "DUPLICATE_BID", "Operator already has an active bid for this booking"


class BiddingClosed(Conflict):
    """The booking's bid window (`autoFinalizeAt`) has passed: its bids are frozen for the
    finalizer, even while the booking still shows OPEN or NEGOTIATION."""

    code, message = "BIDDING_CLOSED", "Bidding on this booking has closed"


class BookingNotTakingBids(InvalidState):
    """The booking left OPEN/NEGOTIATION (finalized, auto-finalized or cancelled), possibly
    while this request ran: a bid, a modification or a finalization arrived too late."""

    message = "The booking is no longer taking bids; it was finalized or cancelled"


class BidNotActive(InvalidState):
    """The bid is not ACTIVE (accepted, rejected or withdrawn), possibly because it changed
    while this request ran: it can no longer be modified, withdrawn or accepted."""

    message = "Only an ACTIVE bid can be modified, withdrawn or accepted"


class BidOutOfRange(AppError):
    status, code, message = 422, "BID_OUT_OF_RANGE", "The amount must lie inside the booking's price range"

    def __init__(self, *, min_rupees: float, max_rupees: float) -> None:
        details: dict[str, Any] = {"field": "amount", "min": min_rupees, "max": max_rupees}
        super().__init__(details=details)


class TruckNotEligible(AppError):
    """The truck is not one of the operator's ACTIVE trucks. Another operator's truck answers
    the same, so the error never tells whether a truck id exists."""

    status, code, message = 422, "TRUCK_NOT_ELIGIBLE", "The truck must be one of your ACTIVE trucks"

    def __init__(self) -> None:
        super().__init__(details={"field": "truckId"})
