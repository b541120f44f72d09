"""The deviations from the reference contract that the conformance run does not enforce, read
from the table in `docs/api-compat.md` (section `DEVIATIONS_HEADING`): the document is the only
list, so a skip cannot exist without its written reason.

A row names an operation of the reference (`GET /kyc/status`, or `*` for every operation), one
Schemathesis check, and where the deviation lies:

* `response_schema_conformance`: the schema location Schemathesis reports for the mismatch
  (`/components/schemas/KycRecord/properties/fileUrl`); a mismatch anywhere else still fails.
* `status_code_conformance`: `declared by the service`, i.e. a status the reference omits is
  accepted when the service's own document declares it for that operation (that document is
  enforced strictly by the other run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEVIATIONS_HEADING = "## Deviations the conformance test does not enforce"
DECLARED_BY_SERVICE = "declared by the service"
CHECKS = ("status_code_conformance", "response_schema_conformance", "content_type_conformance")
_SCHEMA_LOCATION = re.compile(r"Schema at (\S+):")


@dataclass(frozen=True)
class Deviation:
    operation: str  # "GET /kyc/status" (reference path) or "*"
    check: str
    where: str
    reason: str

    def covers(self, operation: str, check: str, where: str) -> bool:
        return self.operation in ("*", operation) and self.check == check and self.where == where


def parse(markdown: str) -> list[Deviation]:
    """The rows of the table under `DEVIATIONS_HEADING`; raises ValueError for a malformed row,
    so a typo cannot silently skip nothing (or everything)."""
    _, found, rest = markdown.partition(DEVIATIONS_HEADING)
    if not found:
        raise ValueError(f"docs/api-compat.md has no {DEVIATIONS_HEADING!r} section")
    section = rest.split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # header, rule
    return [_row(line) for line in rows]


def _row(line: str) -> Deviation:
    cells = [cell.strip().strip("`").strip() for cell in line.strip().strip("|").split("|")]
    if len(cells) != 4 or not all(cells):
        raise ValueError(f"a deviation row needs operation, check, where and why: {line!r}")
    operation, check, where, reason = cells
    if check not in CHECKS:
        raise ValueError(f"unknown check {check!r} in {line!r}")
    if check == "status_code_conformance" and where != DECLARED_BY_SERVICE:
        raise ValueError(f"a status code deviation is {DECLARED_BY_SERVICE!r}: {line!r}")
    return Deviation(operation, check, where, reason)


def load(path: Path) -> list[Deviation]:
    return parse(path.read_text(encoding="utf-8"))


def schema_location(failure_message: str, response_schema: dict[str, Any]) -> str:
    """Where a response schema mismatch lies, as Schemathesis reports it, and always from the
    document's root: a location inside a response schema that is a `$ref` (`/properties/status`
    of `Shipment`) is given as that component's (`/components/schemas/Shipment/properties/
    status`), so one row covers a schema wherever it is used."""
    match = _SCHEMA_LOCATION.search(failure_message)
    if not match:
        return ""
    location = match.group(1)
    reference = response_schema.get("$ref", "")
    if location.startswith("/components/") or not reference.startswith("#/"):
        return location
    return reference[1:] + location
