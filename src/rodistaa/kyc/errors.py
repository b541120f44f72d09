from __future__ import annotations

from rodistaa.core.errors import AppError, InvalidState


class DocumentAlreadyReviewed(InvalidState):
    message = "The document is no longer pending review"


class DataErased(AppError):
    """The owner's data key was destroyed (erasure): the document can never be read again."""

    status, code, message = 410, "DATA_ERASED", "The document's data has been erased"
