"""`shipment` as the ACS context contract names it (`acs.contract._SHIPMENT`): money in paise,
times in epoch ms. Shared by every service that raises a shipment event (assign, start,
gps.ping, pod.uploaded, security.otp_attempt, shipment.complete, shipment.completed)."""

from __future__ import annotations

from typing import Any

from rodistaa.delivery.otp import OtpState
from rodistaa.fleet.facts import epoch_ms
from rodistaa.shipments.repo import ShipmentRecord


def shipment_names(
    shipment: ShipmentRecord,
    *,
    status: str | None = None,
    otp: OtpState | None = None,
    otp_valid: bool | None = None,
) -> dict[str, Any]:
    """`status` overrides the stored state (pass FROZEN when frozen). `otp_valid` is the
    service's verdict on the code just typed (None when no code was typed); the attempt count
    and the lock come from the stored OTP. `pickupAt` is the start of the trip, `dropAt` its
    completion (None until then)."""
    return {
        "id": shipment.id,
        "bookingId": shipment.booking_id,
        "status": status or shipment.status.value,
        "shipperId": shipment.shipper_id,
        "operatorId": shipment.operator_id,
        "driverId": shipment.driver_id,
        "truckId": shipment.truck_id,
        "agreedPrice": shipment.agreed_price_paise,
        "otpAttempts": otp.attempts if otp else 0,
        "otpValid": otp_valid,
        "otpLocked": otp.locked if otp else False,
        "pickupAt": epoch_ms(shipment.started_at),
        "dropAt": epoch_ms(shipment.completed_at),
        "timeWindow": {"start": epoch_ms(shipment.started_at), "end": epoch_ms(shipment.completed_at)},
        "startedAt": epoch_ms(shipment.started_at),
    }
