"""API models of finalization. Neither route is in the reference contract; the answer is kept
small: the booking's new state, the winning bid (the contract's `Bid` fields) and the new
shipment (the contract's `Shipment` fields plus the parties and the agreed price). Money is
rupees here, integer paise everywhere else.

`bid` and `shipment` are null only when an admin finalization found no valid candidate and
the booking was cancelled with `cancelReason: NO_VALID_BIDS`.

For the accepting shipper the `bid` is masked as in the bids API (PRODUCT §1): `operatorAlias`
instead of `operatorId` (absent, not null; routes drop unset fields). The `shipment` names
the operator: from the accept on, shipper and operator work together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.bids.repo import BidRecord, BidStatus
from rodistaa.bids.schemas import BidRupees
from rodistaa.bookings.repo import BookingRecord, BookingStatus
from rodistaa.core.money import paise_to_rupees_number
from rodistaa.finalization.service import Finalized, Outcome
from rodistaa.shipments.repo import ShipmentRecord
from rodistaa.shipments.status import ShipmentStatus

ReasonText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
BidIdText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class AdminFinalizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bidId: BidIdText | None = Field(
        default=None, description="The bid to accept; without it the candidate order decides"
    )
    reason: ReasonText = Field(
        description="Why an admin finalizes: stored with the booking (`finalize_reason`), not audited"
    )


class AcceptBidRequest(BaseModel):
    """Optional body of the accept: the amount the shipper saw. A different current amount
    answers 409 BID_CHANGED and nothing changes."""

    model_config = ConfigDict(extra="forbid")

    expectedAmount: BidRupees | None = Field(default=None, description="Rupees, as the bid showed it")


class FinalizedBookingOut(BaseModel):
    id: str
    status: BookingStatus
    finalizedAt: datetime | None
    cancelReason: str | None

    @classmethod
    def of(cls, booking: BookingRecord) -> FinalizedBookingOut:
        return cls(
            id=booking.id,
            status=booking.status,
            finalizedAt=booking.finalized_at,
            cancelReason=booking.cancel_reason,
        )


class AcceptedBidOut(BaseModel):
    id: str
    bookingId: str
    operatorId: str | None = Field(default=None, description="Absent for the accepting shipper")
    operatorAlias: str | None = Field(default=None, description="For the accepting shipper only")
    amount: float = Field(description="Rupees")
    status: BidStatus
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def of(cls, bid: BidRecord, *, operator_alias: str | None = None) -> AcceptedBidOut:
        operator: dict[str, Any] = (
            {"operatorAlias": operator_alias}
            if operator_alias is not None
            else {"operatorId": bid.operator_id}
        )
        return cls(
            id=bid.id,
            bookingId=bid.booking_id,
            **operator,
            amount=paise_to_rupees_number(bid.amount_paise),
            status=bid.status,
            createdAt=bid.created_at,
            updatedAt=bid.updated_at,
        )


class CreatedShipmentOut(BaseModel):
    id: str
    bookingId: str
    bidId: str
    shipperId: str
    operatorId: str
    driverId: str | None
    truckId: str | None
    agreedPrice: float = Field(description="Rupees: the winning bid's amount")
    status: ShipmentStatus
    createdAt: datetime

    @classmethod
    def of(cls, shipment: ShipmentRecord) -> CreatedShipmentOut:
        return cls(
            id=shipment.id,
            bookingId=shipment.booking_id,
            bidId=shipment.bid_id,
            shipperId=shipment.shipper_id,
            operatorId=shipment.operator_id,
            driverId=shipment.driver_id,
            truckId=shipment.truck_id,
            agreedPrice=paise_to_rupees_number(shipment.agreed_price_paise),
            status=shipment.status,
            createdAt=shipment.created_at,
        )


class FinalizationOut(BaseModel):
    booking: FinalizedBookingOut
    bid: AcceptedBidOut | None
    shipment: CreatedShipmentOut | None
    skippedBidIds: list[str] = Field(
        default_factory=list, description="Candidates passed over as ineligible (candidate order only)"
    )

    @classmethod
    def of(cls, outcome: Outcome, *, operator_alias: str | None = None) -> FinalizationOut:
        """`operator_alias`: mask the winning operator in `bid` (the accepting shipper)."""
        if isinstance(outcome, Finalized):
            return cls(
                booking=FinalizedBookingOut.of(outcome.booking),
                bid=AcceptedBidOut.of(outcome.bid, operator_alias=operator_alias),
                shipment=CreatedShipmentOut.of(outcome.shipment),
                skippedBidIds=list(outcome.skipped_bid_ids),
            )
        return cls(
            booking=FinalizedBookingOut.of(outcome.booking),
            bid=None,
            shipment=None,
            skippedBidIds=list(outcome.skipped_bid_ids),
        )
