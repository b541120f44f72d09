"""The published document (`/v1/openapi.json`): every operation documents its errors with the
`{code, message, details?}` schema and realistic examples, every body and JSON success response
has an example, and every example in the document is valid against its schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from rodistaa.bookings.schemas import BOOKING_CREATE_EXAMPLE, BOOKING_EXAMPLE
from rodistaa.http.openapi import error_example, example_for
from tests.conftest import Harness

HTTP_METHODS = ("get", "put", "post", "patch", "delete")
ERROR_REF = "#/components/schemas/ErrorBody"


@pytest.fixture
async def document(harness: Harness) -> dict[str, Any]:
    response = await harness.client.get("/v1/openapi.json")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def json_media(content: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for media_type, media in content.items():
        if media_type in ("application/json", "multipart/form-data"):
            yield media_type, media


def examples_with_schemas(document: dict[str, Any]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(where, example, schema) for every example the document holds."""
    for label, operation in operations(document):
        for media_type, media in json_media(operation.get("requestBody", {}).get("content", {})):
            yield f"{label} request {media_type}", media["example"], media["schema"]
        for status, response in operation["responses"].items():
            for media_type, media in json_media(response.get("content", {})):
                if "example" in media:
                    yield f"{label} {status} {media_type}", media["example"], media["schema"]
        for parameter in operation.get("parameters", []):
            if "example" in parameter:
                yield f"{label} parameter {parameter['name']}", parameter["example"], parameter["schema"]
    for name, schema in document["components"]["schemas"].items():
        for i, example in enumerate(schema.get("examples", [])):
            yield f"components.schemas.{name}.examples[{i}]", example, schema


