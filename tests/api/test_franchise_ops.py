"""Franchise operations (PRODUCT §9): the staff dashboard scoped to the caller's units, and the
monthly targets a district sets for its own units only."""

from __future__ import annotations

import asyncio
import json

import pytest

from rodistaa.core.roles import Role
from rodistaa.fleet.tables import TRUCK_STATUSES
from tests.api.booking_flows import session_with_role
from tests.api.flows import Session
from tests.api.franchise_ops_flows import (
    EARLIER_THIS_MONTH,
    FIRST_INSTANT_OF_TODAY_IST,
    LAST_MINUTE_OF_YESTERDAY_IST,
    LAST_MONTH,
    THIS_PERIOD,
    Zones,
    assert_error,
    audit_rows,
    inspection,
    pin_clock,
    staff,
    target_rows,
    truck,
)
from tests.api.onboarding_setup import NAGPUR, PUNE, insert_franchise, operator_session
from tests.conftest import Harness


@pytest.fixture
async def h(harness: Harness) -> Harness:
    pin_clock(harness)
    return harness


async def zones(h: Harness) -> Zones:
    hq = await insert_franchise(h, kind="HQ", parent_id=None)
    district_a = await insert_franchise(h, kind="DISTRICT", parent_id=hq)
    unit_a1 = await insert_franchise(h, kind="UNIT", parent_id=district_a, centre=PUNE, radius_m=20_000)
    unit_a2 = await insert_franchise(h, kind="UNIT", parent_id=district_a, centre=NAGPUR, radius_m=20_000)
    district_b = await insert_franchise(h, kind="DISTRICT", parent_id=hq)
    unit_b1 = await insert_franchise(h, kind="UNIT", parent_id=district_b, centre=NAGPUR, radius_m=5_000)
    return Zones(district_a, unit_a1, unit_a2, district_b, unit_b1)


def zeroed(**counts: int) -> dict[str, int]:
    return {status: counts.get(status, 0) for status in TRUCK_STATUSES}


async def seed_units(h: Harness, z: Zones, inspector: Session) -> None:
    """A1: 5 trucks (2 never inspected, 1 due again, 1 active, 1 active but blocked, one of them
    onboarded last month), 1 open inspection, this month 2 passed (1 today) and 1 failed, 1 ACS-
    refused, 1 passed last month and 1 passed in the last minute of yesterday.
    A2: 1 active truck, 1 passed at the first instant of today. B1: a truck and an inspection."""
    operator = await operator_session(h, "+919320000001")
    op = operator.user_id
    new_1 = await truck(h, op, z.unit_a1, "PENDING_INSPECTION")
    await truck(h, op, z.unit_a1, "PENDING_INSPECTION", created_at=LAST_MONTH)
    await truck(h, op, z.unit_a1, "NEEDS_INSPECTION")
    active = await truck(h, op, z.unit_a1, "ACTIVE")
    blocked = await truck(h, op, z.unit_a1, "ACTIVE")
    await block_truck(h, blocked)
    a1 = {"unit_id": z.unit_a1, "inspector_id": inspector.user_id}
    await inspection(h, truck_id=new_1, status="PENDING", **a1)
    await inspection(h, truck_id=active, status="PASSED", submitted_at=h.clock.now(), **a1)
    await inspection(h, truck_id=active, status="PASSED", submitted_at=EARLIER_THIS_MONTH, **a1)
    await inspection(h, truck_id=blocked, status="FAILED", submitted_at=EARLIER_THIS_MONTH, **a1)
    await inspection(h, truck_id=blocked, status="REJECTED", submitted_at=EARLIER_THIS_MONTH, **a1)
    await inspection(h, truck_id=active, status="PASSED", submitted_at=LAST_MONTH, **a1)
    await inspection(h, truck_id=active, status="PASSED", submitted_at=LAST_MINUTE_OF_YESTERDAY_IST, **a1)
    a2_truck = await truck(h, op, z.unit_a2, "ACTIVE")
    await inspection(
        h,
        truck_id=a2_truck,
        unit_id=z.unit_a2,
        inspector_id=inspector.user_id,
        status="PASSED",
        submitted_at=FIRST_INSTANT_OF_TODAY_IST,
    )
    b1_truck = await truck(h, op, z.unit_b1, "PENDING_INSPECTION")
    await inspection(
        h,
        truck_id=b1_truck,
        unit_id=z.unit_b1,
        inspector_id=inspector.user_id,
        status="PASSED",
        submitted_at=h.clock.now(),
    )
    await inspection(
        h, truck_id=b1_truck, unit_id=z.unit_b1, inspector_id=inspector.user_id, status="PENDING"
    )


