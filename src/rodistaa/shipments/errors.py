"""Typed errors of the shipments domain. A move the state machine refuses is
`status.IllegalTransition` (409 INVALID_STATE) and a frozen shipment `status.ShipmentFrozen`
(409 SHIPMENT_FROZEN); the errors here are the other refusals."""

from __future__ import annotations

from rodistaa.core.errors import AppError, Conflict, Forbidden, InvalidState, NotFound


class NotShipper(Forbidden):
    message = "Only the shipment's shipper may do this"


class NotOperator(Forbidden):
    message = "Only the shipment's operator may do this"


class NotAssignedDriver(Forbidden):
    message = "Only the shipment's assigned driver may do this"


class NotDriverOrOperator(Forbidden):
    message = "Only the shipment's assigned driver or its operator may do this"


class TruckNotEligible(AppError):
    status, code = 422, "TRUCK_NOT_ELIGIBLE"
    message = "The truck must be one of the operator's own ACTIVE trucks"


class DriverNotEligible(AppError):
    status, code = 422, "DRIVER_NOT_ELIGIBLE"
    message = "The driver must be an active driver of the operator's fleet"


class DriverBusy(Conflict):
    code = "DRIVER_BUSY"
    message = "The driver already has another active shipment"


class NotEnRoute(InvalidState):
    message = "Only a shipment that is IN_TRANSIT or OTP_PENDING allows this"


class NotInTransit(InvalidState):
    message = "Only a shipment that is IN_TRANSIT allows this"


class BreakdownAlreadyReported(Conflict):
    code = "BREAKDOWN_ALREADY_REPORTED"
    message = "A breakdown is already reported for this shipment; assign an alternate truck"


class NoBreakdownReported(Conflict):
    code = "NO_BREAKDOWN_REPORTED"
    message = "An alternate truck can only be assigned after a breakdown is reported"


class ShipmentFinal(InvalidState):
    message = "The shipment is COMPLETED, CANCELLED or FAILED"


class NotFrozen(Conflict):
    code = "NOT_FROZEN"
    message = "The shipment is not frozen"


class FreezeNeedsOverride(Conflict):
    """Only ACS freezes (or shipment blocks) hold the shipment: lifting one is an override that
    another admin approves (PRODUCT §8). `details.reasons` names what holds it."""

    code = "FREEZE_NEEDS_OVERRIDE"
    message = "Only ACS freezes or blocks hold this shipment; lifting them needs an approved override"


class OtpNotIssued(NotFound):
    code = "OTP_NOT_ISSUED"
    message = "No delivery OTP has been issued for this shipment yet (it is issued at the start)"
