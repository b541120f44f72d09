"""The published OpenAPI document (`/v1/openapi.json`).

FastAPI generates the operations from the routes; `build_document` completes each one from facts
about its route, so the decorators need not repeat what the route already says:

* **Security.** An operation whose route authenticates a session (depends on `current_actor`,
  directly or through a role alias) requires `bearerAuth`. Routes open to partner keys
  (`require_access`) carry FastAPI's `partnerApiKey` requirement; they take a bearer session
  too, so `bearerAuth` is added as the alternative.
* **Error responses**, all `ErrorBody` (`{code, message, details?}`) with an example: 400 when the
  operation takes any input, 401/403/429 when it is authenticated (the per-user budget), 404 when
  its path names a resource, 409 when it is authenticated and changes state (conflicts, a reused
  `Idempotency-Key`), 413 when it takes a body, 500 always. The blanket `ERROR_RESPONSES`
  entries (marked `STANDARD_ERROR_MARK`) are narrowed to those facts; a response a route declares
  itself (`documented_error`) is kept as declared, so a route can say more (a public login
  route's 401 and 429, a 404 for an id in the body, an upload's 410).
* FastAPI's 422 `HTTPValidationError` is dropped: validation errors are 400 `VALIDATION_ERROR`.
* **Idempotency.** Credentialed POSTs under `/v1` (not `/v1/auth/*`) document the optional
  `Idempotency-Key` header (the idempotency middleware reads it).
* **Examples.** Every JSON or form body and every JSON success response has an `example`: a
  schema's hand-written example (pydantic `json_schema_extra` / `Field(examples=...)`) when there
  is one, otherwise one generated from the schema here. File downloads (PDF and image bytes)
  have none: bytes make no useful example.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from rodistaa.core import errors as core_errors
from rodistaa.core.errors import AppError
from rodistaa.http.auth import current_actor
from rodistaa.http.errors import ERROR_RESPONSES, STANDARD_ERROR_MARK, ErrorBody

BEARER_SCHEME = "bearerAuth"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The access token from `POST /v1/auth/login` or `/v1/auth/refresh`",
    },
}
IDEMPOTENCY_HEADER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the POST safe to retry for 24 h: a repeat with the same key and body "
    "answers the first response (`Idempotent-Replayed: true`) without repeating its effect; the "
    "same key with a different body is 409 `IDEMPOTENCY_KEY_REUSED`.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "example": "3f2c9a1e-bid-retry-01",
}
_STATE_CHANGING = frozenset({"post", "put", "patch", "delete"})
_JSON = "application/json"
_ERROR_SCHEMA_REF = f"#/components/schemas/{ErrorBody.__name__}"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_LEADING_CODE = re.compile(r"^([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{4,})\b")

STANDARD_STATUSES = frozenset(int(status) for status in ERROR_RESPONSES)


def _example_of(error: type[AppError]) -> dict[str, Any]:
    return {"code": error.code, "message": error.message}


_VALIDATION_PROBLEM = {"field": "pickup.coordinates.lat", "error": "Input should be less than or equal to 90"}
_STANDARD_EXAMPLES: dict[int, dict[str, Any]] = {
    400: {
        **_example_of(core_errors.ValidationFailed),
        "details": {**_VALIDATION_PROBLEM, "fields": [_VALIDATION_PROBLEM]},
    },
    401: _example_of(core_errors.Unauthorized),
    403: _example_of(core_errors.Forbidden),
    404: _example_of(core_errors.NotFound),
    409: _example_of(core_errors.InvalidState),
    413: {"code": "PAYLOAD_TOO_LARGE", "message": "The request body is too large"},
    429: _example_of(core_errors.RateLimited),
    500: {
        "code": "INTERNAL_ERROR",
        "message": "An unexpected error occurred",
        "details": {"requestId": "01J9Z6Q4YB7T3K5N8W2X4C6V1D"},
    },
}
_RATE_LIMIT_HEADERS: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds until the budget allows a request",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Limit": {"description": "Requests allowed in the window", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in the window", "schema": {"type": "integer"}},
}


@dataclass(frozen=True)
class RouteFacts:
    """What the document can learn about an operation from its route and generated entry."""

    authenticated: bool
    takes_input: bool
    has_path_ids: bool
    has_body: bool
    changes_state: bool

    def error_statuses(self) -> set[int]:
        statuses = {500}
        if self.takes_input:
            statuses.add(400)
        if self.authenticated:
            statuses |= {401, 403, 429}
        if self.has_path_ids:
            statuses.add(404)
        if self.changes_state and self.authenticated:
            statuses.add(409)
        if self.has_body:
            statuses.add(413)
        return statuses


def install_openapi(app: FastAPI) -> None:
    """Serve `build_document(app)` as the app's document, built once on first use (tests that
    add routes reset `app.openapi_schema`)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description or None,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers or None,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    _restore_dropped_nulls(components)
    for method, path, operation, dependant in _operations(app, document):
        _complete_security(operation, dependant)
        _document_idempotency(method, path, operation)
        _complete_errors(operation, _facts(method, operation))
        _complete_examples(operation, components)
    _drop_unused_validation_schemas(document)
    return document