async def block_truck(h: Harness, truck_id: str) -> None:
    from rodistaa.acs.tables import acs_blocks
    from rodistaa.core.ids import new_id

    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            acs_blocks.insert().values(
                id=new_id("BLK"),
                entity_type="truck",
                entity_id=truck_id,
                reason="test",
                severity="HIGH",
                source="ADMIN",
                created_at=h.clock.now(),
            )
        )


async def put_target(h: Harness, session: Session, **body: object) -> object:
    return await h.client.put("/v1/franchise/targets", json=body, headers=session.headers)


class TestDashboard:
    async def test_a_unit_sees_only_its_own_numbers(self, h: Harness) -> None:
        z = await zones(h)
        unit_staff = await staff(h, Role.FRANCHISE_UNIT, z.unit_a1)
        await seed_units(h, z, unit_staff)

        response = await h.client.get("/v1/franchise/dashboard", headers=unit_staff.headers)

        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body)[:3] == ["dailyActivity", "inspectionsQueue", "targets"]
        assert body["dailyActivity"] == 1  # the pass of today; yesterday's last minute is not today
        assert body["inspectionsQueue"] == 3  # 2 never inspected + 1 due again
        assert body["targets"] == []
        assert body["franchiseId"] == z.unit_a1 and body["kind"] == "UNIT" and body["period"] == THIS_PERIOD
        assert body["inspections"] == {
            "open": 1,
            "awaitingInspection": 3,
            "doneThisMonth": 4,  # today, yesterday's last minute, and two 5 days ago
            "passedThisMonth": 3,
            "failedThisMonth": 1,
            "doneToday": 1,
        }
        assert body["trucksByStatus"] == zeroed(PENDING_INSPECTION=2, NEEDS_INSPECTION=1, ACTIVE=1, BLOCKED=1)
        assert body["trucksOnboardedThisMonth"] == 4
        assert [u["unitId"] for u in body["units"]] == [z.unit_a1]

    async def test_a_district_sees_its_units_one_by_one_and_summed(self, h: Harness) -> None:
        z = await zones(h)
        district = await staff(h, Role.FRANCHISE_DISTRICT, z.district_a)
        await seed_units(h, z, await staff(h, Role.FRANCHISE_UNIT, z.unit_a1))

        body = (await h.client.get("/v1/franchise/dashboard", headers=district.headers)).json()

        assert body["franchiseId"] == z.district_a and body["kind"] == "DISTRICT"
        assert body["dailyActivity"] == 2  # A1's pass today and A2's at 00:00 IST; not B1's
        assert body["inspectionsQueue"] == 3
        assert body["inspections"]["open"] == 1
        assert body["inspections"]["doneThisMonth"] == 5
        assert body["trucksByStatus"] == zeroed(PENDING_INSPECTION=2, NEEDS_INSPECTION=1, ACTIVE=2, BLOCKED=1)
        assert body["trucksOnboardedThisMonth"] == 5
        units = {u["unitId"]: u for u in body["units"]}
        assert set(units) == {z.unit_a1, z.unit_a2}
        assert units[z.unit_a2]["inspections"]["doneToday"] == 1
        assert units[z.unit_a2]["trucksByStatus"] == zeroed(ACTIVE=1)

    async def test_the_dashboard_shows_this_months_targets_against_actuals(self, h: Harness) -> None:
        z = await zones(h)
        district = await staff(h, Role.FRANCHISE_DISTRICT, z.district_a)
        unit_staff = await staff(h, Role.FRANCHISE_UNIT, z.unit_a1)
        await seed_units(h, z, unit_staff)
        for unit, target_type, target in (
            (z.unit_a1, "monthly_inspections", 10),
            (z.unit_a1, "monthly_trucks_onboarded", 6),
            (z.unit_a2, "monthly_inspections", 3),
        ):
            ok = await put_target(
                h, district, unitId=unit, period=THIS_PERIOD, type=target_type, target=target
            )
            assert ok.status_code == 200, ok.text  # type: ignore[attr-defined]
        await put_target(
            h, district, unitId=z.unit_a1, period="2031-04", type="monthly_inspections", target=99
        )

        unit_view = (await h.client.get("/v1/franchise/dashboard", headers=unit_staff.headers)).json()
        district_view = (await h.client.get("/v1/franchise/dashboard", headers=district.headers)).json()

        assert [(t["type"], t["target"], t["current"], t["period"]) for t in unit_view["targets"]] == [
            ("monthly_inspections", 10, 4, THIS_PERIOD),
            ("monthly_trucks_onboarded", 6, 4, THIS_PERIOD),
        ]
        assert {(t["unitId"], t["type"], t["current"]) for t in district_view["targets"]} == {
            (z.unit_a1, "monthly_inspections", 4),
            (z.unit_a1, "monthly_trucks_onboarded", 4),
            (z.unit_a2, "monthly_inspections", 1),
        }

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR, Role.SHIPPER, Role.DRIVER, Role.KYC_ADMIN])
    async def test_other_roles_are_refused(self, h: Harness, role: Role) -> None:
        session = await session_with_role(h, role)
        for path in ("/v1/franchise/dashboard", "/v1/franchise/targets"):
            assert_error(await h.client.get(path, headers=session.headers), 403, "FORBIDDEN")

    async def test_staff_without_a_franchise_get_404(self, h: Harness) -> None:
        session = await staff(h, Role.FRANCHISE_UNIT, None)
        response = await h.client.get("/v1/franchise/dashboard", headers=session.headers)
        assert response.status_code == 404, response.text


