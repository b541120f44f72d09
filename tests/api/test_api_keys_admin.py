"""Partner API keys administered over HTTP: create (the key shown once, only its HMAC stored),
list, read, revoke, rotate; roles, validation and audit entries."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from rodistaa.core.roles import Role, UserStatus
from tests.api.booking_flows import session_with_role
from tests.api.flows import Session, admin_session, refreshed
from tests.api.freight_setup import verified_user
from tests.api.shipment_flows import audit_entries
from tests.apikeys.flows import (
    ADMIN_KEYS,
    assert_unauthorized,
    create_key,
    get_with_key,
    key_headers,
    key_row,
    key_rows,
    revoke,
    rotate,
    set_user_status,
)
from tests.conftest import TEST_HMAC_KEY, Harness

MISSING_ID = "APK-01J00000000000000000000000"
TRACKING = ["tracking:read"]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def assert_field_error(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert field in [f["field"] for f in body["details"]["fields"]], body


async def admin_and_shipper(h: Harness) -> tuple[Session, Session]:
    return await admin_session(h), await verified_user(h, Role.SHIPPER)


class TestCreate:
    async def test_the_key_is_shown_once_and_only_its_hmac_is_stored(self, harness: Harness) -> None:
        admin, shipper = await admin_and_shipper(harness)
        now = harness.clock.now()

        body = await create_key(harness, admin, shipper.user_id, ["tracking:read", "bookings:read"])

        key = body.pop("key")
        assert body["id"].startswith("APK-")
        assert key.startswith(body["prefix"] + "_")
        assert body == {
            "id": body["id"],
            "name": "Partner TMS",
            "prefix": body["prefix"],
            "scopes": ["tracking:read", "bookings:read"],
            "ownerUserId": shipper.user_id,
            "createdAt": body["createdAt"],
            "expiresAt": body["expiresAt"],
            "lastUsedAt": None,
            "revokedAt": None,
            "rotatedTo": None,
        }
        assert at(body["createdAt"]) == now
        assert at(body["expiresAt"]) == now + timedelta(days=365)  # absent: the maximum

        row = await key_row(harness, body["id"])
        assert "rk_" + row["prefix"] == body["prefix"]
        assert row["secret_hash"] != key
        expected_hash = hmac.new(TEST_HMAC_KEY.encode(), key.encode(), hashlib.sha256).hexdigest()
        assert row["secret_hash"] == expected_hash
        secret = key[len(body["prefix"]) + 1 :]
        for column, value in row.items():
            assert key not in str(value) and secret not in str(value), column
        assert (row["created_by"], row["owner_user_id"]) == (admin.user_id, shipper.user_id)

        [entry] = await audit_entries(harness, body["id"])
        assert (entry["action"], entry["actor"], entry["entity_type"]) == (
            "api_key.created",
            admin.user_id,
            "api_key",
        )
        assert entry["data"] == {
            "prefix": body["prefix"],
            "scopes": ["tracking:read", "bookings:read"],
            "ownerUserId": shipper.user_id,
            "expiresAt": row["expires_at"].isoformat(),
        }
        assert secret not in json.dumps(entry) and row["secret_hash"] not in json.dumps(entry)

    async def test_reads_show_neither_the_key_nor_the_hash(self, harness: Harness) -> None:
        admin, shipper = await admin_and_shipper(harness)
        created = await create_key(harness, admin, shipper.user_id, TRACKING)
        row = await key_row(harness, created["id"])
        one = await harness.client.get(f"{ADMIN_KEYS}/{created['id']}", headers=admin.headers)
        listed = await harness.client.get(ADMIN_KEYS, headers=admin.headers)
        assert (one.status_code, listed.status_code) == (200, 200)
        expected = {k: v for k, v in created.items() if k != "key"}
        assert one.json() == expected
        assert listed.json()["data"] == [expected]
        for response in (one, listed):
            assert created["key"] not in response.text and row["secret_hash"] not in response.text

    async def test_duplicate_scopes_are_dropped_and_an_expiry_is_kept(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        owner = await session_with_role(harness, Role.ADMIN)
        expires = harness.clock.now() + timedelta(days=30)
        body = await create_key(
            harness,
            admin,
            owner.user_id,
            ["webhooks:manage", "tracking:read", "webhooks:manage"],
            expiresAt=expires.isoformat(),
        )
        assert body["scopes"] == ["webhooks:manage", "tracking:read"]
        assert at(body["expiresAt"]) == expires
        assert json.loads((await key_row(harness, body["id"]))["scopes"]) == body["scopes"]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"name": "  "}, "name"),
            ({"name": "x" * 121}, "name"),
            ({"scopes": []}, "scopes"),
            ({"scopes": ["tracking:write"]}, "scopes.0"),
            ({"scopes": "tracking:read"}, "scopes"),
            ({"expiresAt": "2030-01-01T00:00:00"}, "expiresAt"),  # no time zone
            ({"expiresAt": "soon"}, "expiresAt"),
            ({"ownerUserId": ""}, "ownerUserId"),
            ({"secretHash": "00"}, "secretHash"),
        ],
    )
    async def test_malformed_bodies_are_400_naming_the_field(
        self, harness: Harness, change: dict[str, Any], field: str
    ) -> None:
        admin, shipper = await admin_and_shipper(harness)
        body = {"name": "Partner TMS", "ownerUserId": shipper.user_id, "scopes": TRACKING, **change}
        response = await harness.client.post(ADMIN_KEYS, json=body, headers=admin.headers)
        assert_field_error(response, field)
        assert await key_rows(harness) == []

    @pytest.mark.parametrize(
        ("delta", "error"),
        [
            (timedelta(0), "must be in the future"),
            (timedelta(seconds=-1), "must be in the future"),
            (timedelta(days=365, seconds=1), "must be at most 365 days ahead"),
        ],
    )
    async def test_expiry_outside_the_allowed_window_is_400(
        self, harness: Harness, delta: timedelta, error: str
    ) -> None:
        admin, shipper = await admin_and_shipper(harness)
        body = {
            "name": "Partner TMS",
            "ownerUserId": shipper.user_id,
            "scopes": TRACKING,
            "expiresAt": (harness.clock.now() + delta).isoformat(),
        }
        response = await harness.client.post(ADMIN_KEYS, json=body, headers=admin.headers)
        assert_field_error(response, "expiresAt")
        assert response.json()["details"]["error"] == error
        assert await key_rows(harness) == []

    async def test_an_expiry_at_exactly_the_maximum_is_accepted(self, harness: Harness) -> None:
        admin, shipper = await admin_and_shipper(harness)
        expires = harness.clock.now() + timedelta(days=365)
        body = await create_key(harness, admin, shipper.user_id, TRACKING, expiresAt=expires.isoformat())
        assert at(body["expiresAt"]) == expires

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.OPERATOR])
    async def test_webhooks_manage_is_refused_for_a_non_admin_owner(
        self, harness: Harness, role: Role
    ) -> None:
        admin = await admin_session(harness)
        owner = await session_with_role(harness, role)
        body = {
            "name": "Partner TMS",
            "ownerUserId": owner.user_id,
            "scopes": ["tracking:read", "webhooks:manage"],
        }
        response = await harness.client.post(ADMIN_KEYS, json=body, headers=admin.headers)
        assert_field_error(response, "scopes")
        assert "webhooks:manage" in response.json()["details"]["error"]
        assert await key_rows(harness) == []

    @pytest.mark.parametrize("role", [Role.DRIVER, Role.KYC_ADMIN, Role.FRANCHISE_UNIT])
    async def test_an_owner_of_another_role_is_refused(self, harness: Harness, role: Role) -> None:
        admin = await admin_session(harness)
        owner = await session_with_role(harness, role)
        body = {"name": "Partner TMS", "ownerUserId": owner.user_id, "scopes": TRACKING}
        response = await harness.client.post(ADMIN_KEYS, json=body, headers=admin.headers)
        assert_field_error(response, "ownerUserId")
        assert await key_rows(harness) == []

    async def test_an_unknown_or_inactive_owner_is_refused(self, harness: Harness) -> None:
        admin, shipper = await admin_and_shipper(harness)
        unknown = {
            "name": "Partner TMS",
            "ownerUserId": "USR-SH-01J00000000000000000000000",
            "scopes": TRACKING,
        }
        response = await harness.client.post(ADMIN_KEYS, json=unknown, headers=admin.headers)
        assert_field_error(response, "ownerUserId")
        await set_user_status(harness, shipper.user_id, UserStatus.INACTIVE)
        inactive = {"name": "Partner TMS", "ownerUserId": shipper.user_id, "scopes": TRACKING}
        response = await harness.client.post(ADMIN_KEYS, json=inactive, headers=admin.headers)
        assert_field_error(response, "ownerUserId")
        assert await key_rows(harness) == []


class TestWhoMayAdminister:
    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.OPERATOR, Role.KYC_ADMIN])
    async def test_other_roles_are_403_on_every_endpoint(self, harness: Harness, role: Role) -> None:
        admin, shipper = await admin_and_shipper(harness)
        created = await create_key(harness, admin, shipper.user_id, TRACKING)
        caller = await session_with_role(harness, role)
        for response in await every_endpoint(harness, caller.headers, created["id"], shipper.user_id):
            assert response.status_code == 403, response.request.url
            assert response.json()["code"] == "FORBIDDEN"
        assert [r["id"] for r in await key_rows(harness)] == [created["id"]]
        assert (await key_row(harness, created["id"]))["revoked_at"] is None

    async def test_anonymous_and_api_keys_are_401_on_every_endpoint(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        # Even an admin's key with every scope cannot manage keys: a leaked key must not mint more.
        created = await create_key(
            harness, admin, admin.user_id, ["tracking:read", "bookings:read", "webhooks:manage"]
        )
        for headers in ({}, key_headers(created["key"])):
            for response in await every_endpoint(harness, headers, created["id"], admin.user_id):
                assert_unauthorized(response)
        assert len(await key_rows(harness)) == 1

    async def test_unknown_key_ids_are_404(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        responses = [
            await harness.client.get(f"{ADMIN_KEYS}/{MISSING_ID}", headers=admin.headers),
            await revoke(harness, admin, MISSING_ID),
            await rotate(harness, admin, MISSING_ID),
        ]
        for response in responses:
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "NOT_FOUND"
        assert await key_rows(harness) == []


async def every_endpoint(h: Harness, headers: dict[str, str], key_id: str, owner_id: str) -> list[Any]:
    body = {"name": "Another", "ownerUserId": owner_id, "scopes": TRACKING}
    return [
        await h.client.post(ADMIN_KEYS, json=body, headers=headers),
        await h.client.get(ADMIN_KEYS, headers=headers),
        await h.client.get(f"{ADMIN_KEYS}/{key_id}", headers=headers),
        await h.client.post(f"{ADMIN_KEYS}/{key_id}/revoke", headers=headers),
        await h.client.post(f"{ADMIN_KEYS}/{key_id}/rotate", headers=headers),
    ]


class TestList:
    async def test_filters_by_owner_and_pages_newest_first(self, harness: Harness) -> None:
        admin, shipper = await admin_and_shipper(harness)
        operator = await verified_user(harness, Role.OPERATOR)
        ids = []
        for owner in (shipper, operator, shipper):
            ids.append((await create_key(harness, admin, owner.user_id, TRACKING))["id"])
            harness.clock.advance(seconds=1)

        page = await harness.client.get(f"{ADMIN_KEYS}?pageSize=2&page=1", headers=admin.headers)
        assert page.status_code == 200
        assert [k["id"] for k in page.json()["data"]] == [ids[2], ids[1]]
        assert page.json()["meta"] == {"page": 1, "pageSize": 2, "total": 3, "totalPages": 2}

        mine = await harness.client.get(
            ADMIN_KEYS, params={"ownerUserId": shipper.user_id}, headers=admin.headers
        )
        assert [k["id"] for k in mine.json()["data"]] == [ids[2], ids[0]]
        assert all("key" not in k for k in mine.json()["data"])
        nobody = await harness.client.get(ADMIN_KEYS, params={"ownerUserId": "nobody"}, headers=admin.headers)
        assert nobody.json()["data"] == []

    async def test_bad_paging_is_400(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        response = await harness.client.get(f"{ADMIN_KEYS}?pageSize=101", headers=admin.headers)
        assert_field_error(response, "query.pageSize")


class TestRevoke:
    async def test_revocation_is_immediate_idempotent_and_audited_once(self, harness: Harness) -> None:
        admin, shipper = await admin_and_shipper(harness)
        created = await create_key(harness, admin, shipper.user_id, ["bookings:read"])
        assert (await get_with_key(harness, created["key"], "/v1/bookings")).status_code == 200
        harness.clock.advance(minutes=1)
        revoked_at = harness.clock.now()

        first = await revoke(harness, admin, created["id"])

        assert first.status_code == 200, first.text
        assert at(first.json()["revokedAt"]) == revoked_at
        assert "key" not in first.json()
        assert_unauthorized(await get_with_key(harness, created["key"], "/v1/bookings"))
        row = await key_row(harness, created["id"])
        assert (row["revoked_at"], row["revoked_by"]) == (revoked_at, admin.user_id)

        harness.clock.advance(minutes=5)
        other_admin = await admin_session(harness, "+919000000002")
        again = await revoke(harness, other_admin, created["id"])
        assert again.status_code == 200
        assert again.json() == first.json()
        assert (await key_row(harness, created["id"]))["revoked_by"] == admin.user_id
        actions = [(e["action"], e["actor"]) for e in await audit_entries(harness, created["id"])]
        assert actions == [("api_key.created", admin.user_id), ("api_key.revoked", admin.user_id)]


class TestRotate:
    async def test_a_successor_replaces_the_key_after_the_overlap(self, harness: Harness) -> None:
        admin, shipper = await admin_and_shipper(harness)
        created_at = harness.clock.now()
        old = await create_key(
            harness,
            admin,
            shipper.user_id,
            ["bookings:read"],
            expiresAt=(created_at + timedelta(days=90)).isoformat(),
        )
        harness.clock.advance(days=10)
        admin = await refreshed(harness, admin)
        rotated_at = harness.clock.now()

        response = await rotate(harness, admin, old["id"], {"overlapMinutes": 30})

        assert response.status_code == 201, response.text
        new = response.json()
        assert new["id"] != old["id"] and new["key"] != old["key"] and new["prefix"] != old["prefix"]
        assert (new["name"], new["ownerUserId"], new["scopes"]) == (
            old["name"],
            shipper.user_id,
            ["bookings:read"],
        )
        assert at(new["createdAt"]) == rotated_at
        assert at(new["expiresAt"]) == rotated_at + timedelta(days=90)  # the same lifetime as the old key
        old_row = await key_row(harness, old["id"])
        assert (old_row["rotated_to"], old_row["expires_at"]) == (
            new["id"],
            rotated_at + timedelta(minutes=30),
        )
        new_row = await key_row(harness, new["id"])
        assert new_row["created_by"] == admin.user_id and new["key"] not in str(new_row)
        read_old = await harness.client.get(f"{ADMIN_KEYS}/{old['id']}", headers=admin.headers)
        assert read_old.json()["rotatedTo"] == new["id"]

        [entry] = [e for e in await audit_entries(harness, old["id"]) if e["action"] == "api_key.rotated"]
        assert entry["actor"] == admin.user_id
        assert entry["data"] == {
            "prefix": new["prefix"],
            "scopes": ["bookings:read"],
            "ownerUserId": shipper.user_id,
            "expiresAt": new_row["expires_at"].isoformat(),
            "previousKeyId": old["id"],
            "previousPrefix": old["prefix"],
            "previousExpiresAt": old_row["expires_at"].isoformat(),
        }

        for key in (old["key"], new["key"]):  # the overlap: both work
            assert (await get_with_key(harness, key, "/v1/bookings")).status_code == 200
        harness.clock.advance(minutes=30)
        assert_unauthorized(await get_with_key(harness, old["key"], "/v1/bookings"))
        assert (await get_with_key(harness, new["key"], "/v1/bookings")).status_code == 200

    async def test_default_overlap_and_a_nearer_expiry_kept(self, harness: Harness) -> None:
        admin, shipper = await admin_and_shipper(harness)
        now = harness.clock.now()
        soon = await create_key(
            harness, admin, shipper.user_id, TRACKING, expiresAt=(now + timedelta(hours=2)).isoformat()
        )
        later = await create_key(harness, admin, shipper.user_id, TRACKING)

        assert (await rotate(harness, admin, soon["id"], {"overlapMinutes": 7 * 24 * 60})).status_code == 201
        assert (await rotate(harness, admin, later["id"])).status_code == 201  # no body at all

        assert (await key_row(harness, soon["id"]))["expires_at"] == now + timedelta(hours=2)
        assert (await key_row(harness, later["id"]))["expires_at"] == now + timedelta(minutes=1440)

    async def test_revoked_expired_or_rotated_keys_are_409_and_unchanged(self, harness: Harness) -> None:
        admin, shipper = await admin_and_shipper(harness)
        now = harness.clock.now()
        revoked = await create_key(harness, admin, shipper.user_id, TRACKING)
        assert (await revoke(harness, admin, revoked["id"])).status_code == 200
        expiring = await create_key(
            harness, admin, shipper.user_id, TRACKING, expiresAt=(now + timedelta(minutes=5)).isoformat()
        )
        rotated = await create_key(harness, admin, shipper.user_id, TRACKING)
        assert (await rotate(harness, admin, rotated["id"])).status_code == 201
        harness.clock.advance(minutes=5)
        before = {k: await key_row(harness, k) for k in (revoked["id"], expiring["id"], rotated["id"])}
        count = len(await key_rows(harness))

        for key_id in before:
            response = await rotate(harness, admin, key_id)
            assert response.status_code == 409, response.text
            assert response.json()["code"] == "INVALID_STATE"
            assert await key_row(harness, key_id) == before[key_id]
        assert len(await key_rows(harness)) == count

    @pytest.mark.parametrize("overlap", [-1, 7 * 24 * 60 + 1, "soon", 1.5])
    async def test_a_bad_overlap_is_400(self, harness: Harness, overlap: Any) -> None:
        admin, shipper = await admin_and_shipper(harness)
        created = await create_key(harness, admin, shipper.user_id, TRACKING)
        response = await rotate(harness, admin, created["id"], {"overlapMinutes": overlap})
        assert_field_error(response, "overlapMinutes")
        assert (await key_row(harness, created["id"]))["rotated_to"] is None