def _operations(
    app: FastAPI, document: dict[str, Any]
) -> Iterator[tuple[str, str, dict[str, Any], Dependant]]:
    """(method, path, generated operation, the route's dependency tree) of every documented
    route, through included routers."""
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        path = str(route.path_format)
        dependant: Dependant = route.dependant
        for method in sorted(route.methods or ()):
            operation = paths.get(path, {}).get(method.lower())
            if operation is not None:
                yield method.lower(), path, operation, dependant


def _authenticates_session(dependant: Dependant) -> bool:
    if dependant.call is current_actor:
        return True
    return any(_authenticates_session(sub) for sub in dependant.dependencies)


def _complete_security(operation: dict[str, Any], dependant: Dependant) -> None:
    requirements: list[dict[str, list[str]]] = list(operation.get("security", []))
    if not requirements and not _authenticates_session(dependant):
        return
    bearer: dict[str, list[str]] = {BEARER_SCHEME: []}
    if bearer not in requirements:
        requirements.insert(0, bearer)
    operation["security"] = requirements


def _document_idempotency(method: str, path: str, operation: dict[str, Any]) -> None:
    # Mirrors `idempotency.middleware._applies`: credentialed POSTs under /v1 but not /v1/auth/.
    if method != "post" or not operation.get("security") or not path.startswith("/v1/"):
        return
    if path.startswith("/v1/auth/"):
        return
    parameters = operation.setdefault("parameters", [])
    if not any(
        p.get("in") == "header" and p.get("name", "").lower() == "idempotency-key" for p in parameters
    ):
        parameters.append(dict(IDEMPOTENCY_HEADER))


def _facts(method: str, operation: dict[str, Any]) -> RouteFacts:
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    return RouteFacts(
        authenticated=bool(operation.get("security")),
        takes_input=has_body or bool(parameters),
        has_path_ids=any(p.get("in") == "path" for p in parameters),
        has_body=has_body,
        changes_state=method in _STATE_CHANGING,
    )


def _complete_errors(operation: dict[str, Any], facts: RouteFacts) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    _drop_framework_validation_error(responses)
    applicable = facts.error_statuses()
    for key, response in list(responses.items()):
        blanket = isinstance(response, dict) and response.pop(STANDARD_ERROR_MARK, False)
        if blanket and key.isdigit() and int(key) in STANDARD_STATUSES and int(key) not in applicable:
            del responses[key]
    for status in sorted(applicable):
        responses.setdefault(str(status), {"description": ERROR_RESPONSES[status]["description"]})
    for key, response in responses.items():
        if key.isdigit() and int(key) >= 400:
            _complete_error_response(int(key), response)
    operation["responses"] = dict(sorted(responses.items()))


def _drop_framework_validation_error(responses: dict[str, Any]) -> None:
    schema_ref = responses.get("422", {}).get("content", {}).get(_JSON, {}).get("schema", {}).get("$ref", "")
    if schema_ref.endswith("/HTTPValidationError"):
        del responses["422"]


def _complete_error_response(status: int, response: dict[str, Any]) -> None:
    media = response.setdefault("content", {}).setdefault(_JSON, {})
    media.setdefault("schema", {"$ref": _ERROR_SCHEMA_REF})
    media.setdefault("example", error_example(status, response.get("description", "")))
    if status == 429:
        response.setdefault("headers", {}).update(_RATE_LIMIT_HEADERS)


def error_example(status: int, description: str) -> dict[str, Any]:
    """A realistic error body: the code a route names first in its description (`OTP_REQUIRED
    (...)`) with that error's message (or the rest of the description for a code no business
    error carries), else the usual error of the status, else the first business error carrying
    that status."""
    known = _business_errors()
    match = _LEADING_CODE.match(description)
    if match and match.group(1) in known:
        return _example_of(known[match.group(1)])
    if match:
        rest = description[match.end() :].lstrip(" :,").strip()
        return {"code": match.group(1), "message": rest[:1].upper() + rest[1:] or match.group(1)}
    if status in _STANDARD_EXAMPLES:
        return dict(_STANDARD_EXAMPLES[status])
    with_status = sorted(code for code, error in known.items() if error.status == status)
    if with_status:
        return _example_of(known[with_status[0]])
    return {"code": f"HTTP_{status}", "message": description or "Request failed"}