class TestErrorResponses:
    async def test_every_operation_documents_errors_with_the_error_body(
        self, document: dict[str, Any]
    ) -> None:
        for label, operation in operations(document):
            responses = operation["responses"]
            assert "500" in responses, label
            assert "422" not in responses or "HTTPValidationError" not in str(responses["422"]), label
            for status, response in responses.items():
                if int(status) < 400:
                    continue
                media = response["content"]["application/json"]
                assert media["schema"] == {"$ref": ERROR_REF}, (label, status)
                assert media["example"]["code"].replace("_", "").isupper(), (label, status)
                assert media["example"]["message"], (label, status)
        assert "HTTPValidationError" not in document["components"]["schemas"]

    async def test_statuses_follow_the_route(self, document: dict[str, Any]) -> None:
        paths = document["paths"]
        # Public, no input: only the crash.
        assert set(paths["/health"]["get"]["responses"]) == {"200", "500"}
        # Authenticated read of one resource: no 409 or 413.
        assert set(paths["/v1/bookings/{bookingId}"]["get"]["responses"]) == {
            "200",
            "400",
            "401",
            "403",
            "404",
            "429",
            "500",
        }
        # Authenticated creation with a body, no path id: no 404 of its own.
        assert set(paths["/v1/webhooks/register"]["post"]["responses"]) == {
            "201",
            "400",
            "401",
            "403",
            "409",
            "413",
            "429",
            "500",
        }
        # A public route says itself what it answers beyond the inferred statuses.
        login = paths["/v1/auth/login"]["post"]["responses"]
        assert {"401", "403", "429"} <= set(login)
        assert "security" not in paths["/v1/auth/login"]["post"]
        assert login["401"]["content"]["application/json"]["example"]["code"] == "OTP_INVALID"

    async def test_a_rate_limited_response_documents_its_headers(self, document: dict[str, Any]) -> None:
        response = document["paths"]["/v1/bookings"]["post"]["responses"]["429"]
        assert set(response["headers"]) == {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"}
        assert response["content"]["application/json"]["example"]["code"] == "RATE_LIMIT_EXCEEDED"

    async def test_a_validation_error_example_names_the_field(self, document: dict[str, Any]) -> None:
        example = document["paths"]["/v1/bookings"]["post"]["responses"]["400"]["content"]["application/json"]
        details = example["example"]["details"]
        assert details["field"] and details["fields"][0]["field"] == details["field"]


class TestSecurity:
    async def test_schemes(self, document: dict[str, Any]) -> None:
        schemes = document["components"]["securitySchemes"]
        assert schemes["bearerAuth"] == {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": schemes["bearerAuth"]["description"],
        }
        assert schemes["partnerApiKey"]["in"] == "header"
        assert schemes["partnerApiKey"]["name"] == "X-API-Key"

    async def test_operations_name_the_credentials_they_take(self, document: dict[str, Any]) -> None:
        paths = document["paths"]
        assert paths["/v1/users/me"]["get"]["security"] == [{"bearerAuth": []}]
        # Open to partner keys: a bearer session or a key.
        assert paths["/v1/tracking/{shipmentId}"]["get"]["security"] == [
            {"bearerAuth": []},
            {"partnerApiKey": []},
        ]
        assert "security" not in paths["/v1/auth/otp"]["post"]
        assert "security" not in paths["/v1/webhooks/payments"]["post"]

    async def test_credentialed_posts_take_an_idempotency_key(self, document: dict[str, Any]) -> None:
        for label, operation in operations(document):
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            expected = (
                label.startswith("POST /v1/")
                and "security" in operation
                and not label.startswith("POST /v1/auth/")
            )
            assert ("Idempotency-Key" in names) == expected, label


class TestExamples:
    async def test_every_body_and_json_success_response_has_one(self, document: dict[str, Any]) -> None:
        for label, operation in operations(document):
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                assert "example" in media, (label, media_type)
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                for media_type, media in response.get("content", {}).items():
                    if media_type == "application/json":
                        assert "example" in media, (label, status)
                    else:  # a file download: bytes make no example
                        assert media["schema"] == {"type": "string", "format": "binary"}, (label, status)

    async def test_hand_written_examples_are_preferred(self, document: dict[str, Any]) -> None:
        create = document["paths"]["/v1/bookings"]["post"]
        assert create["requestBody"]["content"]["application/json"]["example"] == BOOKING_CREATE_EXAMPLE
        assert create["responses"]["201"]["content"]["application/json"]["example"] == BOOKING_EXAMPLE

    async def test_every_example_is_valid_against_its_schema(self, document: dict[str, Any]) -> None:
        components = {"components": document["components"]}
        invalid = []
        checked = 0
        for where, example, schema in examples_with_schemas(document):
            validator = jsonschema_rs.Draft202012Validator({**schema, **components}, validate_formats=True)
            checked += 1
            invalid += [f"{where}: {error.message}" for error in validator.iter_errors(example)]
        assert not invalid, "\n".join(invalid)
        assert checked > 300


class TestGeneratedExamples:
    def test_constraints_are_respected(self) -> None:
        schema = {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 10, "maxLength": 12},
                "count": {"type": "integer", "minimum": 3, "maximum": 9},
                "share": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
                "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 2},
            },
        }
        example = example_for(schema, {})
        assert example == {
            "name": "stringxxxx",
            "count": 3,
            "share": 0.5,
            "when": "2024-01-15T10:30:00Z",
            "tags": ["a", "a"],
        }
        assert jsonschema_rs.Draft202012Validator(schema).is_valid(example)

    def test_references_and_own_examples_are_followed(self) -> None:
        components = {"schemas": {"Point": {"type": "object", "examples": [{"lat": 19.0, "lng": 72.8}]}}}
        assert example_for({"$ref": "#/components/schemas/Point"}, components) == {"lat": 19.0, "lng": 72.8}

    def test_an_error_example_takes_the_code_a_route_names(self) -> None:
        assert error_example(422, "BID_OUT_OF_RANGE: outside the range") == {
            "code": "BID_OUT_OF_RANGE",
            "message": "The amount must lie inside the booking's price range",
        }
        assert error_example(404, "Not found, or not visible to the caller")["code"] == "NOT_FOUND"
        assert error_example(503, "NOT_READY: a check failed") == {
            "code": "NOT_READY",
            "message": "A check failed",
        }
        assert error_example(410, "The document's data is gone")["code"] in {"DATA_ERASED", "DOCUMENT_ERASED"}
