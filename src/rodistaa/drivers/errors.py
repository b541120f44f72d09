"""Typed errors of the drivers domain."""

from __future__ import annotations

from rodistaa.core.errors import Conflict


class LicenceTaken(Conflict):
    """The unique index on the licence hash refused it: one licence, one driver account."""

    code, message = "LICENCE_TAKEN", "A driver with this licence number already exists"

    def __init__(self) -> None:
        super().__init__(details={"field": "licenceNumber"})
