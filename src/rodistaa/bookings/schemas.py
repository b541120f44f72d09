"""API models of bookings (contract: `Booking`, `BookingCreateRequest`, `Location`, `GoodsInfo`,
`PriceRange`, `PaginatedBookings`). Money is rupees here and integer paise everywhere else.

An operator never sees the expected price (PRODUCT §1): `BookingOut.of` leaves `expectedPrice`
unset for them and the routes drop unset fields, so the key is absent rather than null.
Bookings carry no phone numbers.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator
from pydantic.config import JsonDict

from rodistaa.bookings.repo import BookingRecord, BookingStatus, Place
from rodistaa.core.money import paise_to_rupees_number
from rodistaa.franchises.schemas import Point

# No road vehicle on the platform carries more (trucks are registered with at most 100 t).
MAX_TONNAGE = Decimal(100)
# Ten crore rupees: far above any single haul, and far inside BIGINT paise and exact JSON.
MAX_PRICE_RUPEES = Decimal(100_000_000)
# bookings.goods_weight is NUMERIC(10, 2).
MAX_GOODS_WEIGHT = Decimal("99999999.99")


Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
PlaceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
GoodsText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
CancelReasonText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)]
# India Post PIN codes are six digits and never start with 0.
Pincode = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{5}$"), Field(examples=["400001"])]
Rupees = Annotated[Decimal, Field(gt=0, le=MAX_PRICE_RUPEES, decimal_places=2)]

# The contract's example trip, shared by the request and response examples below.
PICKUP_EXAMPLE: JsonDict = {
    "address": "123 Main Street",
    "city": "Mumbai",
    "state": "Maharashtra",
    "pincode": "400001",
    "coordinates": {"lat": 19.076, "lng": 72.8777},
}
DROP_EXAMPLE: JsonDict = {
    "address": "456 Park Avenue",
    "city": "Delhi",
    "state": "Delhi",
    "pincode": "110001",
    "coordinates": {"lat": 28.6139, "lng": 77.209},
}
GOODS_EXAMPLE: JsonDict = {"type": "Cement", "weight": 5000, "packaging": "Bags"}
BOOKING_CREATE_EXAMPLE: JsonDict = {
    "pickup": PICKUP_EXAMPLE,
    "drop": DROP_EXAMPLE,
    "goods": GOODS_EXAMPLE,
    "tonnage": 5.0,
    "priceRange": {"min": 15000, "max": 20000},
}
BOOKING_EXAMPLE: JsonDict = {
    "id": "RID-20240115-0001",
    "shipperId": "USR-SH-01J9Z6Q4YB7T3K5N8W2X4C6V1D",
    "pickup": PICKUP_EXAMPLE,
    "drop": DROP_EXAMPLE,
    "goods": GOODS_EXAMPLE,
    "tonnage": 5.0,
    "distanceKm": 1148.12,
    "expectedPrice": 17500,
    "priceRange": {"min": 15000, "max": 20000},
    "pickupDate": "2024-01-20",
    "status": "OPEN",
    "autoFinalizeAt": "2024-01-16T10:30:00Z",
    "finalizedAt": None,
    "cancelReason": None,
    "cancelledBy": None,
    "createdAt": "2024-01-15T10:30:00Z",
    "updatedAt": "2024-01-15T10:30:00Z",
}


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [PICKUP_EXAMPLE]})

    address: Address
    city: PlaceName
    state: PlaceName
    pincode: Pincode
    coordinates: Point

    @classmethod
    def of(cls, place: Place) -> Location:
        return cls(
            address=place.address,
            city=place.city,
            state=place.state,
            pincode=place.pincode,
            coordinates=Point(lat=place.lat, lng=place.lng),
        )

    def to_place(self) -> Place:
        return Place(
            address=self.address,
            city=self.city,
            state=self.state,
            pincode=self.pincode,
            lat=self.coordinates.lat,
            lng=self.coordinates.lng,
        )


class GoodsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: GoodsText
    weight: Decimal | None = Field(
        default=None, gt=0, le=MAX_GOODS_WEIGHT, decimal_places=2, description="Declared weight (kg)"
    )
    packaging: GoodsText | None = None


class PriceRangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: Rupees
    max: Rupees

    @field_validator("max")
    @classmethod
    def _not_below_min(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        low = info.data.get("min")
        if low is not None and value < low:
            raise ValueError("must not be less than min")
        return value


class BookingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [BOOKING_CREATE_EXAMPLE]})

    pickup: Location
    drop: Location
    goods: GoodsIn
    tonnage: Decimal = Field(ge=Decimal("0.1"), le=MAX_TONNAGE, decimal_places=2)
    priceRange: PriceRangeIn | None = Field(
        default=None, description="Rupees; defaults to the estimator's proposal (expected price ±10 %)"
    )
    pickupDate: date | None = Field(
        default=None, description="A date in India (IST): not before today, at most 365 days ahead"
    )


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "Plans changed"}]})

    reason: CancelReasonText | None = Field(
        default=None, description="Optional for the shipper; an admin must give one"
    )


class GoodsOut(BaseModel):
    """`weight` and `packaging` are absent when the shipper gave none (the contract types them as
    a number and a string, so they are never null)."""

    type: str
    weight: float | None = None
    packaging: str | None = None

    @classmethod
    def of(cls, booking: BookingRecord) -> GoodsOut:
        declared: dict[str, Any] = {"type": booking.goods_type}
        if booking.goods_weight is not None:
            declared["weight"] = float(booking.goods_weight)
        if booking.goods_packaging is not None:
            declared["packaging"] = booking.goods_packaging
        return cls(**declared)


class PriceRangeOut(BaseModel):
    min: float
    max: float


class BookingOut(BaseModel):
    """The contract's Booking plus the fields the flow needs (distance, range, dates)."""

    model_config = ConfigDict(json_schema_extra={"examples": [BOOKING_EXAMPLE]})

    id: str
    shipperId: str
    pickup: Location
    drop: Location
    goods: GoodsOut
    tonnage: float
    distanceKm: float
    expectedPrice: float | None = Field(
        default=None, description="Rupees; only for the booking's shipper and admins (absent otherwise)"
    )
    priceRange: PriceRangeOut
    pickupDate: date | None
    status: BookingStatus
    autoFinalizeAt: datetime
    finalizedAt: datetime | None
    cancelReason: str | None
    cancelledBy: str | None
    finalizeReason: str | None = Field(
        default=None, description="Why an admin finalized by hand; shown to admins only, when there is one"
    )
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def of(cls, booking: BookingRecord, *, with_expected_price: bool, for_admin: bool = False) -> BookingOut:
        fields: dict[str, Any] = {
            "id": booking.id,
            "shipperId": booking.shipper_id,
            "pickup": Location.of(booking.pickup),
            "drop": Location.of(booking.drop),
            "goods": GoodsOut.of(booking),
            "tonnage": float(booking.tonnage),
            "distanceKm": float(booking.distance_km),
            "priceRange": PriceRangeOut(
                min=paise_to_rupees_number(booking.price_min_paise),
                max=paise_to_rupees_number(booking.price_max_paise),
            ),
            "pickupDate": booking.pickup_date,
            "status": booking.status,
            "autoFinalizeAt": booking.auto_finalize_at,
            "finalizedAt": booking.finalized_at,
            "cancelReason": booking.cancel_reason,
            "cancelledBy": booking.cancelled_by,
            "createdAt": booking.created_at,
            "updatedAt": booking.updated_at,
        }
        if with_expected_price:
            fields["expectedPrice"] = paise_to_rupees_number(booking.expected_price_paise)
        if for_admin and booking.finalize_reason is not None:
            fields["finalizeReason"] = booking.finalize_reason
        return cls(**fields)
