"""Calendar periods in India for dashboards and reports.

"Today" and "this month" are the calendar day and month in IST (UTC+05:30, no daylight saving),
the clock the staff reading them work by; the bounds are half-open UTC instants
`[start, end)` so that an event exactly at midnight belongs to the day it starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from rodistaa.fleet.status import INDIA

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_PERIOD = re.compile(PERIOD_PATTERN)


@dataclass(frozen=True)
class Window:
    """A half-open interval of instants, `start <= t < end`."""

    start: datetime
    end: datetime


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=INDIA)


def india_date(now: datetime) -> date:
    return now.astimezone(INDIA).date()


def day_window(day: date) -> Window:
    return Window(_midnight(day), _midnight(day + timedelta(days=1)))


def dates_window(first: date, last: date) -> Window:
    """From the start of `first` to the end of `last` (both whole IST days)."""
    return Window(_midnight(first), _midnight(last + timedelta(days=1)))


def period_of(now: datetime) -> str:
    """The IST calendar month at `now`, as "YYYY-MM"."""
    return india_date(now).strftime("%Y-%m")


def month_window(period: str) -> Window:
    """The instants of a "YYYY-MM" month in IST. Raises ValueError for another shape."""
    if not _PERIOD.match(period):
        raise ValueError(f"not a YYYY-MM period: {period!r}")
    year, month = int(period[:4]), int(period[5:])
    first = date(year, month, 1)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return Window(_midnight(first), _midnight(following))
