"""Typed errors of the franchise domain."""

from __future__ import annotations

from rodistaa.core.errors import Conflict, NotFound


class HeadOfficeExists(Conflict):
    message = "The HQ franchise already exists; there is only one"


class NoFranchiseAssigned(NotFound):
    message = "You are not assigned to a franchise"
