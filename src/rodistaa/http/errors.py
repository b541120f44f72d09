"""Every error leaves the service as `{code, message, details?}`: business errors, framework
validation (400, never FastAPI's 422 shape), unknown routes, wrong methods and crashes (500 with
the request id and nothing internal)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
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
    code: str
    message: str
    details: dict[str, Any] | None = None


# Declared on every route so the published OpenAPI document shows the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Invalid request (VALIDATION_ERROR with the fields named)",
        401: "Missing or invalid authentication",
        403: "Authenticated but not allowed",
        404: "Not found, or not visible to the caller",
        409: "Conflicts with the current state",
        429: "Rate limit exceeded (Retry-After)",
    }.items()
}


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
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


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
