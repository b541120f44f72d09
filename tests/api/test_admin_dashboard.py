"""The admin dashboard (PRODUCT §8): every number equals what the test created, counted over
the IST day and month of the pinned clock."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import update

from rodistaa.acs.tables import acs_blocks, acs_events, tickets
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.db.tables import refresh_token_families, refresh_tokens
from rodistaa.ledger.tables import ledger_entries
from tests.api.booking_flows import session_with_role
from tests.api.flows import admin_session
from tests.api.franchise_ops_flows import (
    EARLIER_THIS_MONTH,
    FIRST_INSTANT_OF_TODAY_IST,
    LAST_MINUTE_OF_YESTERDAY_IST,
    LAST_MONTH,
    YESTERDAY,
    assert_error,
    bid_at,
    booking_at,
    pin_clock,
)
from tests.api.onboarding_setup import PUNE, operator_session
from tests.conftest import Harness


@pytest.fixture
async def h(harness: Harness) -> Harness:
    pin_clock(harness)
    return harness


async def insert(h: Harness, table: object, **values: object) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(table.insert().values(**values))  # type: ignore[attr-defined]


async def acs_event(h: Harness, *, at: datetime, matched: list[str], outcome: str = "ALLOW") -> None:
    await insert(
        h,
        acs_events,
        event_id=new_id("EVT"),
        event_type="test.event",
        at=at,
        actor_id=None,
        event="{}",
        context="{}",
        facts="{}",
        outcome=outcome,
        code=None,
        rule_id=matched[0] if matched else None,
        matched=json.dumps(matched, separators=(",", ":")),
        revision="test",
    )


async def ticket(h: Harness, status: str) -> None:
    now = h.clock.now()
    await insert(
        h,
        tickets,
        id=new_id("TKT"),
        team="fraud",
        kind="REVIEW",
        summary="s",
        refs="{}",
        status=status,
        created_at=now,
        updated_at=now,
    )


async def block(h: Harness, *, expires_at: datetime | None = None, lifted: bool = False) -> None:
    now = h.clock.now()
    await insert(
        h,
        acs_blocks,
        id=new_id("BLK"),
        entity_type="user",
        entity_id=new_id("USR"),
        reason="test",
        severity="HIGH",
        source="ADMIN",
        created_at=now,
        expires_at=expires_at,
        lifted_at=now if lifted else None,
    )


async def fee(
    h: Harness, operator_id: str, paise: int, at: datetime, entry_type: str = "BIDDING_FEE"
) -> None:
    await insert(
        h,
        ledger_entries,
        id=new_id("LED"),
        operator_id=operator_id,
        type=entry_type,
        amount_paise=paise,
        balance_after_paise=1_000_000,
        description="test",
        created_by="test",
        created_at=at,
    )


async def move_sessions_to(h: Harness, user_id: str, at: datetime) -> None:
    """As if the user's only login and refreshes happened at `at`."""
    async with h.app.state.services.db.transaction() as conn:
        families = refresh_token_families.select().where(refresh_token_families.c.user_id == user_id)
        ids = [r.id for r in (await conn.execute(families)).all()]
        await conn.execute(
            update(refresh_tokens).where(refresh_tokens.c.family_id.in_(ids)).values(created_at=at)
        )


