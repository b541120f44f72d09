"""The range of dates and times the API accepts (years 2000 to 2999)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from rodistaa.core.timestamps import ApiDate, ApiDatetime

IST = timezone(timedelta(hours=5, minutes=30))
API_DATETIME: TypeAdapter[datetime] = TypeAdapter(ApiDatetime)
API_DATE: TypeAdapter[date] = TypeAdapter(ApiDate)


@pytest.mark.parametrize(
    "value",
    [
        "2000-01-01T00:00:00Z",
        "2000-01-01T05:30:00+05:30",  # 2000-01-01T00:00Z
        "2999-12-31T23:59:59Z",
    ],
)
def test_times_inside_the_range_are_kept(value: str) -> None:
    assert API_DATETIME.validate_python(value) == datetime.fromisoformat(value)


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+05:30",  # cannot be converted to UTC at all
        "9999-12-31T23:59:59-05:00",  # nor this one
        "1999-12-31T23:59:59Z",
        "2000-01-01T05:29:59+05:30",  # 1999 in UTC
        "3000-01-01T00:00:00Z",
    ],
)
def test_times_outside_are_refused_with_the_range(value: str) -> None:
    with pytest.raises(ValidationError, match="must be between 2000-01-01 and 2999-12-31"):
        API_DATETIME.validate_python(value)


def test_a_time_without_offset_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        API_DATETIME.validate_python("2024-01-15T10:00:00")


def test_dates() -> None:
    assert API_DATE.validate_python("2000-01-01") == date(2000, 1, 1)
    assert API_DATE.validate_python("2999-12-31") == date(2999, 12, 31)
    for outside in ("0001-01-01", "1999-12-31", "3000-01-01", "9999-12-31"):
        with pytest.raises(ValidationError, match="must be between"):
            API_DATE.validate_python(outside)
    assert API_DATETIME.validate_python(datetime(2024, 1, 15, tzinfo=UTC)).year == 2024
