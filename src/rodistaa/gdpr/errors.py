"""Typed errors of the GDPR domain (export and erasure). Messages never name the person."""

from __future__ import annotations

from rodistaa.core.errors import Forbidden, InvalidState, NotFound


class UserNotFound(NotFound):
    message = "User not found"


class SelfErasure(Forbidden):
    """Erasure is irreversible: an admin's own account is erased by another admin."""

    code, message = "SELF_ERASURE", "An admin cannot erase their own account; ask another admin"


class AlreadyErased(InvalidState):
    code, message = "ALREADY_ERASED", "The user's personal data was already erased"


class ErasureBlocked(InvalidState):
    """The person is still party to open business (details count what): erasing now would
    strand the other party of a live booking, bid or trip."""

    code = "ERASURE_BLOCKED"
    message = "The user has open bookings, active bids or unfinished shipments; settle them first"
