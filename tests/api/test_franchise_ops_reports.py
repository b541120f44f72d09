"""Franchise reports (PRODUCT §9): for an inclusive IST date range, inspections done, pass rate,
trucks onboarded, and the bookings and bidding fees of the zones, scoped to the caller."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rodistaa.core.roles import Role
from tests.api.booking_flows import session_with_role
from tests.api.flows import Session
from tests.api.franchise_ops_flows import (
    assert_error,
    bid_at,
    booking_at,
    inspection,
    pin_clock,
    staff,
    truck,
)
from tests.api.onboarding_setup import NAGPUR, PUNE, insert_franchise, km_north, operator_session
from tests.conftest import Harness

# 1 March 2031 00:00 IST and 10 March 23:59 IST: inside a 1..10 March report.
FIRST_INSTANT = datetime(2031, 2, 28, 18, 30, tzinfo=UTC)
LAST_MINUTE = datetime(2031, 3, 10, 18, 29, tzinfo=UTC)
# 11 March 00:00 IST and 28 February 23:59 IST: just outside.
JUST_AFTER = datetime(2031, 3, 10, 18, 30, tzinfo=UTC)
JUST_BEFORE = datetime(2031, 2, 28, 18, 29, tzinfo=UTC)
RANGE = {"startDate": "2031-03-01", "endDate": "2031-03-10"}


@pytest.fixture
async def h(harness: Harness) -> Harness:
    pin_clock(harness)
    return harness


async def report(h: Harness, session: Session, **params: str) -> dict[str, object]:
    response = await h.client.get("/v1/franchise/reports", params=params or RANGE, headers=session.headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


class TestReports:
    async def test_numbers_equal_what_was_created_in_range_and_zone(self, h: Harness) -> None:
        hq = await insert_franchise(h, kind="HQ", parent_id=None)
        district = await insert_franchise(h, kind="DISTRICT", parent_id=hq)
        pune = await insert_franchise(h, kind="UNIT", parent_id=district, centre=PUNE, radius_m=20_000)
        nagpur = await insert_franchise(h, kind="UNIT", parent_id=district, centre=NAGPUR, radius_m=20_000)
        other_district = await insert_franchise(h, kind="DISTRICT", parent_id=hq)
        # Overlaps Pune's zone; its centre is nearer to a pickup 12 km north of Pune.
        rival = await insert_franchise(
            h, kind="UNIT", parent_id=other_district, centre=km_north(PUNE, 15), radius_m=20_000
        )
        unit_staff = await staff(h, Role.FRANCHISE_UNIT, pune)
        district_staff = await staff(h, Role.FRANCHISE_DISTRICT, district)
        rival_staff = await staff(h, Role.FRANCHISE_UNIT, rival)
        operator = await operator_session(h, "+919320000002")
        shipper = await session_with_role(h, Role.SHIPPER)
        op = operator.user_id

        # Trucks onboarded: Pune 2 in range (first instant, last minute), 1 before, 1 after; Nagpur 1.
        t1 = await truck(h, op, pune, "ACTIVE", created_at=FIRST_INSTANT)
        await truck(h, op, pune, "ACTIVE", created_at=LAST_MINUTE)
        await truck(h, op, pune, "ACTIVE", created_at=JUST_BEFORE)
        await truck(h, op, pune, "ACTIVE", created_at=JUST_AFTER)
        t5 = await truck(h, op, nagpur, "ACTIVE", created_at=FIRST_INSTANT)
        await truck(h, op, rival, "ACTIVE", created_at=FIRST_INSTANT)
        # Inspections: Pune 2 passed + 1 failed in range, 1 rejected, 1 open, 1 passed after.
        who = unit_staff.user_id
        for status, at in (
            ("PASSED", FIRST_INSTANT),
            ("PASSED", LAST_MINUTE),
            ("FAILED", LAST_MINUTE),
            ("REJECTED", LAST_MINUTE),
            ("PASSED", JUST_AFTER),
        ):
            await inspection(h, truck_id=t1, unit_id=pune, inspector_id=who, status=status, submitted_at=at)
        await inspection(h, truck_id=t1, unit_id=pune, inspector_id=who, status="PENDING")
        await inspection(
            h, truck_id=t5, unit_id=nagpur, inspector_id=who, status="FAILED", submitted_at=LAST_MINUTE
        )
        # Bookings by pickup: 2 at Pune's centre in range (fees 100 + 50 rupees in range, 70 after),
        # 1 at Pune before range, 1 nearer the rival's centre, 1 in Nagpur, 1 nowhere.
        shipper_id = shipper.user_id
        b1 = await booking_at(h, shipper_id, pickup=PUNE, created_at=FIRST_INSTANT)
        b2 = await booking_at(h, shipper_id, pickup=PUNE, created_at=LAST_MINUTE)
        await booking_at(h, shipper_id, pickup=PUNE, created_at=JUST_BEFORE)
        contested = await booking_at(h, shipper_id, pickup=km_north(PUNE, 12), created_at=FIRST_INSTANT)
        b_nagpur = await booking_at(h, shipper_id, pickup=NAGPUR, created_at=FIRST_INSTANT)
        await booking_at(h, shipper_id, pickup={"lat": 12.97, "lng": 77.59}, created_at=FIRST_INSTANT)
        await bid_at(h, b1, op, fee_paise=10_000, created_at=FIRST_INSTANT)
        await bid_at(h, b2, op, fee_paise=5_000, created_at=LAST_MINUTE)
        await bid_at(h, b2, op, fee_paise=7_000, created_at=JUST_AFTER)
        await bid_at(h, contested, op, fee_paise=2_500, created_at=LAST_MINUTE)
        await bid_at(h, b_nagpur, op, fee_paise=1_250, created_at=LAST_MINUTE)

        unit_report = await report(h, unit_staff)
        assert list(unit_report)[:4] == ["period", "bookings", "revenue", "inspections"]
        assert unit_report["period"] == "2031-03-01/2031-03-10"
        assert (unit_report["bookings"], unit_report["revenue"], unit_report["inspections"]) == (2, 150.0, 3)
        assert (unit_report["inspectionsPassed"], unit_report["inspectionsFailed"]) == (2, 1)
        assert unit_report["passRate"] == 0.6667
        assert unit_report["trucksOnboarded"] == 2
        assert unit_report["franchiseId"] == pune and unit_report["kind"] == "UNIT"

        district_report = await report(h, district_staff)
        assert (district_report["bookings"], district_report["revenue"], district_report["inspections"]) == (
            3,
            162.5,
            4,
        )
        assert district_report["passRate"] == 0.5
        assert district_report["trucksOnboarded"] == 3
        units = {u["unitId"]: u for u in district_report["units"]}  # type: ignore[attr-defined]
        assert set(units) == {pune, nagpur}
        assert (units[nagpur]["inspections"], units[nagpur]["passRate"], units[nagpur]["bookings"]) == (
            1,
            0.0,
            1,
        )

        rival_report = await report(h, rival_staff)
        assert (rival_report["bookings"], rival_report["revenue"], rival_report["inspections"]) == (
            1,
            25.0,
            0,
        )
        assert rival_report["passRate"] is None

    async def test_an_empty_range_reports_zeros(self, h: Harness) -> None:
        hq = await insert_franchise(h, kind="HQ", parent_id=None)
        district = await insert_franchise(h, kind="DISTRICT", parent_id=hq)
        session = await staff(h, Role.FRANCHISE_DISTRICT, district)  # a district without units

        body = await report(h, session)

        assert (body["bookings"], body["revenue"], body["inspections"], body["trucksOnboarded"]) == (
            0,
            0.0,
            0,
            0,
        )
        assert body["passRate"] is None and body["units"] == []

    @pytest.mark.parametrize(
        "params",
        [
            {"startDate": "2031-03-10", "endDate": "2031-03-01"},
            {"startDate": "2030-01-01", "endDate": "2031-01-02"},  # 367 days
            {"startDate": "2031-03-01"},
            {"endDate": "2031-03-01"},
            {"startDate": "2031-02-30", "endDate": "2031-03-01"},
            {"startDate": "yesterday", "endDate": "2031-03-01"},
        ],
    )
    async def test_bad_ranges_are_400(self, h: Harness, params: dict[str, str]) -> None:
        hq = await insert_franchise(h, kind="HQ", parent_id=None)
        unit_staff = await staff(
            h, Role.FRANCHISE_DISTRICT, await insert_franchise(h, kind="DISTRICT", parent_id=hq)
        )

        response = await h.client.get("/v1/franchise/reports", params=params, headers=unit_staff.headers)

        assert_error(response, 400, "VALIDATION_ERROR")

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            # Once a 500: IST midnight of year 1 cannot be converted to UTC (Schemathesis found it).
            ({"startDate": "0001-01-01", "endDate": "0001-01-01"}, "query.startDate"),
            # Once a 500: the day after 9999-12-31 does not exist.
            ({"startDate": "2999-12-31", "endDate": "9999-12-31"}, "query.endDate"),
        ],
    )
    async def test_dates_outside_the_years_2000_to_2999_are_400(
        self, h: Harness, params: dict[str, str], field: str
    ) -> None:
        hq = await insert_franchise(h, kind="HQ", parent_id=None)
        district = await staff(
            h, Role.FRANCHISE_DISTRICT, await insert_franchise(h, kind="DISTRICT", parent_id=hq)
        )

        response = await h.client.get("/v1/franchise/reports", params=params, headers=district.headers)

        body = assert_error(response, 400, "VALIDATION_ERROR")
        assert body["details"]["field"] == field
        assert "between 2000-01-01 and 2999-12-31" in body["details"]["error"]

    async def test_a_full_leap_year_is_allowed(self, h: Harness) -> None:
        hq = await insert_franchise(h, kind="HQ", parent_id=None)
        session = await staff(
            h, Role.FRANCHISE_DISTRICT, await insert_franchise(h, kind="DISTRICT", parent_id=hq)
        )

        body = await report(h, session, startDate="2028-01-01", endDate="2028-12-31")

        assert body["period"] == "2028-01-01/2028-12-31"

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR, Role.SHIPPER, Role.KYC_ADMIN])
    async def test_other_roles_are_refused(self, h: Harness, role: Role) -> None:
        session = await session_with_role(h, role)
        response = await h.client.get("/v1/franchise/reports", params=RANGE, headers=session.headers)
        assert_error(response, 403, "FORBIDDEN")
