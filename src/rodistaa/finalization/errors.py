"""Typed errors of finalization. Each is an expected business outcome (never a 500).

A booking no longer taking bids and a bid no longer ACTIVE are the bids domain's errors
(`bids.errors.BookingNotTakingBids`, `bids.errors.BidNotActive`)."""

from __future__ import annotations

from rodistaa.bids.errors import BookingNotTakingBids
from rodistaa.core.errors import Conflict, ValidationFailed


class FinalizationInProgress(BookingNotTakingBids):
    """Another evaluation of the booking by candidate order (a job run, an admin) is running
    and will finalize or cancel it; the job counts the booking as already done."""

    message = "The booking is being finalized by another request"


class BidChanged(Conflict):
    """The bid's amount is not the one the caller accepted: its operator modified it between
    the caller's read (or the `expectedAmount` they sent) and the winning claim. Nothing
    changed; the caller reads the bid again and decides on the new price."""

    code, message = "BID_CHANGED", "The bid's amount changed; read it again before accepting"


class WinnerIneligible(Conflict):
    """The winning operator lost its standing (KYC no longer VERIFIED, account blocked,
    suspended or inactive, ledger negative) after ACS RF14 allowed it and before the winning
    transaction committed; the same code as RF14's refusal."""

    code, message = "WINNER_INELIGIBLE", "Winning operator is no longer eligible; try the next bid"


def unknown_bid_field(field: str) -> ValidationFailed:
    """A bid id in a request body that names no bid of the booking: a field error, not a 404
    of the whole request (STYLE "Authorization")."""
    return ValidationFailed.for_field(field, "is not a bid on this booking")
