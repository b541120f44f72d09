"""API models of bids (contract: `Bid`, `BidCreateRequest`, the PATCH body). Money is rupees
here and integer paise everywhere else.

Added to the contract's `Bid`: `truckId`, `fee`, `notes`, `modificationCount`, `updatedAt`,
`operatorAlias`, and the status `WITHDRAWN` (PRODUCT §6). The fee is what the operator paid the
platform: it is shown to that operator and to admins, and absent (not null) for the booking's
shipper. The shipper sees the operator masked (PRODUCT §1): `operatorId` and `truckId` are
absent and `operatorAlias` is given instead (see `bids.service.operator_alias`); for operators
and admins `operatorAlias` is absent.

Notes are written once, with the bid, and are immutable: the PATCH body takes only `amount`
(as the contract says), so ACS RF16's check of the notes at creation is the only one needed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.bids.repo import BidRecord, BidStatus
from rodistaa.bookings.schemas import MAX_PRICE_RUPEES
from rodistaa.core.money import paise_to_rupees_number

MAX_NOTES_LENGTH = 500

BidRupees = Annotated[Decimal, Field(gt=0, le=MAX_PRICE_RUPEES, decimal_places=2, description="Rupees")]
IdText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
NotesText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_NOTES_LENGTH)]


class BidCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "bookingId": "RID-20240115-0001",
                    "amount": 16500,
                    "truckId": "TRK-MH12AB1234-01J9Z6Q4YB7T3K5N8W2X4C6V1D",
                    "notes": "Can load on the 20th; tarpaulin cover included",
                }
            ]
        },
    )

    bookingId: IdText
    amount: BidRupees
    truckId: IdText | None = Field(default=None, description="One of the operator's ACTIVE trucks")
    notes: NotesText | None = Field(
        default=None, description="For the shipper; contact details are refused (ACS RF16). Immutable."
    )


class BidModify(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": 16000}]})

    amount: BidRupees


class BidOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "BK-01J9Z7A2M4Q8R6T1V3X5Z7B9D2",
                    "bookingId": "RID-20240115-0001",
                    "operatorId": "USR-OP-01J9Z6R8K2M4P6Q8S0V2W4Y6A8",
                    "truckId": "TRK-MH12AB1234-01J9Z6Q4YB7T3K5N8W2X4C6V1D",
                    "amount": 16500,
                    "fee": 175,
                    "notes": "Can load on the 20th; tarpaulin cover included",
                    "status": "ACTIVE",
                    "modificationCount": 0,
                    "createdAt": "2024-01-15T11:00:00Z",
                    "updatedAt": "2024-01-15T11:00:00Z",
                }
            ]
        }
    )

    id: str
    bookingId: str
    operatorId: str | None = Field(default=None, description="Absent for the booking's shipper")
    truckId: str | None = Field(default=None, description="Absent for the booking's shipper")
    operatorAlias: str | None = Field(
        default=None,
        description="For the booking's shipper only: the masked bidder, stable within the booking",
    )
    amount: float
    fee: float | None = Field(
        default=None, description="Rupees; for the bidding operator and admins only (absent otherwise)"
    )
    notes: str | None
    status: BidStatus
    modificationCount: int
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def of(cls, bid: BidRecord, *, with_fee: bool, operator_alias: str | None = None) -> BidOut:
        """Routes drop unset fields: with `operator_alias` the operator's id and truck are not
        set at all (absent, not null); without it the alias is absent."""
        fields: dict[str, Any] = {
            "id": bid.id,
            "bookingId": bid.booking_id,
            "amount": paise_to_rupees_number(bid.amount_paise),
            "notes": bid.notes,
            "status": bid.status,
            "modificationCount": bid.modification_count,
            "createdAt": bid.created_at,
            "updatedAt": bid.updated_at,
        }
        if operator_alias is not None:
            fields["operatorAlias"] = operator_alias
        else:
            fields["operatorId"] = bid.operator_id
            fields["truckId"] = bid.truck_id
        if with_fee:
            fields["fee"] = paise_to_rupees_number(bid.fee_paise)
        return cls(**fields)
