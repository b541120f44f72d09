"""Booking ids: ``RID-YYYYMMDD-NNNN`` (PRODUCT §2).

The date is the UTC date of creation and ``NNNN`` the value of that day's counter in the
database (`booking_day_counters`), incremented and committed just before the creating
transaction, so ids are never random and never collide (a booking that fails after its claim
leaves a gap). The number is zero-padded to at least four digits and simply grows a fifth one
after 9999 (PRODUCT plans for 25,000 bookings a day).
"""

from __future__ import annotations

from datetime import UTC, datetime

PREFIX = "RID"
MIN_DIGITS = 4


def booking_day(at: datetime) -> str:
    """The counter key for a booking created at *at*: its UTC date as ``YYYYMMDD``.

    Raises ``ValueError`` for a naive datetime (its date would depend on the server's zone).
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("booking times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y%m%d")


def format_booking_id(day: str, number: int) -> str:
    """``RID-<day>-<number>``, the number zero-padded to at least four digits.

    Raises ``ValueError`` for a day that is not ``YYYYMMDD`` or a number below 1.
    """
    if not (len(day) == 8 and day.isascii() and day.isdigit()):
        raise ValueError("day must be YYYYMMDD")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError("the day's counter starts at 1")
    return f"{PREFIX}-{day}-{number:0{MIN_DIGITS}d}"
