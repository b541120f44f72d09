"""Booking ids: RID-YYYYMMDD-NNNN from the UTC day and the day's counter (PRODUCT §2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from rodistaa.bookings.ids import booking_day, format_booking_id

IST = timezone(timedelta(hours=5, minutes=30))


class TestFormatBookingId:
    @pytest.mark.parametrize(
        ("number", "expected"),
        [
            (1, "RID-20240115-0001"),
            (42, "RID-20240115-0042"),
            (9999, "RID-20240115-9999"),
            (10000, "RID-20240115-10000"),
            (25000, "RID-20240115-25000"),
            (123456, "RID-20240115-123456"),
        ],
    )
    def test_numbers_are_padded_to_at_least_four_digits(self, number: int, expected: str) -> None:
        assert format_booking_id("20240115", number) == expected

    @pytest.mark.parametrize("day", ["2024-01-15", "2024011", "202401155", "2024O115", ""])
    def test_a_day_that_is_not_yyyymmdd_is_refused(self, day: str) -> None:
        with pytest.raises(ValueError, match="YYYYMMDD"):
            format_booking_id(day, 1)

    @pytest.mark.parametrize("number", [0, -1, True, 1.0])
    def test_the_counter_starts_at_one(self, number: object) -> None:
        with pytest.raises(ValueError, match="starts at 1"):
            format_booking_id("20240115", number)  # type: ignore[arg-type]


class TestBookingDay:
    def test_the_day_is_the_utc_date(self) -> None:
        assert booking_day(datetime(2024, 1, 15, 23, 59, 59, tzinfo=UTC)) == "20240115"
        # 03:00 on the 16th in India is still the 15th in UTC.
        assert booking_day(datetime(2024, 1, 16, 3, 0, tzinfo=IST)) == "20240115"
        assert booking_day(datetime(2024, 1, 16, 5, 30, tzinfo=IST)) == "20240116"

    def test_a_naive_time_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            booking_day(datetime(2024, 1, 15, 12, 0))
