"""Dates and times the API accepts: inside the years 2000 to 2999.

Python's `datetime` stops at the years 1 and 9999, so a time near either end in a far time zone
cannot even be converted to UTC (`0001-01-01T00:00+05:30`), and a date range ending on
9999-12-31 cannot take its next midnight: such input used to end as a 500 deep in a query. The
platform has no business outside the range, so the API refuses it up front, as a 400 naming the
field.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2999, 12, 31)
_RANGE = f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"


def within_range(value: datetime) -> datetime:
    """`value` unchanged when its UTC date lies in the range; ValueError otherwise."""
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(_RANGE) from None
    within_date_range(in_utc.date())
    return value


def within_date_range(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(_RANGE)
    return value


ApiDatetime = Annotated[
    AwareDatetime,
    AfterValidator(within_range),
    Field(description="An ISO 8601 time with its offset, between the years 2000 and 2999"),
]
ApiDate = Annotated[date, AfterValidator(within_date_range)]
