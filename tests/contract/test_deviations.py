"""The deviation table in docs/api-compat.md is read strictly: a malformed row is an error, not a
skip of nothing (or of everything)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO_ROOT
from tests.contract import deviations
from tests.contract.deviations import DEVIATIONS_HEADING, Deviation

TABLE_HEAD = f"{DEVIATIONS_HEADING}\n\nText.\n\n| Operation | Check | Where | Why |\n|---|---|---|---|\n"


def test_the_documented_table_parses() -> None:
    rows = deviations.load(REPO_ROOT / "docs" / "api-compat.md")
    assert rows
    assert all(row.reason for row in rows)


def test_rows_and_what_they_cover() -> None:
    markdown = (
        "# Title\n\n| a | b |\n|---|---|\n| not | this table |\n\n"
        + TABLE_HEAD
        + "| `GET /kyc/status` | `response_schema_conformance` | `/components/schemas/K/properties/f` | y |\n"
        + "| `*` | `status_code_conformance` | declared by the service | why |\n"
        + "\n## Next section\n| `GET /x` | `status_code_conformance` | declared by the service | not read |\n"
    )
    kyc, every = deviations.parse(markdown)
    assert kyc == Deviation(
        "GET /kyc/status", "response_schema_conformance", "/components/schemas/K/properties/f", "y"
    )
    assert kyc.covers("GET /kyc/status", "response_schema_conformance", "/components/schemas/K/properties/f")
    assert not kyc.covers(
        "GET /kyc/status", "response_schema_conformance", "/components/schemas/K/properties/g"
    )
    assert not kyc.covers(
        "GET /bookings", "response_schema_conformance", "/components/schemas/K/properties/f"
    )
    assert every.covers("POST /bids", "status_code_conformance", "declared by the service")
    assert not every.covers("POST /bids", "status_code_conformance", "")


@pytest.mark.parametrize(
    "row",
    [
        "| `GET /x` | `response_schema_conformance` | `/p` |\n",  # no reason
        "| `GET /x` | `not_a_server_error` | `/p` | 5xx cannot be excused |\n",
        "| `GET /x` | `status_code_conformance` | 404 | only the declared-by-service rule |\n",
        "| `GET /x` | `response_schema_conformance` |  | why |\n",
    ],
)
def test_a_malformed_row_is_an_error(row: str) -> None:
    with pytest.raises(ValueError, match=r"row|check|status code"):
        deviations.parse(TABLE_HEAD + row)


def test_a_missing_section_is_an_error() -> None:
    with pytest.raises(ValueError, match="no"):
        deviations.parse("# API compatibility\n")


def test_schema_locations_are_given_from_the_document_root() -> None:
    message = "null is not of type\n\nSchema at /properties/status:\n\n{}"
    assert (
        deviations.schema_location(message, {"$ref": "#/components/schemas/Shipment"})
        == "/components/schemas/Shipment/properties/status"
    )
    listed = "Schema at /components/schemas/Shipment/properties/status:"
    assert (
        deviations.schema_location(listed, {"type": "array"})
        == "/components/schemas/Shipment/properties/status"
    )
    assert deviations.schema_location("no location", {}) == ""