class TestTargets:
    async def test_a_district_sets_and_replaces_a_target_for_its_unit(self, h: Harness) -> None:
        z = await zones(h)
        district = await staff(h, Role.FRANCHISE_DISTRICT, z.district_a)
        body = {"unitId": z.unit_a1, "period": THIS_PERIOD, "type": "monthly_inspections"}

        first = await put_target(h, district, **body, target=12)
        h.clock.advance(minutes=5)
        second = await put_target(h, district, **body, target=15)

        assert first.status_code == 200 and second.status_code == 200  # type: ignore[attr-defined]
        out = second.json()  # type: ignore[attr-defined]
        assert (out["unitId"], out["type"], out["target"], out["current"], out["setBy"]) == (
            z.unit_a1,
            "monthly_inspections",
            15,
            0,
            district.user_id,
        )
        rows = await target_rows(h)
        assert [(r["unit_id"], r["period"], r["target_type"], r["target"]) for r in rows] == [
            (z.unit_a1, THIS_PERIOD, "monthly_inspections", 15)
        ]
        assert rows[0]["updated_at"] > rows[0]["created_at"]
        audits = await audit_rows(h, "franchise.target_set", district.user_id)
        assert [json.loads(a["data"]) for a in audits] == [
            {
                "unitId": z.unit_a1,
                "districtId": z.district_a,
                "period": THIS_PERIOD,
                "type": "monthly_inspections",
                "target": 12,
                "previousTarget": None,
            },
            {
                "unitId": z.unit_a1,
                "districtId": z.district_a,
                "period": THIS_PERIOD,
                "type": "monthly_inspections",
                "target": 15,
                "previousTarget": 12,
            },
        ]
        assert {a["entity_id"] for a in audits} == {rows[0]["id"]}

    async def test_a_district_cannot_set_targets_for_another_districts_unit(self, h: Harness) -> None:
        z = await zones(h)
        district_b = await staff(h, Role.FRANCHISE_DISTRICT, z.district_b)

        response = await put_target(
            h, district_b, unitId=z.unit_a1, period=THIS_PERIOD, type="monthly_inspections", target=5
        )

        assert_error(response, 403, "NOT_YOUR_UNIT")  # type: ignore[arg-type]
        assert await target_rows(h) == []
        assert await audit_rows(h, "franchise.target_set", district_b.user_id) == []

    @pytest.mark.parametrize("which", ["unknown", "district", "hq_like"])
    async def test_an_id_that_is_not_a_unit_is_404(self, h: Harness, which: str) -> None:
        z = await zones(h)
        district = await staff(h, Role.FRANCHISE_DISTRICT, z.district_a)
        unit_id = {"unknown": "FRN-NOPE", "district": z.district_a, "hq_like": z.district_b}[which]

        response = await put_target(
            h, district, unitId=unit_id, period=THIS_PERIOD, type="monthly_inspections", target=5
        )

        assert_error(response, 404, "NOT_FOUND")  # type: ignore[arg-type]
        assert await target_rows(h) == []

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"target": -1}, "target"),
            ({"target": 1_000_001}, "target"),
            ({"type": "weekly_inspections"}, "type"),
            ({"period": "2031-13"}, "period"),
            ({"period": "2031-3"}, "period"),
            ({"period": "2031-02"}, "period"),  # a past month
            ({"extra": 1}, "extra"),
        ],
    )
    async def test_bad_input_is_400_and_stores_nothing(
        self, h: Harness, change: dict[str, object], field: str
    ) -> None:
        z = await zones(h)
        district = await staff(h, Role.FRANCHISE_DISTRICT, z.district_a)
        body = {
            "unitId": z.unit_a1,
            "period": THIS_PERIOD,
            "type": "monthly_inspections",
            "target": 5,
            **change,
        }

        response = await put_target(h, district, **body)

        error = assert_error(response, 400, "VALIDATION_ERROR")  # type: ignore[arg-type]
        assert field in json.dumps(error["details"])
        assert await target_rows(h) == []

    @pytest.mark.parametrize("role", [Role.FRANCHISE_UNIT, Role.ADMIN, Role.OPERATOR])
    async def test_only_district_staff_set_targets(self, h: Harness, role: Role) -> None:
        z = await zones(h)
        session = (
            await staff(h, Role.FRANCHISE_UNIT, z.unit_a1)
            if role is Role.FRANCHISE_UNIT
            else await session_with_role(h, role)
        )

        response = await put_target(
            h, session, unitId=z.unit_a1, period=THIS_PERIOD, type="monthly_inspections", target=5
        )

        assert_error(response, 403, "FORBIDDEN")  # type: ignore[arg-type]
        assert await target_rows(h) == []

    async def test_listing_is_scoped_and_filtered_by_period(self, h: Harness) -> None:
        z = await zones(h)
        district_a = await staff(h, Role.FRANCHISE_DISTRICT, z.district_a)
        district_b = await staff(h, Role.FRANCHISE_DISTRICT, z.district_b)
        unit_a2 = await staff(h, Role.FRANCHISE_UNIT, z.unit_a2)
        for session, unit, period in (
            (district_a, z.unit_a1, THIS_PERIOD),
            (district_a, z.unit_a2, THIS_PERIOD),
            (district_a, z.unit_a2, "2031-04"),
            (district_b, z.unit_b1, THIS_PERIOD),
        ):
            ok = await put_target(
                h, session, unitId=unit, period=period, type="monthly_trucks_onboarded", target=4
            )
            assert ok.status_code == 200  # type: ignore[attr-defined]

        async def listed(session: Session, **params: str) -> set[tuple[str, str]]:
            response = await h.client.get("/v1/franchise/targets", params=params, headers=session.headers)
            assert response.status_code == 200, response.text
            return {(t["unitId"], t["period"]) for t in response.json()}

        assert await listed(district_a) == {(z.unit_a1, THIS_PERIOD), (z.unit_a2, THIS_PERIOD)}
        assert await listed(district_a, period="2031-04") == {(z.unit_a2, "2031-04")}
        assert await listed(unit_a2) == {(z.unit_a2, THIS_PERIOD)}
        assert await listed(district_b) == {(z.unit_b1, THIS_PERIOD)}
        bad = await h.client.get("/v1/franchise/targets", params={"period": "March"}, headers=unit_a2.headers)
        assert_error(bad, 400, "VALIDATION_ERROR")

    async def test_concurrent_settings_of_one_target_keep_one_row_and_a_consistent_history(
        self, h: Harness
    ) -> None:
        z = await zones(h)
        district = await staff(h, Role.FRANCHISE_DISTRICT, z.district_a)
        values = list(range(1, 11))

        responses = await asyncio.gather(
            *(
                put_target(
                    h, district, unitId=z.unit_a1, period=THIS_PERIOD, type="monthly_inspections", target=v
                )
                for v in values
            )
        )

        assert [r.status_code for r in responses] == [200] * len(values)  # type: ignore[attr-defined]
        rows = await target_rows(h)
        assert len(rows) == 1
        history = [
            json.loads(a["data"]) for a in await audit_rows(h, "franchise.target_set", district.user_id)
        ]
        assert sorted(e["target"] for e in history) == values
        # Each write replaced the one before it in the audit chain: no lost update.
        assert [e["previousTarget"] for e in history] == [None] + [e["target"] for e in history[:-1]]
        assert rows[0]["target"] == history[-1]["target"]
