"""When data becomes due for deletion: the cut-offs the retention jobs compute from the settings.
Pure functions of `now` and a period, so the rules are testable without a database.

Invariants:

* Raw GPS fixes are due by whole UTC days: a fix is due once the entire UTC day it was taken
  in lies before `now - GPS_RETENTION_DAYS`. A day is therefore summarised once, complete,
  and a fix is kept between `days` and `days + 1` days.
* Expired credentials (login codes, used sign-up tokens, sessions) are due only a grace
  period after they stopped working, so a clock difference between instances can never make
  the job delete something a request is still checking.
* Audit entries are never due before `AUDIT_MIN_RETENTION_YEARS`; a shorter setting is a
  `RetentionConfigError`, both when the settings load and when the job runs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

AUDIT_MIN_RETENTION_YEARS = 7
ONE_DAY = timedelta(days=1)


class RetentionConfigError(ValueError):
    """A retention setting that would delete data earlier than the rules allow."""


def check_audit_retention_years(years: int) -> int:
    """`years` if it keeps audit entries at least 7 years; RetentionConfigError otherwise."""
    if isinstance(years, bool) or not isinstance(years, int) or years < AUDIT_MIN_RETENTION_YEARS:
        raise RetentionConfigError(
            f"AUDIT_RETENTION_YEARS must be a whole number of years >= {AUDIT_MIN_RETENTION_YEARS}: "
            "audit entries are kept at least 7 years and never deleted earlier (docs/retention.md)"
        )
    return years


def start_of_utc_day(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), time(), UTC)


def utc_day_bounds(moment: datetime) -> tuple[date, datetime, datetime]:
    """The UTC day `moment` falls in, as (day, start, end) with `end` exclusive."""
    start = start_of_utc_day(moment)
    return start.date(), start, start + ONE_DAY


def gps_due_before(now: datetime, retention_days: int) -> datetime:
    """Fixes taken before this instant (a UTC midnight) are due for summarising."""
    return start_of_utc_day(now - timedelta(days=retention_days))


def years_before(moment: datetime, years: int) -> datetime:
    """The same calendar instant `years` earlier (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def audit_due_before(now: datetime, years: int) -> datetime:
    """Audit entries written before this instant are past their retention period."""
    return years_before(now, check_audit_retention_years(years))