class TestAdminDashboard:
    async def test_numbers_equal_what_was_created(self, h: Harness) -> None:
        admin = await admin_session(h)
        shipper = await session_with_role(h, Role.SHIPPER)
        operator = await operator_session(h, "+919320000003")
        yesterdays_user = await session_with_role(h, Role.DRIVER)
        await move_sessions_to(h, yesterdays_user.user_id, LAST_MINUTE_OF_YESTERDAY_IST)
        midnight_user = await session_with_role(h, Role.KYC_ADMIN)
        await move_sessions_to(h, midnight_user.user_id, FIRST_INSTANT_OF_TODAY_IST)
        refreshed = await h.client.post("/v1/auth/refresh", json={"refreshToken": shipper.refresh_token})
        assert refreshed.status_code == 200, refreshed.text  # a second token, still one user
        # Bookings: 3 today (2 OPEN, 1 CANCELLED), 1 yesterday FINALIZED.
        today = h.clock.now()
        s = shipper.user_id
        b1 = await booking_at(h, s, pickup=PUNE, created_at=today)
        await booking_at(h, s, pickup=PUNE, created_at=FIRST_INSTANT_OF_TODAY_IST)
        await booking_at(h, s, pickup=PUNE, created_at=today, status="CANCELLED")
        await booking_at(h, s, pickup=PUNE, created_at=YESTERDAY, status="FINALIZED")
        # Bids: 2 today, 1 in yesterday's last minute.
        op = operator.user_id
        await bid_at(h, b1, op, fee_paise=500, created_at=today)
        await bid_at(h, b1, op, fee_paise=250, created_at=FIRST_INSTANT_OF_TODAY_IST)
        await bid_at(h, b1, op, fee_paise=100, created_at=LAST_MINUTE_OF_YESTERDAY_IST)
        # ACS: 3 matches today (1 rejected), 1 event today that matched nothing, 1 match yesterday.
        await acs_event(h, at=today, matched=["RF01"])
        await acs_event(h, at=today, matched=["RF02", "RF03"], outcome="REJECT")
        await acs_event(h, at=FIRST_INSTANT_OF_TODAY_IST, matched=["RF04"])
        await acs_event(h, at=today, matched=[])
        await acs_event(h, at=LAST_MINUTE_OF_YESTERDAY_IST, matched=["RF01"], outcome="REJECT")
        for status in ("OPEN", "OPEN", "IN_PROGRESS", "RESOLVED"):
            await ticket(h, status)
        await block(h)
        await block(h, expires_at=today.replace(year=2032))
        await block(h, expires_at=YESTERDAY)
        await block(h, lifted=True)
        # Fees: today 5 + 2.50 rupees, earlier this month 10, last month 20; a deposit is not revenue.
        await fee(h, op, -500, today)
        await fee(h, op, -250, FIRST_INSTANT_OF_TODAY_IST)
        await fee(h, op, -1_000, EARLIER_THIS_MONTH)
        await fee(h, op, -2_000, LAST_MONTH)
        await fee(h, op, 100_000, today, entry_type="DEPOSIT")

        response = await h.client.get("/v1/admin/dashboard", headers=admin.headers)

        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body)[:5] == ["dau", "bookings", "bids", "flaggedIncidents", "totalRevenue"]
        logged_in_today = {admin.user_id, shipper.user_id, operator.user_id, midnight_user.user_id}
        assert body["dau"] == len(logged_in_today)
        assert (body["bookings"], body["bids"], body["flaggedIncidents"]) == (3, 2, 3)
        assert body["totalRevenue"] == 17.5
        assert (body["day"], body["period"]) == ("2031-03-15", "2031-03")
        assert body["bookingsByStatus"] == {
            "OPEN": 2,
            "NEGOTIATION": 0,
            "FINALIZED": 1,
            "AUTO_FINALIZED": 0,
            "CANCELLED": 1,
        }
        assert body["flagged"] == {
            "acsMatchesToday": 3,
            "acsRejectionsToday": 1,
            "openTickets": 3,
            "activeBlocks": 2,
        }
        assert body["revenue"] == {"today": 7.5, "thisMonth": 17.5, "total": 37.5}

    async def test_an_empty_platform_shows_zeros(self, h: Harness) -> None:
        admin = await admin_session(h)

        body = (await h.client.get("/v1/admin/dashboard", headers=admin.headers)).json()

        assert (body["dau"], body["bookings"], body["bids"], body["flaggedIncidents"]) == (1, 0, 0, 0)
        assert body["totalRevenue"] == 0.0 and body["revenue"] == {
            "today": 0.0,
            "thisMonth": 0.0,
            "total": 0.0,
        }

    @pytest.mark.parametrize(
        "role",
        [
            Role.SHIPPER,
            Role.OPERATOR,
            Role.DRIVER,
            Role.KYC_ADMIN,
            Role.FRANCHISE_UNIT,
            Role.FRANCHISE_DISTRICT,
        ],
    )
    async def test_other_roles_are_refused(self, h: Harness, role: Role) -> None:
        session = await session_with_role(h, role)
        assert_error(await h.client.get("/v1/admin/dashboard", headers=session.headers), 403, "FORBIDDEN")

    async def test_anonymous_callers_are_401(self, h: Harness) -> None:
        assert (await h.client.get("/v1/admin/dashboard")).status_code == 401
