"""Typed errors of the fleet domain."""

from __future__ import annotations

from rodistaa.core.errors import AppError, Conflict, Forbidden, InvalidState


class RegistrationTaken(Conflict):
    code, message = "REGISTRATION_TAKEN", "A truck with this registration number is already registered"


class MaxTrucksExceeded(Forbidden):
    """The service's own backstop for ACS rule RF12 (same code), enforced under a lock."""

    code, message = "MAX_TRUCKS_EXCEEDED", "Operator truck limit exceeded"


class TruckBlocked(InvalidState):
    message = "The truck is blocked; only an override can change it"


class TruckRetired(InvalidState):
    message = "The truck is retired (INACTIVE)"


class DocumentErased(AppError):
    """The owner's data key was destroyed (erasure): the file can no longer be decrypted."""

    status, code, message = 410, "DOCUMENT_ERASED", "The document's owner data was erased"


class DocumentFileUnavailable(AppError):
    status, code, message = 503, "FILE_UNAVAILABLE", "The stored file is unavailable; try again later"
