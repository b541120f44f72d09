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
from pydantic.config import JsonDict

from rodistaa.bookings.schemas import DROP_EXAMPLE, PICKUP_EXAMPLE, Location
from rodistaa.core.money import paise_to_rupees_number
from rodistaa.shipments.repo import ShipmentRecord
from rodistaa.shipments.status import FROZEN, ShipmentStatus

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# Free text shown to people (and stored in 256-character columns), never written to the audit.
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class AssignRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "driverId": "USR-DR-01J9Z8C4E6G8J0K2M4N6P8R0S2",
                    "truckId": "TRK-MH12AB1234-01J9Z6Q4YB7T3K5N8W2X4C6V1D",
                }
            ]
        },
    )

    driverId: Id
    truckId: Id


class RejectDriverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = Field(default=None, description="Optional; passed on to the operator")


class BreakdownRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Clutch failed near Vadodara"}]}
    )

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


SHIPMENT_EXAMPLE: JsonDict = {
    "id": "SH-01J9Z9D5F7H9K1M3P5R7T9V1X3",
    "bookingId": "RID-20240115-0001",
    "status": "IN_TRANSIT",
    "workflowStatus": "IN_TRANSIT",
    "frozenReason": None,
    "shipperId": "USR-SH-01J9Z6Q4YB7T3K5N8W2X4C6V1D",
    "operatorId": "USR-OP-01J9Z6R8K2M4P6Q8S0V2W4Y6A8",
    "driverId": "USR-DR-01J9Z8C4E6G8J0K2M4N6P8R0S2",
    "truckId": "TRK-MH12AB1234-01J9Z6Q4YB7T3K5N8W2X4C6V1D",
    "agreedPrice": 16500,
    "pickup": PICKUP_EXAMPLE,
    "drop": DROP_EXAMPLE,
    "goods": {"type": "Cement"},
    "tonnage": 5.0,
    "distanceKm": 1148.12,
    "breakdown": None,
    "otpIssued": True,
    "driverApprovedAt": "2024-01-16T09:00:00Z",
    "startedAt": "2024-01-16T11:15:00Z",
    "completedAt": None,
    "cancelledAt": None,
    "cancelReason": None,
    "cancelledBy": None,
    "createdAt": "2024-01-16T08:00:00Z",
    "updatedAt": "2024-01-16T11:15:00Z",
}


class BreakdownOut(BaseModel):
    reason: str
    reportedAt: datetime


class ShipmentOut(BaseModel):
    """The contract's Shipment plus the trip, the parties and the freeze."""

    model_config = ConfigDict(json_schema_extra={"examples": [SHIPMENT_EXAMPLE]})

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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "otp": "482913",
                    "issuedAt": "2024-01-16T11:15:00Z",
                    "expiresAt": "2024-01-19T11:15:00Z",
                    "attempts": 0,
                    "locked": False,
                    "consumed": False,
                }
            ]
        }
    )

    otp: str
    issuedAt: datetime
    expiresAt: datetime
    attempts: int
    locked: bool
    consumed: bool
