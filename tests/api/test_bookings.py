"""Bookings (PRODUCT §6 "Booking" and "Cancellation"): creation priced by the estimator, ids
from the per-day counter, ACS RF01 for unverified shippers, visibility by role (operators never
see the expected price), and cancellation as a claim."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from rodistaa.acs.tables import outbox_events
from rodistaa.bookings.tables import bookings
from rodistaa.core.roles import Role
from rodistaa.db.tables import booking_day_counters
from tests.api.booking_flows import (
    DELHI,
    MUMBAI,
    booking_body,
    cancel_booking,
    create_booking,
    next_mobile,
    post_booking,
    session_with_role,
    shipper_session,
    verified_shipper,
)
from tests.api.flows import Session, admin_session, sign_in
from tests.api.kyc_flows import kyc_admin_session, upload_document
from tests.conftest import Harness

# Mumbai -> Delhi (the contract's example), 5 t at the default ₹2.5/tonne-km, worked by hand:
# haversine 1148.0965 km x 1.3 = 1492.5254 -> 1492.53 km; 2.5 x 5 x 1492.53 = ₹18,656.625, a tie
# that half-up rounds to ₹18,656.63 (banker's rounding would give .62); 90 % = 1,679,096.7 paise
# -> ₹16,790.97 and 110 % = 2,052,229.3 paise -> ₹20,522.29.
MUMBAI_DELHI_KM = 1492.53
MUMBAI_DELHI_5T_PRICE = 18656.63
MUMBAI_DELHI_5T_RANGE = {"min": 16790.97, "max": 20522.29}
NON_SHIPPER_ROLES = [Role.OPERATOR, Role.DRIVER, Role.ADMIN, Role.KYC_ADMIN, Role.FRANCHISE_UNIT]
NON_READER_ROLES = [Role.DRIVER, Role.KYC_ADMIN, Role.FRANCHISE_UNIT, Role.FRANCHISE_DISTRICT]


# --- helpers -----------------------------------------------------------------------------------


async def booking_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = (await conn.execute(select(bookings).order_by(bookings.c.id))).mappings().all()
    return [dict(r) for r in rows]


async def booking_row(h: Harness, booking_id: str) -> dict[str, Any]:
    [row] = [r for r in await booking_rows(h) if r["id"] == booking_id]
    return row


async def outbox(h: Harness, name: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        rows = (
            await conn.execute(
                select(outbox_events).where(outbox_events.c.name == name).order_by(outbox_events.c.id)
            )
        ).mappings()
        return [dict(r, payload=json.loads(r["payload"])) for r in rows]


async def counters(h: Harness) -> dict[str, int]:
    async with h.app.state.services.db.read() as conn:
        return {day: value for day, value in (await conn.execute(select(booking_day_counters))).all()}


async def set_status(h: Harness, booking_id: str, status: str) -> None:
    """Bids and finalization arrive with later issues; until then tests move the state here."""
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(update(bookings).where(bookings.c.id == booking_id).values(status=status))


async def audit_api(h: Harness, admin: Session, **params: str) -> list[dict[str, Any]]:
    """Audit entries through the API. The chain outlives each test's emptied tables (booking
    ids start at 0001 again), so callers filter on ids only this test has (users, events)."""
    response = await h.client.get(
        "/v1/admin/audit", params={"pageSize": 100, **params}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def audit_by(h: Harness, admin: Session, actors: list[Session], **params: str) -> list[dict[str, Any]]:
    entries = []
    for actor in actors:
        entries += await audit_api(h, admin, performedBy=actor.user_id, **params)
    return entries


def utc_day(h: Harness) -> str:
    return h.clock.now().astimezone(UTC).strftime("%Y%m%d")


def advance_to_utc_hour(h: Harness, hour: int) -> None:
    """Move the clock forward to the next time of day `hour`:00 UTC."""
    now = h.clock.now()
    target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    h.clock.advance(seconds=(target - now).total_seconds())


def assert_refused(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["code"], body["details"]["field"]) == ("VALIDATION_ERROR", field), body


def without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


# --- create --------------------------------------------------------------------------------------


class TestCreateBooking:
    async def test_verified_shipper_creates_a_booking_priced_by_the_estimator(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_shipper(harness)
        now = harness.clock.now()
        response = await post_booking(harness, shipper)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["id"] == f"RID-{utc_day(harness)}-0001"
        assert (body["shipperId"], body["status"]) == (shipper.user_id, "OPEN")
        assert (body["pickup"], body["drop"]) == (MUMBAI, DELHI)
        assert body["goods"] == {"type": "Cement", "weight": 5000.0, "packaging": "Bags"}
        assert (body["tonnage"], body["distanceKm"]) == (5.0, MUMBAI_DELHI_KM)
        assert (body["expectedPrice"], body["priceRange"]) == (MUMBAI_DELHI_5T_PRICE, MUMBAI_DELHI_5T_RANGE)
        assert datetime.fromisoformat(body["createdAt"]) == now
        assert datetime.fromisoformat(body["autoFinalizeAt"]) == now + timedelta(hours=24)
        assert body["pickupDate"] is None and body["cancelReason"] is None

        row = await booking_row(harness, body["id"])
        assert (row["shipper_id"], row["status"], row["goods_type"]) == (shipper.user_id, "OPEN", "Cement")
        assert (row["expected_price_paise"], row["price_min_paise"], row["price_max_paise"]) == (
            1_865_663,
            1_679_097,
            2_052_229,
        )
        assert (float(row["tonnage"]), float(row["distance_km"])) == (5.0, MUMBAI_DELHI_KM)
        assert (row["pickup_pincode"], row["drop_city"]) == ("400001", "Delhi")
        assert await counters(harness) == {utc_day(harness): 1}

        [event] = await outbox(harness, "booking.created")
        assert event["payload"] == {
            "bookingId": body["id"],
            "shipperId": shipper.user_id,
            "status": "OPEN",
            "tonnage": 5.0,
            "distanceKm": MUMBAI_DELHI_KM,
            "priceRange": MUMBAI_DELHI_5T_RANGE,
        }
        [entry] = await audit_by(harness, admin, [shipper], action="booking.created", entityId=body["id"])
        assert entry["performedBy"] == shipper.user_id
        assert without(entry["metadata"], "acsEventId") == {
            "shipperId": shipper.user_id,
            "tonnage": 5.0,
            "distanceKm": MUMBAI_DELHI_KM,
            "expectedPrice": MUMBAI_DELHI_5T_PRICE,
            "priceRange": MUMBAI_DELHI_5T_RANGE,
        }
        assert entry["metadata"]["acsEventId"].startswith("EVT-")

    async def test_a_given_price_range_is_kept_and_the_expected_price_still_computed(
        self, harness: Harness
    ) -> None:
        shipper = await verified_shipper(harness)
        body = await create_booking(harness, shipper, priceRange={"min": 15000, "max": 20000.5})
        assert body["priceRange"] == {"min": 15000.0, "max": 20000.5}
        assert body["expectedPrice"] == MUMBAI_DELHI_5T_PRICE
        row = await booking_row(harness, body["id"])
        assert (row["price_min_paise"], row["price_max_paise"]) == (1_500_000, 2_000_050)

    async def test_min_equal_to_max_is_a_fixed_price(self, harness: Harness) -> None:
        shipper = await verified_shipper(harness)
        body = await create_booking(harness, shipper, priceRange={"min": 18000, "max": 18000})
        assert body["priceRange"] == {"min": 18000.0, "max": 18000.0}

    async def test_ten_tonnes_on_the_equator_rounds_the_range_half_up(self, harness: Harness) -> None:
        # One degree of longitude on the equator: 111.19508 km x 1.3 -> 144.55 km; 2.5 x 10 x
        # 144.55 = ₹3,613.75; 90 % = ₹3,252.375 -> 3,252.38 and 110 % = ₹3,975.125 -> 3,975.13
        # (banker's rounding would give 3,975.12).
        shipper = await verified_shipper(harness)
        pickup = dict(MUMBAI, coordinates={"lat": 0.0, "lng": 0.0})
        drop = dict(DELHI, coordinates={"lat": 0.0, "lng": 1.0})
        body = await create_booking(
            harness, shipper, pickup=pickup, drop=drop, tonnage=10, goods={"type": "Steel"}
        )
        assert (body["distanceKm"], body["expectedPrice"]) == (144.55, 3613.75)
        assert body["priceRange"] == {"min": 3252.38, "max": 3975.13}
        # Undeclared weight and packaging are absent, never null (the contract types them).
        assert body["goods"] == {"type": "Steel"}
        listed = await harness.client.get("/v1/bookings", headers=shipper.headers)
        assert listed.json()["data"][0]["goods"] == {"type": "Steel"}

    async def test_the_response_carries_no_phone_number(self, harness: Harness) -> None:
        mobile = next_mobile()
        shipper = await verified_shipper(harness, mobile=mobile)
        response = await post_booking(harness, shipper)
        assert response.status_code == 201
        assert mobile[-10:] not in response.text and f"******{mobile[-4:]}" not in response.text
        assert not {"mobile", "mobileMasked", "phone"} & set(response.json())

    async def test_pickup_dates_are_judged_in_ist(self, harness: Harness) -> None:
        # At 20:00 UTC it is already 01:30 the next day in India.
        advance_to_utc_hour(harness, 20)
        shipper = await verified_shipper(harness)
        utc_today = harness.clock.now().date()
        ist_today = utc_today + timedelta(days=1)
        accepted = await create_booking(harness, shipper, pickupDate=ist_today.isoformat())
        assert accepted["pickupDate"] == ist_today.isoformat()
        # The id still carries the UTC date of creation.
        assert accepted["id"] == f"RID-{utc_today:%Y%m%d}-0001"
        assert (await booking_row(harness, accepted["id"]))["pickup_date"] == ist_today
        last = ist_today + timedelta(days=365)
        assert (await create_booking(harness, shipper, pickupDate=last.isoformat()))[
            "pickupDate"
        ] == last.isoformat()
        yesterday_in_india = await post_booking(
            harness, shipper, booking_body(pickupDate=utc_today.isoformat())
        )
        assert_refused(yesterday_in_india, "pickupDate")
        too_far = await post_booking(
            harness, shipper, booking_body(pickupDate=(last + timedelta(days=1)).isoformat())
        )
        assert_refused(too_far, "pickupDate")
        assert len(await booking_rows(harness)) == 2

    async def test_anonymous_is_refused(self, harness: Harness) -> None:
        response = await harness.client.post("/v1/bookings", json=booking_body())
        assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")

    @pytest.mark.parametrize("role", NON_SHIPPER_ROLES)
    async def test_only_shippers_create_bookings(self, harness: Harness, role: Role) -> None:
        session = await session_with_role(harness, role)
        response = await post_booking(harness, session)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert await booking_rows(harness) == []


class TestConfiguredEstimator:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"freight_rate_per_tonne_km": "3.75", "bid_window_s": 3600}

    async def test_the_configured_rate_and_bid_window_are_used(self, harness: Harness) -> None:
        shipper = await verified_shipper(harness)
        body = await create_booking(harness, shipper)
        # 3.75 x 5 x 1492.53 = ₹27,984.9375 -> ₹27,984.94
        assert body["expectedPrice"] == 27984.94
        created = datetime.fromisoformat(body["createdAt"])
        assert datetime.fromisoformat(body["autoFinalizeAt"]) == created + timedelta(hours=1)


class TestKycRule:
    async def assert_rf01_refused(self, h: Harness, shipper: Session) -> None:
        admin = await admin_session(h)
        response = await post_booking(h, shipper)
        # The active bundle's RF01 sets no status, so ACS's default 403 applies (the contract
        # lists 422; see the report/compatibility notes).
        assert response.status_code == 403, response.text
        body = response.json()
        assert (body["code"], body["details"]["ruleId"]) == ("KYC_REQUIRED", "RF01_KYC_MANDATORY")
        assert await booking_rows(h) == []
        assert await counters(h) == {}
        assert await outbox(h, "booking.created") == []
        [flag] = await outbox(h, "fraud.flagged")
        assert flag["rule_id"] == "RF01_KYC_MANDATORY"
        assert flag["payload"] == {
            "reason": "KYC_NOT_VERIFIED",
            "userId": shipper.user_id,
            "action": "booking.create",
        }
        event_id = body["details"]["eventId"]
        hits = await audit_api(h, admin, action="acs.rule_matched", entityId=event_id)
        assert [hit["ruleId"] for hit in hits] == ["RF01_KYC_MANDATORY"]
        listed = await h.client.get("/v1/bookings", headers=shipper.headers)
        assert listed.json()["meta"]["total"] == 0

    async def test_a_shipper_without_kyc_is_refused(self, harness: Harness) -> None:
        await self.assert_rf01_refused(harness, await shipper_session(harness))

    async def test_a_shipper_with_kyc_pending_is_refused(self, harness: Harness) -> None:
        shipper = await shipper_session(harness)
        await upload_document(harness, shipper, "AADHAAR")
        await upload_document(harness, shipper, "PAN")
        await self.assert_rf01_refused(harness, shipper)

    async def test_the_shipper_may_book_once_verified(self, harness: Harness) -> None:
        kyc_admin = await kyc_admin_session(harness)
        shipper = await verified_shipper(harness, kyc_admin=kyc_admin)
        assert (await post_booking(harness, shipper)).status_code == 201


VALIDATION_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "lat above 90",
        {"pickup": dict(MUMBAI, coordinates={"lat": 90.5, "lng": 72.8})},
        "pickup.coordinates.lat",
    ),
    (
        "lng below -180",
        {"drop": dict(DELHI, coordinates={"lat": 28.6, "lng": -180.5})},
        "drop.coordinates.lng",
    ),
    ("lat missing", {"drop": dict(DELHI, coordinates={"lng": 77.2})}, "drop.coordinates.lat"),
    (
        "lat not a number",
        {"pickup": dict(MUMBAI, coordinates={"lat": "north", "lng": 72.8})},
        "pickup.coordinates.lat",
    ),
    ("five-digit pincode", {"pickup": dict(MUMBAI, pincode="40001")}, "pickup.pincode"),
    ("pincode starting 0", {"drop": dict(DELHI, pincode="011001")}, "drop.pincode"),
    ("pincode as a number", {"drop": dict(DELHI, pincode=110001)}, "drop.pincode"),
    ("blank address", {"pickup": dict(MUMBAI, address="   ")}, "pickup.address"),
    ("address too long", {"pickup": dict(MUMBAI, address="x" * 257)}, "pickup.address"),
    ("city missing", {"pickup": without(MUMBAI, "city")}, "pickup.city"),
    ("state missing", {"drop": without(DELHI, "state")}, "drop.state"),
    ("coordinates missing", {"drop": without(DELHI, "coordinates")}, "drop.coordinates"),
    ("pickup missing", {"pickup": None}, "pickup"),
    ("goods missing", {"goods": None}, "goods"),
    ("goods type blank", {"goods": {"type": ""}}, "goods.type"),
    ("goods weight negative", {"goods": {"type": "Cement", "weight": -1}}, "goods.weight"),
    ("goods weight 3 decimals", {"goods": {"type": "Cement", "weight": 1.005}}, "goods.weight"),
    ("packaging too long", {"goods": {"type": "Cement", "packaging": "p" * 65}}, "goods.packaging"),
    ("tonnage below 0.1", {"tonnage": 0.09}, "tonnage"),
    ("tonnage 3 decimals", {"tonnage": 5.125}, "tonnage"),
    ("tonnage above 100", {"tonnage": 100.01}, "tonnage"),
    ("tonnage missing", {"tonnage": None}, "tonnage"),
    ("tonnage a boolean", {"tonnage": True}, "tonnage"),
    ("range min zero", {"priceRange": {"min": 0, "max": 100}}, "priceRange.min"),
    ("range min negative", {"priceRange": {"min": -5, "max": 100}}, "priceRange.min"),
    ("range min 3 decimals", {"priceRange": {"min": 10.005, "max": 100}}, "priceRange.min"),
    ("range max below min", {"priceRange": {"min": 20000, "max": 19999.99}}, "priceRange.max"),
    ("range max missing", {"priceRange": {"min": 20000}}, "priceRange.max"),
    ("range max too large", {"priceRange": {"min": 1, "max": 100_000_000.01}}, "priceRange.max"),
    ("pickup date not a date", {"pickupDate": "15/01/2030"}, "pickupDate"),
    ("same place twice", {"drop": dict(DELHI, coordinates=dict(MUMBAI["coordinates"]))}, "drop.coordinates"),
    ("unknown field", {"expectedPrice": 1}, "expectedPrice"),
]


class TestCreateValidation:
    @pytest.mark.parametrize(
        ("changes", "field"), [c[1:] for c in VALIDATION_CASES], ids=[c[0] for c in VALIDATION_CASES]
    )
    async def test_invalid_requests_name_the_field(
        self, harness: Harness, changes: dict[str, Any], field: str
    ) -> None:
        shipper = await verified_shipper(harness)
        body = {k: v for k, v in booking_body(**changes).items() if v is not None}
        assert_refused(await post_booking(harness, shipper, body), field)
        assert await booking_rows(harness) == []
        assert await counters(harness) == {}

    async def test_a_date_before_today_is_refused(self, harness: Harness) -> None:
        shipper = await verified_shipper(harness)
        last_week = (harness.clock.now() - timedelta(days=7)).date().isoformat()
        assert_refused(await post_booking(harness, shipper, booking_body(pickupDate=last_week)), "pickupDate")

    async def test_a_body_that_is_not_json_is_refused(self, harness: Harness) -> None:
        shipper = await verified_shipper(harness)
        response = await harness.client.post(
            "/v1/bookings",
            content=b"pickup=Mumbai",
            headers={**shipper.headers, "Content-Type": "application/json"},
        )
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")


class TestBookingIds:
    async def test_numbers_follow_the_utc_day_and_restart_each_day(self, harness: Harness) -> None:
        mobile = next_mobile()
        shipper = await verified_shipper(harness, mobile=mobile)
        first_day = utc_day(harness)
        ids = [(await create_booking(harness, shipper))["id"] for _ in range(2)]
        assert ids == [f"RID-{first_day}-0001", f"RID-{first_day}-0002"]
        harness.clock.advance(days=1)
        shipper = await sign_in(harness, mobile)  # the earlier access token has expired
        next_day = utc_day(harness)
        assert (await create_booking(harness, shipper))["id"] == f"RID-{next_day}-0001"
        assert await counters(harness) == {first_day: 2, next_day: 1}

    async def test_the_counter_grows_a_fifth_digit_after_9999(self, harness: Harness) -> None:
        shipper = await verified_shipper(harness)
        day = utc_day(harness)
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(booking_day_counters.insert().values(day=day, last_value=9998))
        ids = [(await create_booking(harness, shipper))["id"] for _ in range(2)]
        assert ids == [f"RID-{day}-9999", f"RID-{day}-10000"]
        listed = await harness.client.get("/v1/bookings", headers=shipper.headers)
        # Same instant (the test clock stands still): the later number is listed first.
        assert [b["id"] for b in listed.json()["data"]] == [f"RID-{day}-10000", f"RID-{day}-9999"]

    async def test_concurrent_creations_get_distinct_consecutive_numbers(self, harness: Harness) -> None:
        kyc_admin = await kyc_admin_session(harness)
        shippers = [await verified_shipper(harness, kyc_admin=kyc_admin) for _ in range(2)]
        day = utc_day(harness)
        responses = await asyncio.gather(*(post_booking(harness, shippers[i % 2]) for i in range(50)))
        assert [r.status_code for r in responses] == [201] * 50, [
            r.text for r in responses if r.status_code != 201
        ]
        ids = sorted(r.json()["id"] for r in responses)
        assert ids == [f"RID-{day}-{n:04d}" for n in range(1, 51)]
        assert sorted(r["id"] for r in await booking_rows(harness)) == ids
        assert await counters(harness) == {day: 50}
        assert sorted(e["payload"]["bookingId"] for e in await outbox(harness, "booking.created")) == ids


# --- read --------------------------------------------------------------------------------------


class TestListBookings:
    async def test_each_role_sees_what_it_may(self, harness: Harness) -> None:
        kyc_admin = await kyc_admin_session(harness)
        admin = await admin_session(harness)
        mine, theirs = [await verified_shipper(harness, kyc_admin=kyc_admin) for _ in range(2)]
        operator = await session_with_role(harness, Role.OPERATOR)
        own = []
        for status in ("OPEN", "NEGOTIATION", "CANCELLED", "FINALIZED", "AUTO_FINALIZED"):
            booking = await create_booking(harness, mine)
            await set_status(harness, booking["id"], status)
            own.append(booking["id"])
            harness.clock.advance(seconds=1)
        other = (await create_booking(harness, theirs))["id"]

        async def listed(session: Session, **params: Any) -> dict[str, Any]:
            response = await harness.client.get("/v1/bookings", params=params, headers=session.headers)
            assert response.status_code == 200, response.text
            return dict(response.json())

        shipper_view = await listed(mine)
        assert [b["id"] for b in shipper_view["data"]] == own[::-1]  # newest first
        assert all(b["expectedPrice"] == MUMBAI_DELHI_5T_PRICE for b in shipper_view["data"])
        operator_view = await listed(operator)
        assert [b["id"] for b in operator_view["data"]] == [other, own[1], own[0]]
        assert all("expectedPrice" not in b for b in operator_view["data"])
        assert all(b["priceRange"] == MUMBAI_DELHI_5T_RANGE for b in operator_view["data"])
        admin_view = await listed(admin)
        assert [b["id"] for b in admin_view["data"]] == [other, *own[::-1]]
        assert all("expectedPrice" in b for b in admin_view["data"])
        assert admin_view["meta"] == {"page": 1, "pageSize": 20, "total": 6, "totalPages": 1}

    async def test_status_filter_narrows_and_never_widens(self, harness: Harness) -> None:
        shipper = await verified_shipper(harness)
        operator = await session_with_role(harness, Role.OPERATOR)
        open_id = (await create_booking(harness, shipper))["id"]
        cancelled_id = (await create_booking(harness, shipper))["id"]
        await set_status(harness, cancelled_id, "CANCELLED")
        get = harness.client.get
        own_cancelled = await get("/v1/bookings", params={"status": "CANCELLED"}, headers=shipper.headers)
        assert [b["id"] for b in own_cancelled.json()["data"]] == [cancelled_id]
        op_cancelled = await get("/v1/bookings", params={"status": "CANCELLED"}, headers=operator.headers)
        assert op_cancelled.json() == {
            "data": [],
            "meta": {"page": 1, "pageSize": 20, "total": 0, "totalPages": 0},
        }
        op_open = await get("/v1/bookings", params={"status": "OPEN"}, headers=operator.headers)
        assert [b["id"] for b in op_open.json()["data"]] == [open_id]

    async def test_pages(self, harness: Harness) -> None:
        shipper = await verified_shipper(harness)
        ids = []
        for _ in range(3):
            ids.append((await create_booking(harness, shipper))["id"])
            harness.clock.advance(seconds=1)
        response = await harness.client.get(
            "/v1/bookings", params={"page": 2, "pageSize": 2}, headers=shipper.headers
        )
        assert [b["id"] for b in response.json()["data"]] == [ids[0]]
        assert response.json()["meta"] == {"page": 2, "pageSize": 2, "total": 3, "totalPages": 2}

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"status": "DRAFT"}, "query.status"),
            ({"status": "open"}, "query.status"),
            ({"page": 0}, "query.page"),
            ({"pageSize": 101}, "query.pageSize"),
            ({"pageSize": "all"}, "query.pageSize"),
        ],
    )
    async def test_invalid_queries_name_the_parameter(
        self, harness: Harness, params: dict[str, Any], field: str
    ) -> None:
        shipper = await shipper_session(harness)
        assert_refused(
            await harness.client.get("/v1/bookings", params=params, headers=shipper.headers), field
        )

    async def test_anonymous_is_refused(self, harness: Harness) -> None:
        assert (await harness.client.get("/v1/bookings")).status_code == 401

    @pytest.mark.parametrize("role", NON_READER_ROLES)
    async def test_other_roles_are_forbidden(self, harness: Harness, role: Role) -> None:
        session = await session_with_role(harness, role)
        response = await harness.client.get("/v1/bookings", headers=session.headers)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")


class TestGetBooking:
    async def test_visibility_by_role_and_state(self, harness: Harness) -> None:
        kyc_admin = await kyc_admin_session(harness)
        admin = await admin_session(harness)
        owner, stranger = [await verified_shipper(harness, kyc_admin=kyc_admin) for _ in range(2)]
        operator = await session_with_role(harness, Role.OPERATOR)
        booking = await create_booking(harness, owner)
        path = f"/v1/bookings/{booking['id']}"

        async def get(session: Session) -> Any:
            return await harness.client.get(path, headers=session.headers)

        assert (await get(owner)).json() == booking
        assert (await get(admin)).json() == booking
        as_operator = await get(operator)
        assert as_operator.status_code == 200
        assert as_operator.json() == without(booking, "expectedPrice")
        assert "expectedPrice" not in as_operator.text
        stranger_view = await get(stranger)
        assert (stranger_view.status_code, stranger_view.json()["code"]) == (404, "NOT_FOUND")

        await set_status(harness, booking["id"], "NEGOTIATION")
        assert (await get(operator)).json()["status"] == "NEGOTIATION"
        for status in ("FINALIZED", "AUTO_FINALIZED", "CANCELLED"):
            await set_status(harness, booking["id"], status)
            assert (await get(operator)).status_code == 404
            assert (await get(owner)).json()["status"] == status
            assert (await get(admin)).status_code == 200

    async def test_an_unknown_id_is_not_found(self, harness: Harness) -> None:
        shipper = await shipper_session(harness)
        for booking_id in ("RID-20240115-0001", "not-an-id"):
            response = await harness.client.get(f"/v1/bookings/{booking_id}", headers=shipper.headers)
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")

    async def test_anonymous_is_refused(self, harness: Harness) -> None:
        shipper = await verified_shipper(harness)
        booking = await create_booking(harness, shipper)
        assert (await harness.client.get(f"/v1/bookings/{booking['id']}")).status_code == 401

    @pytest.mark.parametrize("role", NON_READER_ROLES)
    async def test_other_roles_are_forbidden(self, harness: Harness, role: Role) -> None:
        shipper = await verified_shipper(harness)
        booking = await create_booking(harness, shipper)
        session = await session_with_role(harness, role)
        response = await harness.client.get(f"/v1/bookings/{booking['id']}", headers=session.headers)
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")


# --- cancel ------------------------------------------------------------------------------------


class TestCancelBooking:
    async def test_the_owner_cancels_without_a_reason(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_shipper(harness)
        booking = await create_booking(harness, shipper)
        harness.clock.advance(minutes=5)
        response = await cancel_booking(harness, shipper, booking["id"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["cancelledBy"], body["cancelReason"]) == (
            "CANCELLED",
            shipper.user_id,
            None,
        )
        assert body["expectedPrice"] == MUMBAI_DELHI_5T_PRICE
        assert datetime.fromisoformat(body["updatedAt"]) == harness.clock.now()
        row = await booking_row(harness, booking["id"])
        assert (row["status"], row["cancelled_by"], row["cancel_reason"]) == (
            "CANCELLED",
            shipper.user_id,
            None,
        )
        [entry] = await audit_by(
            harness, admin, [shipper], action="booking.cancelled", entityId=booking["id"]
        )
        assert entry["metadata"] == {
            "from": "OPEN",
            "to": "CANCELLED",
            "shipperId": shipper.user_id,
            "cancelledByRole": "SHIPPER",
            "reasonGiven": False,
        }

    async def test_the_owner_cancels_a_booking_in_negotiation_with_a_reason(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_shipper(harness)
        booking = await create_booking(harness, shipper)
        await set_status(harness, booking["id"], "NEGOTIATION")
        response = await cancel_booking(harness, shipper, booking["id"], reason="  Plant shut for a week  ")
        assert response.status_code == 200, response.text
        assert response.json()["cancelReason"] == "Plant shut for a week"
        assert (await booking_row(harness, booking["id"]))["cancel_reason"] == "Plant shut for a week"
        [entry] = await audit_by(
            harness, admin, [shipper], action="booking.cancelled", entityId=booking["id"]
        )
        assert (entry["metadata"]["from"], entry["metadata"]["reasonGiven"]) == ("NEGOTIATION", True)
        assert "Plant" not in json.dumps(entry)

    async def test_an_admin_cancels_with_a_reason(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_shipper(harness)
        booking = await create_booking(harness, shipper)
        response = await cancel_booking(harness, admin, booking["id"], reason="Duplicate posting")
        assert response.status_code == 200, response.text
        assert (response.json()["cancelledBy"], response.json()["cancelReason"]) == (
            admin.user_id,
            "Duplicate posting",
        )
        row = await booking_row(harness, booking["id"])
        assert (row["status"], row["cancelled_by"]) == ("CANCELLED", admin.user_id)
        [entry] = await audit_by(harness, admin, [admin], action="booking.cancelled", entityId=booking["id"])
        assert entry["metadata"]["cancelledByRole"] == "ADMIN"

    @pytest.mark.parametrize("body", [{}, {"reason": "   "}, {"reason": None}, None])
    async def test_an_admin_must_give_a_reason(self, harness: Harness, body: dict[str, Any] | None) -> None:
        admin = await admin_session(harness)
        shipper = await verified_shipper(harness)
        booking = await create_booking(harness, shipper)
        path = f"/v1/bookings/{booking['id']}/cancel"
        if body is None:
            response = await harness.client.post(path, headers=admin.headers)
        else:
            response = await harness.client.post(path, json=body, headers=admin.headers)
        assert_refused(response, "reason")
        assert (await booking_row(harness, booking["id"]))["status"] == "OPEN"

    @pytest.mark.parametrize(
        ("body", "field"),
        [({"reason": "r" * 257}, "reason"), ({"reason": 5}, "reason"), ({"why": "x"}, "why")],
    )
    async def test_invalid_bodies_name_the_field(
        self, harness: Harness, body: dict[str, Any], field: str
    ) -> None:
        shipper = await verified_shipper(harness)
        booking = await create_booking(harness, shipper)
        response = await harness.client.post(
            f"/v1/bookings/{booking['id']}/cancel", json=body, headers=shipper.headers
        )
        assert_refused(response, field)
        assert (await booking_row(harness, booking["id"]))["status"] == "OPEN"

    @pytest.mark.parametrize("status", ["CANCELLED", "FINALIZED", "AUTO_FINALIZED"])
    async def test_only_a_booking_taking_bids_can_be_cancelled(self, harness: Harness, status: str) -> None:
        admin = await admin_session(harness)
        shipper = await verified_shipper(harness)
        booking = await create_booking(harness, shipper)
        await set_status(harness, booking["id"], status)
        before = await booking_row(harness, booking["id"])
        harness.clock.advance(minutes=1)
        for session, reason in ((shipper, None), (admin, "Cleanup")):
            response = await cancel_booking(harness, session, booking["id"], reason)
            assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")
        assert await booking_row(harness, booking["id"]) == before
        assert await audit_by(harness, admin, [shipper, admin], action="booking.cancelled") == []

    async def test_another_shipper_gets_not_found(self, harness: Harness) -> None:
        kyc_admin = await kyc_admin_session(harness)
        owner, stranger = [await verified_shipper(harness, kyc_admin=kyc_admin) for _ in range(2)]
        booking = await create_booking(harness, owner)
        response = await cancel_booking(harness, stranger, booking["id"])
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
        assert (await booking_row(harness, booking["id"]))["status"] == "OPEN"

    async def test_an_operator_sees_but_may_not_cancel(self, harness: Harness) -> None:
        shipper = await verified_shipper(harness)
        operator = await session_with_role(harness, Role.OPERATOR)
        booking = await create_booking(harness, shipper)
        response = await cancel_booking(harness, operator, booking["id"], reason="No trucks")
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert (await booking_row(harness, booking["id"]))["status"] == "OPEN"
        await set_status(harness, booking["id"], "FINALIZED")
        hidden = await cancel_booking(harness, operator, booking["id"])
        assert (hidden.status_code, hidden.json()["code"]) == (404, "NOT_FOUND")

    async def test_an_unknown_booking_is_not_found(self, harness: Harness) -> None:
        shipper = await shipper_session(harness)
        response = await cancel_booking(harness, shipper, "RID-20240115-0001")
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")

    async def test_anonymous_is_refused(self, harness: Harness) -> None:
        shipper = await verified_shipper(harness)
        booking = await create_booking(harness, shipper)
        response = await harness.client.post(f"/v1/bookings/{booking['id']}/cancel", json={})
        assert response.status_code == 401
        assert (await booking_row(harness, booking["id"]))["status"] == "OPEN"

    @pytest.mark.parametrize("role", NON_READER_ROLES)
    async def test_other_roles_are_forbidden(self, harness: Harness, role: Role) -> None:
        shipper = await verified_shipper(harness)
        booking = await create_booking(harness, shipper)
        session = await session_with_role(harness, role)
        response = await cancel_booking(harness, session, booking["id"], reason="Not mine")
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        assert (await booking_row(harness, booking["id"]))["status"] == "OPEN"

    async def test_concurrent_cancellations_succeed_exactly_once(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_shipper(harness)
        booking = await create_booking(harness, shipper)
        attempts = [cancel_booking(harness, shipper, booking["id"]) for _ in range(8)]
        attempts += [cancel_booking(harness, admin, booking["id"], "Ops cleanup") for _ in range(4)]
        responses = await asyncio.gather(*attempts)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [409] * 11, [r.text for r in responses]
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"INVALID_STATE"}
        [winner] = [r.json() for r in responses if r.status_code == 200]
        row = await booking_row(harness, booking["id"])
        assert (row["status"], row["cancelled_by"]) == ("CANCELLED", winner["cancelledBy"])
        entries = await audit_by(
            harness, admin, [shipper, admin], action="booking.cancelled", entityId=booking["id"]
        )
        assert [e["performedBy"] for e in entries] == [winner["cancelledBy"]]
