"""Typed errors of the inspections domain."""

from __future__ import annotations

from rodistaa.core.errors import Conflict, InvalidState, NotFound


class TruckNotInZone(NotFound):
    """The truck does not exist or is not in the caller's unit: staff cannot tell the two apart."""

    message = "Truck not found in your franchise unit"

    def __init__(self) -> None:
        super().__init__(details={"field": "truckId", "error": "no such truck in your franchise unit"})


class TruckRetired(InvalidState):
    message = "The truck is inactive and cannot be inspected"


class InspectionNotPending(InvalidState):
    message = "The inspection has already been submitted"


class PhotosRequired(InvalidState):
    code, message = "INSPECTION_PHOTOS_REQUIRED", "Upload at least one photo before submitting"


class InspectionChanged(Conflict):
    """Photos arrived between the ACS evaluation and the result: the evaluated set is stale."""

    message = "The inspection's photos changed while it was being submitted; submit again"
