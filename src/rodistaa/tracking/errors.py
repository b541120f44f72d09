"""Typed errors of the tracking domain."""

from __future__ import annotations

from rodistaa.core.errors import Conflict, InvalidState, NotFound


class ShipmentNotEnRoute(InvalidState):
    message = "Pings are accepted only while the shipment is IN_TRANSIT or OTP_PENDING"


class NoPosition(NotFound):
    code = "NO_POSITION"
    message = "No position has been received for this shipment yet"


class AlertAlreadyAcknowledged(Conflict):
    code = "ALREADY_ACKNOWLEDGED"
    message = "The alert was already acknowledged"
