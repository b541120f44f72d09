"""Every error leaves the service as `{code, message, details?}`: business errors, framework
validation (400, never FastAPI's 422 shape), unknown routes, wrong methods and crashes (500 with
the request id and nothing internal)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from rodistaa.core.errors import AppError
from rodistaa.http.context import current_request_id
from rodistaa.http.responses import JsonResponse
from rodistaa.storage.base import StorageError

log = structlog.get_logger("rodistaa.http")

_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT_EXCEEDED",
}


class ErrorBody(BaseModel):
    """Every error the service answers: a stable machine `code`, a human `message`, and
    `details` where there is more to say (the fields of a validation error, a request id)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"code": "NOT_FOUND", "message": "Resource not found"}]}
    )

    code: str
    message: str
    details: dict[str, Any] | None = None


# Marks the blanket error responses below in the generated document, where the document builder
# (`http/openapi.py`) keeps only those that apply to the route (a public route has no 401, a route
# without path ids no 404). A response a route declares with its own entry is kept as declared.
STANDARD_ERROR_MARK = "x-rodistaa-standard-error"

# Declared on every route; narrowed per route by the document builder (see above).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description, STANDARD_ERROR_MARK: True}
    for status, description in {
        400: "Invalid request (VALIDATION_ERROR with the fields named)",
        401: "Missing or invalid authentication",
        403: "Authenticated but not allowed (role, key scope or an ACS rule)",
        404: "Not found, or not visible to the caller",
        409: "Conflicts with the current state, or an Idempotency-Key reused with another body",
        413: "The request body is larger than the route accepts",
        429: "Rate limit exceeded (Retry-After)",
        500: "Unexpected error (INTERNAL_ERROR; details carry the request id)",
    }.items()
}


def documented_error(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    """An error response a route declares itself, beyond what the document builder infers: a
    public route's 401, a 404 for an id in the body, a business 422. Lead the description with
    the error code (`"BID_OUT_OF_RANGE: ..."`): the document's example uses it."""
    return {status: {"model": ErrorBody, "description": description}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JsonResponse(body, status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "pickup", "coordinates", "lat") -> "pickup.coordinates.lat"; keep the location
    # for query/path/header parameters so the client knows where to look.
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_details(errors: list[dict[str, Any]]) -> dict[str, Any]:
    fields = [
        {"field": _field_name(tuple(err.get("loc", ()))), "error": str(err.get("msg", "invalid"))}
        for err in errors
    ]
    # `field`/`error` of the first problem keep the contract's example shape; `fields` has all.
    first = fields[0] if fields else {"field": "body", "error": "invalid"}
    return {"field": first["field"], "error": first["error"], "fields": fields}


async def _app_error(_request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, RequestValidationError)
    # Pydantic's messages can embed the offending input; `msg` never does, so only it is used.
    return error_response(
        400, "VALIDATION_ERROR", "Invalid request data", validation_details(list(exc.errors()))
    )


async def _http_error(_request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
    message = {
        404: "Resource not found",
        405: "Method not allowed",
    }.get(exc.status_code, str(exc.detail) if isinstance(exc.detail, str) else "Request failed")
    details = getattr(exc, "details", None)  # set by the few HTTPExceptions of our own
    return error_response(exc.status_code, code, message, details, headers=getattr(exc, "headers", None))


async def _storage_error(_request: Request, exc: Exception) -> JsonResponse:
    # A storage outage (or a file missing behind a record) is the service's fault, not the
    # client's, and retrying later may succeed: 503, never an opaque 500.
    log.error("storage_unavailable", error=type(exc).__name__, request_id=current_request_id())
    return error_response(503, "STORAGE_UNAVAILABLE", "File storage is unavailable; try again later")


async def _unhandled_error(_request: Request, exc: Exception) -> JsonResponse:
    request_id = current_request_id()
    log.error("unhandled_error", exc_info=exc, request_id=request_id)
    return error_response(
        500,
        "INTERNAL_ERROR",
        "An unexpected error occurred",
        {"requestId": request_id},
        headers={"X-Request-ID": request_id} if request_id else None,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(Exception, _unhandled_error)
