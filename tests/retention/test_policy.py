"""The cut-offs of `retention.policy`, as pure functions of the time and the period."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from rodistaa.retention.policy import (
    RetentionConfigError,
    audit_due_before,
    check_audit_retention_years,
    gps_due_before,
    utc_day_bounds,
    years_before,
)

IST = timezone(timedelta(hours=5, minutes=30))


class TestGpsCutOff:
    def test_whole_utc_days_before_the_period_are_due(self) -> None:
        now = datetime(2025, 3, 31, 15, 45, tzinfo=UTC)
        assert gps_due_before(now, 30) == datetime(2025, 3, 1, tzinfo=UTC)

    def test_days_are_utc_days_whatever_the_zone_of_the_time(self) -> None:
        # 04:00 in India on 1 March is still 28 February in UTC.
        assert utc_day_bounds(datetime(2025, 3, 1, 4, 0, tzinfo=IST)) == (
            date(2025, 2, 28),
            datetime(2025, 2, 28, tzinfo=UTC),
            datetime(2025, 3, 1, tzinfo=UTC),
        )


class TestAuditCutOff:
    def test_seven_calendar_years(self) -> None:
        now = datetime(2032, 6, 1, 12, tzinfo=UTC)
        assert audit_due_before(now, 7) == datetime(2025, 6, 1, 12, tzinfo=UTC)
        assert audit_due_before(now, 10) == datetime(2022, 6, 1, 12, tzinfo=UTC)

    def test_29_february_falls_back_to_the_28th(self) -> None:
        assert years_before(datetime(2032, 2, 29, tzinfo=UTC), 7) == datetime(2025, 2, 28, tzinfo=UTC)

    @pytest.mark.parametrize("years", [6, 0, -1, True])
    def test_less_than_seven_years_is_refused(self, years: int) -> None:
        with pytest.raises(RetentionConfigError, match="AUDIT_RETENTION_YEARS"):
            check_audit_retention_years(years)
        with pytest.raises(RetentionConfigError):
            audit_due_before(datetime(2032, 1, 1, tzinfo=UTC), years)
