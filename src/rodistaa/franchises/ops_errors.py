"""Typed errors of franchise operations (targets and reports)."""

from __future__ import annotations

from rodistaa.core.errors import Forbidden, NotFound


class UnitNotFound(NotFound):
    message = "No franchise unit with this id"


class NotYourUnit(Forbidden):
    code = "NOT_YOUR_UNIT"
    message = "A district sets targets only for its own units"
