"""Partner API keys at work: `X-API-Key` acts as the key's owner on the routes open to partners,
limited to the key's scopes; every other route ignores it; a refused key is always the same 401."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import httpx
import pytest

from rodistaa.core.roles import Role, UserStatus
from rodistaa.ops.logging import configure_logging
from tests.api.acs_setup import insert_block
from tests.api.booking_flows import booking_body
from tests.api.flows import admin_session
from tests.api.freight_setup import seeded_trip, verified_user
from tests.api.test_tracking_pings import MUMBAI, at, batch, driver_trip, fix, ping_ok
from tests.apikeys.flows import (
    ADMIN_KEYS,
    assert_unauthorized,
    create_key,
    get_with_key,
    key_headers,
    key_row,
    revoke,
    set_user_status,
)
from tests.conftest import Harness
from tests.webhooks.flows import subscription_row


def assert_insufficient_scope(response: httpx.Response, scope: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == {
        "code": "INSUFFICIENT_SCOPE",
        "message": "The API key does not grant access to this route",
        "details": {"requiredScope": scope},
    }


class TestTrackingKey:
    async def test_reads_the_owners_tracking_and_is_refused_elsewhere(self, harness: Harness) -> None:
        trip, driver = await driver_trip(harness)
        await ping_ok(harness, driver, batch(trip.shipment_id, [fix(at(harness, -60), MUMBAI)]))
        admin = await admin_session(harness)
        key = (await create_key(harness, admin, trip.shipper.user_id, ["tracking:read"]))["key"]
        shipment = trip.shipment_id

        for path in (f"/v1/tracking/{shipment}", f"/v1/tracking/{shipment}/latest"):
            by_key = await get_with_key(harness, key, path)
            assert by_key.status_code == 200, by_key.text
            assert by_key.json() == (await harness.client.get(path, headers=trip.shipper.headers)).json()

        # Open to partners, but not with this scope.
        for path in (
            "/v1/bookings",
            f"/v1/bookings/{trip.booking_id}",
            "/v1/shipments",
            f"/v1/shipments/{shipment}",
        ):
            assert_insufficient_scope(await get_with_key(harness, key, path), "bookings:read")
        assert_insufficient_scope(await get_with_key(harness, key, "/v1/webhooks"), "webhooks:manage")

        # Not open to partners at all: the key is no credential there.
        headers = key_headers(key)
        assert_unauthorized(await harness.client.post("/v1/bookings", json=booking_body(), headers=headers))
        assert_unauthorized(
            await harness.client.post(f"/v1/bookings/{trip.booking_id}/cancel", headers=headers)
        )
        for path in (
            "/v1/users/me",
            "/v1/notifications",
            "/v1/tracking/alerts",
            f"/v1/shipments/{shipment}/otp",
        ):
            assert_unauthorized(await get_with_key(harness, key, path))

    async def test_another_shippers_shipment_is_404(self, harness: Harness) -> None:
        mine = await seeded_trip(harness)
        theirs = await seeded_trip(harness)
        admin = await admin_session(harness)
        key = (await create_key(harness, admin, mine.shipper.user_id, ["tracking:read"]))["key"]
        for path in (f"/v1/tracking/{theirs.shipment_id}", f"/v1/tracking/{theirs.shipment_id}/latest"):
            response = await get_with_key(harness, key, path)
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "NOT_FOUND"


class TestBookingsKey:
    async def test_reads_only_what_the_owner_sees(self, harness: Harness) -> None:
        mine = await seeded_trip(harness)
        theirs = await seeded_trip(harness)
        admin = await admin_session(harness)
        key = (await create_key(harness, admin, mine.shipper.user_id, ["bookings:read"]))["key"]

        bookings = await get_with_key(harness, key, "/v1/bookings")
        assert bookings.status_code == 200
        assert [b["id"] for b in bookings.json()["data"]] == [mine.booking_id]
        shipments = await get_with_key(harness, key, "/v1/shipments")
        assert [s["id"] for s in shipments.json()["data"]] == [mine.shipment_id]
        for path in (f"/v1/bookings/{mine.booking_id}", f"/v1/shipments/{mine.shipment_id}"):
            by_key = await get_with_key(harness, key, path)
            assert by_key.status_code == 200
            assert by_key.json() == (await harness.client.get(path, headers=mine.shipper.headers)).json()
        for path in (f"/v1/bookings/{theirs.booking_id}", f"/v1/shipments/{theirs.shipment_id}"):
            assert (await get_with_key(harness, key, path)).status_code == 404

        assert_insufficient_scope(
            await get_with_key(harness, key, f"/v1/tracking/{mine.shipment_id}"), "tracking:read"
        )

    async def test_an_operators_key_sees_bookings_as_the_operator_does(self, harness: Harness) -> None:
        trip = await seeded_trip(harness)
        admin = await admin_session(harness)
        key = (await create_key(harness, admin, trip.operator.user_id, ["bookings:read"]))["key"]
        by_key = await get_with_key(harness, key, "/v1/bookings")
        by_session = await harness.client.get("/v1/bookings", headers=trip.operator.headers)
        assert by_key.status_code == 200
        assert by_key.json() == by_session.json()
        shipment = await get_with_key(harness, key, f"/v1/shipments/{trip.shipment_id}")
        assert shipment.status_code == 200


class TestWebhooksKey:
    async def test_an_admin_key_manages_webhooks_as_its_owner(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        key = (await create_key(harness, admin, admin.user_id, ["webhooks:manage"]))["key"]
        registered = await harness.client.post(
            "/v1/webhooks/register",
            json={"url": "https://partner.example.com/hooks", "events": ["booking.created"]},
            headers=key_headers(key),
        )
        assert registered.status_code == 201, registered.text
        listed = await get_with_key(harness, key, "/v1/webhooks")
        assert [w["id"] for w in listed.json()["data"]] == [registered.json()["id"]]
        assert (await subscription_row(harness, registered.json()["id"]))["created_by"] == admin.user_id

    async def test_an_admin_key_without_the_scope_is_refused(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        key = (await create_key(harness, admin, admin.user_id, ["tracking:read", "bookings:read"]))["key"]
        assert_insufficient_scope(await get_with_key(harness, key, "/v1/webhooks"), "webhooks:manage")
        # Admin routes that are not open to partners ignore the key.
        assert_unauthorized(await get_with_key(harness, key, "/v1/admin/users"))


class TestRefusals:
    async def test_every_bad_key_is_the_same_401(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_user(harness, Role.SHIPPER)
        good = await create_key(harness, admin, shipper.user_id, ["bookings:read"])
        key = good["key"]
        assert (await get_with_key(harness, key, "/v1/bookings")).status_code == 200
        last_used = (await key_row(harness, good["id"]))["last_used_at"]
        harness.clock.advance(minutes=2)
        wrong_secret = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        unknown_prefix = "rk_" + "Z" * 12 + key[15:]
        for presented in (wrong_secret, unknown_prefix, key[:-1], "rk_short", key + "x", "Bearer " + key):
            assert_unauthorized(await get_with_key(harness, presented, "/v1/bookings"))
        assert_unauthorized(await harness.client.get("/v1/bookings"))  # nothing at all
        # A refused attempt is not a use of the key.
        assert (await key_row(harness, good["id"]))["last_used_at"] == last_used

    async def test_a_revoked_key_fails_on_the_very_next_request(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_user(harness, Role.SHIPPER)
        created = await create_key(harness, admin, shipper.user_id, ["bookings:read"])
        assert (await get_with_key(harness, created["key"], "/v1/bookings")).status_code == 200
        assert (await revoke(harness, admin, created["id"])).status_code == 200
        assert_unauthorized(await get_with_key(harness, created["key"], "/v1/bookings"))

    async def test_a_key_stops_working_when_it_expires(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_user(harness, Role.SHIPPER)
        expires = harness.clock.now() + timedelta(minutes=10)
        created = await create_key(
            harness, admin, shipper.user_id, ["bookings:read"], expiresAt=expires.isoformat()
        )
        harness.clock.advance(minutes=9, seconds=59)
        assert (await get_with_key(harness, created["key"], "/v1/bookings")).status_code == 200
        harness.clock.advance(seconds=1)
        assert_unauthorized(await get_with_key(harness, created["key"], "/v1/bookings"))

    @pytest.mark.parametrize("standing", ["INACTIVE", "SUSPENDED", "BLOCKED", "ACS_BLOCK"])
    async def test_an_owner_who_may_not_act_disables_the_key(self, harness: Harness, standing: str) -> None:
        admin = await admin_session(harness)
        shipper = await verified_user(harness, Role.SHIPPER)
        created = await create_key(harness, admin, shipper.user_id, ["bookings:read"])
        if standing == "ACS_BLOCK":
            await insert_block(harness, "user", shipper.user_id)
        else:
            await set_user_status(harness, shipper.user_id, UserStatus(standing))
        assert_unauthorized(await get_with_key(harness, created["key"], "/v1/bookings"))

    async def test_with_both_headers_the_bearer_token_decides(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_user(harness, Role.SHIPPER)
        created = await create_key(harness, admin, shipper.user_id, ["bookings:read"])
        with_session = await harness.client.get(
            "/v1/bookings", headers={**shipper.headers, "X-API-Key": "rk_not-a-key"}
        )
        assert with_session.status_code == 200
        stale_bearer = {"Authorization": "Bearer expired", **key_headers(created["key"])}
        assert_unauthorized(await harness.client.get("/v1/bookings", headers=stale_bearer))


class TestLastUsed:
    async def test_written_on_use_at_most_once_a_minute(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_user(harness, Role.SHIPPER)
        created = await create_key(harness, admin, shipper.user_id, ["bookings:read"])
        assert (await key_row(harness, created["id"]))["last_used_at"] is None
        first_use = harness.clock.now()

        assert (await get_with_key(harness, created["key"], "/v1/bookings")).status_code == 200
        assert (await key_row(harness, created["id"]))["last_used_at"] == first_use
        harness.clock.advance(seconds=60)
        assert (await get_with_key(harness, created["key"], "/v1/bookings")).status_code == 200
        assert (await key_row(harness, created["id"]))["last_used_at"] == first_use
        harness.clock.advance(seconds=1)
        assert (await get_with_key(harness, created["key"], "/v1/bookings")).status_code == 200
        assert (await key_row(harness, created["id"]))["last_used_at"] == first_use + timedelta(seconds=61)

        shown = await harness.client.get(f"{ADMIN_KEYS}/{created['id']}", headers=admin.headers)
        assert shown.json()["lastUsedAt"] is not None


async def test_keys_and_hashes_never_reach_the_log_stream(harness: Harness) -> None:
    stream = io.StringIO()
    try:
        configure_logging("DEBUG", json=True, stream=stream)
        admin = await admin_session(harness)
        shipper = await verified_user(harness, Role.SHIPPER)
        created = await create_key(harness, admin, shipper.user_id, ["bookings:read"])
        assert (await get_with_key(harness, created["key"], "/v1/bookings")).status_code == 200
        await get_with_key(harness, created["key"], "/v1/tracking/alerts")  # 401: not a partner route
        await get_with_key(harness, created["key"][:-1] + "x", "/v1/bookings")  # 401: wrong secret
        rotated = await harness.client.post(f"{ADMIN_KEYS}/{created['id']}/rotate", headers=admin.headers)
        await revoke(harness, admin, rotated.json()["id"])
    finally:
        configure_logging("INFO")

    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert sum(1 for line in lines if line["event"] == "request") >= 6
    stored_hash = (await key_row(harness, created["id"]))["secret_hash"]
    for secret in (created["key"], created["key"][16:], rotated.json()["key"], stored_hash):
        assert secret not in text, "a key or its hash reached the log stream"
