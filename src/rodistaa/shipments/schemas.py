"""API models of shipments (contract: `Shipment`, `PaginatedShipments`, the assign request).

`status` is what the parties should act on: FROZEN while a freeze or shipment block is active,
else the stored state; `workflowStatus` is always the stored state, the one a lifted freeze
shows again. `frozenReason` says why, to admins only: for the parties it is null (an ACS code
like GPS_SPOOF would tip off a suspect; the service decides, `ShipmentView.frozen_reason`).
Money is rupees. The delivery OTP never appears here: only `GET /shipments/{id}/otp` shows
it, to the shipper (`OtpOut`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.bookings.schemas import Location
from rodistaa.core.money import paise_to_rupees_number
from rodistaa.shipments.repo import ShipmentRecord
from rodistaa.shipments.status import FROZEN, ShipmentStatus

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# Free text shown to people (and stored in 256-character columns), never written to the audit.
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    driverId: Id
    truckId: Id


class RejectDriverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = Field(default=None, description="Optional; passed on to the operator")


class BreakdownRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class AlternateTruckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    truckId: Id
    driverId: Id | None = Field(
        default=None, description="A new driver needs the shipper's approval; omitted: same driver"
    )


class AdminReasonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class GoodsOut(BaseModel):
    type: str


class BreakdownOut(BaseModel):
    reason: str
    reportedAt: datetime


class ShipmentOut(BaseModel):
    """The contract's Shipment plus the trip, the parties and the freeze."""

    id: str
    bookingId: str
    status: str = Field(description="FROZEN while frozen, else the stored state (workflowStatus)")
    workflowStatus: ShipmentStatus
    frozenReason: str | None = Field(description="Why it is FROZEN; admins only, null for the parties")
    shipperId: str
    operatorId: str
    driverId: str | None
    truckId: str | None
    agreedPrice: float = Field(description="Rupees")
    pickup: Location
    drop: Location
    goods: GoodsOut
    tonnage: float
    distanceKm: float
    breakdown: BreakdownOut | None
    otpIssued: bool
    driverApprovedAt: datetime | None
    startedAt: datetime | None
    completedAt: datetime | None
    cancelledAt: datetime | None
    cancelReason: str | None
    cancelledBy: str | None
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def of(
        cls, shipment: ShipmentRecord, *, frozen: bool, frozen_reason: str | None, otp_issued: bool
    ) -> ShipmentOut:
        breakdown = None
        if shipment.breakdown_reason is not None and shipment.breakdown_reported_at is not None:
            breakdown = BreakdownOut(
                reason=shipment.breakdown_reason, reportedAt=shipment.breakdown_reported_at
            )
        return cls(
            id=shipment.id,
            bookingId=shipment.booking_id,
            status=FROZEN if frozen else shipment.status.value,
            workflowStatus=shipment.status,
            frozenReason=frozen_reason,
            shipperId=shipment.shipper_id,
            operatorId=shipment.operator_id,
            driverId=shipment.driver_id,
            truckId=shipment.truck_id,
            agreedPrice=paise_to_rupees_number(shipment.agreed_price_paise),
            pickup=Location.of(shipment.pickup),
            drop=Location.of(shipment.drop),
            goods=GoodsOut(type=shipment.goods_type),
            tonnage=float(shipment.tonnage),
            distanceKm=float(shipment.distance_km),
            breakdown=breakdown,
            otpIssued=otp_issued,
            driverApprovedAt=shipment.driver_approved_at,
            startedAt=shipment.started_at,
            completedAt=shipment.completed_at,
            cancelledAt=shipment.cancelled_at,
            cancelReason=shipment.cancel_reason,
            cancelledBy=shipment.cancelled_by,
            createdAt=shipment.created_at,
            updatedAt=shipment.updated_at,
        )


class OtpOut(BaseModel):
    """The delivery OTP, for the shipper only (served with `Cache-Control: no-store`)."""

    otp: str
    issuedAt: datetime
    expiresAt: datetime
    attempts: int
    locked: bool
    consumed: bool