def _business_errors() -> dict[str, type[AppError]]:
    """Every business error by code (the domain modules are imported by the routers by the time
    a document is built); the first class found for a code stands for it."""
    found: dict[str, type[AppError]] = {}
    pending: list[type[AppError]] = [AppError]
    while pending:
        error = pending.pop(0)
        pending.extend(error.__subclasses__())
        found.setdefault(error.code, error)
    return found


def _restore_dropped_nulls(components: dict[str, Any]) -> None:
    """FastAPI encodes the whole document without nulls, hand-written examples included: a
    required field whose example value is null is put back, or the example would be invalid."""
    for schema in components.get("schemas", {}).values():
        for example in schema.get("examples", []):
            _restore_nulls(example, schema, components, depth=0)


def _restore_nulls(value: Any, schema: dict[str, Any], components: dict[str, Any], *, depth: int) -> None:
    if depth > 12:
        return
    if "$ref" in schema:
        schema = _resolve(schema["$ref"], components)
    for option in schema.get("anyOf", []) + schema.get("allOf", []):
        _restore_nulls(value, option, components, depth=depth + 1)
    if isinstance(value, list):
        for item in value:
            _restore_nulls(item, schema.get("items", {}), components, depth=depth + 1)
    if not isinstance(value, dict) or "properties" not in schema:
        return
    for name, sub in schema["properties"].items():
        if name in value:
            _restore_nulls(value[name], sub, components, depth=depth + 1)
        elif name in schema.get("required", ()) and _allows_null(sub, components):
            value[name] = None


def _allows_null(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    if "$ref" in schema:
        schema = _resolve(schema["$ref"], components)
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(option, components) for option in schema.get("anyOf", []))


def _complete_examples(operation: dict[str, Any], components: dict[str, Any]) -> None:
    body = operation.get("requestBody", {})
    for media in body.get("content", {}).values():
        _set_example(media, components)
    for status, response in operation.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        for media_type, media in response.get("content", {}).items():
            if media_type == _JSON or media_type.endswith("+json"):
                _set_example(media, components)
            elif "schema" not in media:
                media["schema"] = {"type": "string", "format": "binary"}


def _set_example(media: dict[str, Any], components: dict[str, Any]) -> None:
    if "example" in media or "examples" in media or "schema" not in media:
        return
    media["example"] = example_for(media["schema"], components)


def example_for(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """An example value of `schema`: its own example when it has one, otherwise one built from
    its type and constraints. Optional properties are shown too (the reader sees every field)."""
    if depth > 12:
        return None
    if "$ref" in schema:
        return example_for(_resolve(schema["$ref"], components), components, depth + 1)
    for key in ("examples", "example", "const", "default"):
        if key in schema and schema[key] is not None:
            value = schema[key]
            return value[0] if key == "examples" and isinstance(value, list) and value else value
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return example_for(options[0], components, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example_for(part, components, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    return _typed_example(schema, components, depth)


def _typed_example(schema: dict[str, Any], components: dict[str, Any], depth: int) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: example_for(sub, components, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        item = example_for(schema.get("items", {}), components, depth + 1)
        return [item] * max(1, int(schema.get("minItems", 1)))
    if kind in ("integer", "number"):
        return _number_example(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "string":
        return _string_example(schema)
    return None


def _number_example(schema: dict[str, Any], *, integer: bool) -> int | float:
    value: float = 1
    if "minimum" in schema:
        value = max(value, schema["minimum"])
    if "exclusiveMinimum" in schema:
        value = max(value, schema["exclusiveMinimum"] + 1)
    if "maximum" in schema:
        value = min(value, schema["maximum"])
    if "exclusiveMaximum" in schema:
        value = min(value, schema["exclusiveMaximum"] - 1)
    return int(value) if integer else float(value)


_STRING_FORMATS = {
    "date-time": "2024-01-15T10:30:00Z",
    "date": "2024-01-15",
    "email": "ops@example.com",
    "uri": "https://partner.example.com/hooks/rodistaa",
    "binary": "<file bytes>",
    "uuid": "6f1d0c9b-2a8e-4f7d-9c1b-3e5a7d9f1b2c",
}


def _string_example(schema: dict[str, Any]) -> str:
    value = _STRING_FORMATS.get(schema.get("format", ""), "string")
    min_length = int(schema.get("minLength", 0))
    if len(value) < min_length:
        value = value + "x" * (min_length - len(value))
    return value[: int(schema.get("maxLength", len(value)))]


def _resolve(reference: str, components: dict[str, Any]) -> dict[str, Any]:
    name = reference.removeprefix("#/components/schemas/")
    resolved: dict[str, Any] = components.get("schemas", {}).get(name, {})
    return resolved


def _drop_unused_validation_schemas(document: dict[str, Any]) -> None:
    """FastAPI's 422 models, once no operation refers to them any more."""
    schemas = document.get("components", {}).get("schemas", {})
    if "#/components/schemas/HTTPValidationError" in json.dumps(document.get("paths", {})):
        return
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
