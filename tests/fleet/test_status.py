"""The truck status machine as pure functions (PRODUCT §5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from rodistaa.fleet.status import (
    REQUIRED_DOCUMENTS,
    TruckFacts,
    TruckStatus,
    business_date,
    document_problems,
    effective_status,
    inspection_overdue,
    may_work,
    recompute_status,
    status_after_inspection,
)

# 10:00 UTC is 15:30 in India: the same calendar date.
NOW = datetime(2025, 3, 15, 10, 0, tzinfo=UTC)
TODAY = date(2025, 3, 15)
RECENT_PASS = NOW - timedelta(days=30)
S = TruckStatus


def all_valid(until: date = TODAY + timedelta(days=100)) -> dict[str, date]:
    return {doc.value: until for doc in REQUIRED_DOCUMENTS}


def facts(status: TruckStatus, **overrides: object) -> TruckFacts:
    values: dict[str, object] = {"expiries": all_valid(), "last_passed_at": RECENT_PASS}
    values.update(overrides)
    return TruckFacts(status=status, **values)  # type: ignore[arg-type]


class TestBusinessDate:
    def test_is_the_indian_calendar_date(self) -> None:
        # 20:00 UTC on the 14th is 01:30 on the 15th in India.
        assert business_date(datetime(2025, 3, 14, 20, 0, tzinfo=UTC)) == date(2025, 3, 15)
        assert business_date(datetime(2025, 3, 14, 18, 29, tzinfo=UTC)) == date(2025, 3, 14)


class TestDocumentProblems:
    def test_all_valid_has_no_problem(self) -> None:
        assert document_problems(all_valid(), TODAY) == {}

    def test_a_document_is_valid_through_its_expiry_date(self) -> None:
        assert document_problems(all_valid(TODAY), TODAY) == {}

    def test_expired_yesterday_and_missing_are_both_reported(self) -> None:
        expiries = all_valid()
        expiries["INSURANCE"] = TODAY - timedelta(days=1)
        del expiries["PUC"]
        assert document_problems(expiries, TODAY) == {"INSURANCE": "EXPIRED", "PUC": "MISSING"}


class TestInspectionOverdue:
    @pytest.mark.parametrize(
        ("age", "overdue"),
        [(timedelta(days=120), False), (timedelta(days=120, seconds=1), True), (timedelta(days=121), True)],
    )
    def test_more_than_120_days(self, age: timedelta, overdue: bool) -> None:
        assert inspection_overdue(NOW - age, NOW) is overdue

    def test_never_inspected_is_not_overdue(self) -> None:
        assert inspection_overdue(None, NOW) is False


class TestRecomputeStatus:
    def test_active_truck_with_an_expired_document_becomes_expired_docs(self) -> None:
        expiries = all_valid()
        expiries["INSURANCE"] = TODAY - timedelta(days=1)
        assert recompute_status(facts(S.ACTIVE, expiries=expiries), now=NOW) is S.EXPIRED_DOCS

    def test_a_missing_document_counts_as_expired(self) -> None:
        expiries = all_valid()
        del expiries["RC"]
        assert recompute_status(facts(S.ACTIVE, expiries=expiries), now=NOW) is S.EXPIRED_DOCS

    def test_expired_docs_truck_returns_to_active_once_all_are_valid(self) -> None:
        assert recompute_status(facts(S.EXPIRED_DOCS), now=NOW) is S.ACTIVE

    def test_active_truck_inspected_121_days_ago_needs_inspection(self) -> None:
        old = facts(S.ACTIVE, last_passed_at=NOW - timedelta(days=121))
        assert recompute_status(old, now=NOW) is S.NEEDS_INSPECTION

    def test_overdue_inspection_wins_over_expired_documents(self) -> None:
        both = facts(S.EXPIRED_DOCS, last_passed_at=NOW - timedelta(days=121), expiries={})
        assert recompute_status(both, now=NOW) is S.NEEDS_INSPECTION

    @pytest.mark.parametrize("status", [S.PENDING_INSPECTION, S.NEEDS_INSPECTION])
    def test_only_an_inspection_moves_pending_and_needs_inspection(self, status: TruckStatus) -> None:
        assert recompute_status(facts(status), now=NOW) is status
        assert recompute_status(facts(status, expiries={}), now=NOW) is status

    @pytest.mark.parametrize("status", [S.ACTIVE, S.EXPIRED_DOCS, S.PENDING_INSPECTION, S.NEEDS_INSPECTION])
    def test_an_active_block_makes_any_working_status_blocked(self, status: TruckStatus) -> None:
        assert recompute_status(facts(status, blocked=True), now=NOW) is S.BLOCKED

    def test_blocked_is_sticky_without_an_override(self) -> None:
        assert recompute_status(facts(S.BLOCKED, blocked=False), now=NOW) is S.BLOCKED

    def test_lifting_the_block_recomputes_from_the_facts(self) -> None:
        assert recompute_status(facts(S.BLOCKED), now=NOW, lift_block=True) is S.ACTIVE
        assert recompute_status(facts(S.BLOCKED, expiries={}), now=NOW, lift_block=True) is S.EXPIRED_DOCS
        never = facts(S.BLOCKED, last_passed_at=None)
        assert recompute_status(never, now=NOW, lift_block=True) is S.PENDING_INSPECTION
        failed = facts(S.BLOCKED, failed_since_pass=True)
        assert recompute_status(failed, now=NOW, lift_block=True) is S.NEEDS_INSPECTION

    def test_lifting_one_block_while_another_is_active_keeps_it_blocked(self) -> None:
        assert recompute_status(facts(S.BLOCKED, blocked=True), now=NOW, lift_block=True) is S.BLOCKED

    @pytest.mark.parametrize("blocked", [True, False])
    def test_inactive_is_final(self, blocked: bool) -> None:
        assert recompute_status(facts(S.INACTIVE, blocked=blocked), now=NOW, lift_block=True) is S.INACTIVE


class TestStatusAfterInspection:
    def test_pass_with_valid_documents_is_active(self) -> None:
        new = facts(S.PENDING_INSPECTION, last_passed_at=None)
        assert status_after_inspection(new, passed=True, now=NOW) is S.ACTIVE

    def test_pass_with_missing_documents_is_expired_docs(self) -> None:
        new = facts(S.PENDING_INSPECTION, last_passed_at=None, expiries={})
        assert status_after_inspection(new, passed=True, now=NOW) is S.EXPIRED_DOCS

    def test_pass_clears_needs_inspection_even_after_a_long_time(self) -> None:
        overdue = facts(S.NEEDS_INSPECTION, last_passed_at=NOW - timedelta(days=400))
        assert status_after_inspection(overdue, passed=True, now=NOW) is S.ACTIVE

    def test_failed_first_inspection_stays_pending(self) -> None:
        new = facts(S.PENDING_INSPECTION, last_passed_at=None)
        assert status_after_inspection(new, passed=False, now=NOW) is S.PENDING_INSPECTION

    @pytest.mark.parametrize("status", [S.ACTIVE, S.EXPIRED_DOCS, S.NEEDS_INSPECTION])
    def test_failed_reinspection_needs_inspection(self, status: TruckStatus) -> None:
        assert status_after_inspection(facts(status), passed=False, now=NOW) is S.NEEDS_INSPECTION

    @pytest.mark.parametrize("passed", [True, False])
    def test_blocked_and_retired_trucks_keep_their_status(self, passed: bool) -> None:
        assert status_after_inspection(facts(S.BLOCKED), passed=passed, now=NOW) is S.BLOCKED
        assert status_after_inspection(facts(S.ACTIVE, blocked=True), passed=passed, now=NOW) is S.BLOCKED
        assert status_after_inspection(facts(S.INACTIVE), passed=passed, now=NOW) is S.INACTIVE


class TestEffectiveStatus:
    def test_an_active_block_shows_as_blocked_except_on_a_retired_truck(self) -> None:
        assert effective_status(S.ACTIVE, blocked=True) is S.BLOCKED
        assert effective_status(S.ACTIVE, blocked=False) is S.ACTIVE
        assert effective_status(S.INACTIVE, blocked=True) is S.INACTIVE

    def test_only_active_trucks_may_work(self) -> None:
        assert [s for s in TruckStatus if may_work(s)] == [S.ACTIVE]
