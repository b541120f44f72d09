"""Typed errors of idempotent requests (`Idempotency-Key`)."""

from __future__ import annotations

from rodistaa.core.errors import Conflict, ValidationFailed

KEY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class InvalidIdempotencyKey(ValidationFailed):
    """The header is empty, longer than 255 characters, not printable ASCII, or repeated."""

    def __init__(self) -> None:
        error = f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, sent once"
        field = f"header.{KEY_HEADER}"
        problem = {"field": field, "error": error}
        super().__init__(details={**problem, "fields": [problem]})


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was already used for a different request"


class IdempotencyKeyInUse(Conflict):
    code = "IDEMPOTENCY_KEY_IN_USE"
    message = "A request with this Idempotency-Key is still being processed; retry shortly"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})
