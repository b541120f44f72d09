"""Typed business errors. Each carries its HTTP status so one handler renders them all as
`{code, message, details?}`; an expected business outcome is never a 500."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status: int = 400
    code: str = "BAD_REQUEST"
    message: str = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details
        self.headers = headers
        super().__init__(self.message)


class ValidationFailed(AppError):
    status, code, message = 400, "VALIDATION_ERROR", "Invalid request data"

    @classmethod
    def for_field(cls, field: str, error: str) -> ValidationFailed:
        return cls(details={"field": field, "error": error, "fields": [{"field": field, "error": error}]})


class Unauthorized(AppError):
    status, code, message = 401, "UNAUTHORIZED", "Invalid or missing authentication token"


class Forbidden(AppError):
    status, code, message = 403, "FORBIDDEN", "Insufficient permissions"


class NotFound(AppError):
    status, code, message = 404, "NOT_FOUND", "Resource not found"


class Conflict(AppError):
    status, code, message = 409, "CONFLICT", "The request conflicts with the current state"


class InvalidState(AppError):
    status, code, message = 409, "INVALID_STATE", "The resource is not in a state that allows this"


class RateLimited(AppError):
    status, code, message = 429, "RATE_LIMIT_EXCEEDED", "Too many requests; try again later"


class ServiceUnavailable(AppError):
    status, code, message = 503, "SERVICE_UNAVAILABLE", "A dependency is unavailable; try again"
