"""Typed errors of the bookings domain."""

from __future__ import annotations

from rodistaa.core.errors import Forbidden, InvalidState


class BookingNotCancellable(InvalidState):
    message = "Only a booking that is OPEN or in NEGOTIATION can be cancelled"


class CancelNotAllowed(Forbidden):
    message = "Only the booking's shipper or an admin may cancel it"
