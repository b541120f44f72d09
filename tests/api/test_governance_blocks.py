"""Admin blocks and the watchlist (PRODUCT §8): who may use them, what a block writes (row,
`acs.block` outbox event, audit entry without the reason), that it is enforced on the blocked
account's and device's next request, and the active-block and watchlist listings."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from rodistaa.acs.queues import flag_watchlist
from rodistaa.core.roles import Role
from rodistaa.shipments.status import ShipmentStatus
from tests.api.acs_setup import insert_block
from tests.api.flows import Session, admin_session
from tests.api.freight_setup import seeded_trip
from tests.api.governance_flows import (
    audit_rows,
    block_rows,
    outbox_rows,
    user_session,
)
from tests.conftest import Harness


def block_body(entity_type: str, entity_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "entityType": entity_type,
        "entityId": entity_id,
        "reason": "Fraud ring",
        "severity": "high",
        **extra,
    }


async def post_block(h: Harness, admin: Session, body: dict[str, Any]) -> Any:
    return await h.client.post("/v1/admin/blocks", json=body, headers=admin.headers)


ADMIN_ENDPOINTS = [
    ("GET", "/v1/admin/blocks", None),
    (
        "POST",
        "/v1/admin/blocks",
        {"entityType": "user", "entityId": "USR-X", "reason": "r", "severity": "low"},
    ),
    ("GET", "/v1/admin/watchlist", None),
    ("GET", "/v1/admin/tickets", None),
    ("GET", "/v1/admin/tickets/TKT-01ARZ3NDEKTSV4RRFFQ69G5FAV", None),
    ("POST", "/v1/admin/tickets/TKT-01ARZ3NDEKTSV4RRFFQ69G5FAV/assign", {"assigneeId": "USR-X"}),
    ("POST", "/v1/admin/tickets/TKT-01ARZ3NDEKTSV4RRFFQ69G5FAV/status", {"status": "IN_PROGRESS"}),
]


class TestAccess:
    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.KYC_ADMIN, Role.FRANCHISE_DISTRICT])
    async def test_only_admins_use_the_governance_endpoints(self, harness: Harness, role: Role) -> None:
        caller = await user_session(harness, role)
        for method, path, body in ADMIN_ENDPOINTS:
            response = await harness.client.request(method, path, json=body, headers=caller.headers)
            assert response.status_code == 403, (path, response.text)
            assert response.json()["code"] == "FORBIDDEN"
        assert await block_rows(harness) == []

    async def test_anonymous_callers_are_unauthorized(self, harness: Harness) -> None:
        for method, path, body in ADMIN_ENDPOINTS:
            response = await harness.client.request(method, path, json=body)
            assert response.status_code == 401, path


class TestBlockUser:
    async def test_a_blocked_user_is_refused_on_the_next_request(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await user_session(harness, Role.SHIPPER)
        assert (await harness.client.get("/v1/users/me", headers=shipper.headers)).status_code == 200

        response = await post_block(harness, admin, block_body("user", shipper.user_id, severity="Critical"))

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["entityType"] == "user" and body["entityId"] == shipper.user_id
        assert body["severity"] == "CRITICAL" and body["source"] == "ADMIN"
        assert body["createdBy"] == admin.user_id and body["expiresAt"] is None and body["ruleId"] is None
        refused = await harness.client.get("/v1/users/me", headers=shipper.headers)
        assert refused.status_code == 403
        assert refused.json()["code"] == "ACCOUNT_BLOCKED"
        # The admin's own session is untouched.
        assert (await harness.client.get("/v1/users/me", headers=admin.headers)).status_code == 200

    async def test_the_block_row_outbox_event_and_audit_entry(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await user_session(harness, Role.SHIPPER)
        expires = (harness.clock.now() + timedelta(days=7)).isoformat()

        body = (
            await post_block(
                harness, admin, block_body("user", shipper.user_id, severity="medium", expiresAt=expires)
            )
        ).json()

        [row] = await block_rows(harness, shipper.user_id)
        assert row["id"] == body["id"]
        assert (row["source"], row["severity"], row["reason"], row["created_by"]) == (
            "ADMIN",
            "medium",
            "Fraud ring",
            admin.user_id,
        )
        assert row["lifted_at"] is None and row["expires_at"] is not None
        [event] = await outbox_rows(harness, "acs.block")
        assert event["payload"] == {
            "blockId": body["id"],
            "entityType": "user",
            "entityId": shipper.user_id,
            "severity": "MEDIUM",
            "source": "ADMIN",
        }
        [entry] = await audit_rows(harness, shipper.user_id, "block.created")
        assert (entry["actor"], entry["entity_type"]) == (admin.user_id, "user")
        assert entry["data"]["blockId"] == body["id"]
        assert entry["data"]["severity"] == "medium" and entry["data"]["source"] == "ADMIN"
        assert entry["data"]["expiresAt"] is not None
        assert "Fraud ring" not in str(entry["data"])

    async def test_an_entity_may_carry_several_blocks(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await user_session(harness, Role.SHIPPER)
        await insert_block(harness, "user", shipper.user_id, rule_id="RF_SEEDED")
        response = await post_block(harness, admin, block_body("user", shipper.user_id))
        assert response.status_code == 201
        assert [r["source"] for r in await block_rows(harness, shipper.user_id)] == ["ACS", "ADMIN"]


class TestBlockOtherEntities:
    async def test_truck_shipment_operator_and_driver(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=ShipmentStatus.IN_TRANSIT)
        assert trip.driver is not None and trip.truck_id is not None
        targets = [
            ("truck", trip.truck_id),
            ("shipment", trip.shipment_id),
            ("operator", trip.operator.user_id),
            ("driver", trip.driver.user_id),
        ]
        for entity_type, entity_id in targets:
            response = await post_block(harness, admin, block_body(entity_type, entity_id))
            assert response.status_code == 201, response.text
            [row] = await block_rows(harness, entity_id)
            assert row["entity_type"] == entity_type
            [entry] = await audit_rows(harness, entity_id, "block.created")
            assert entry["entity_type"] == entity_type
        assert sorted(e["payload"]["entityType"] for e in await outbox_rows(harness, "acs.block")) == sorted(
            t for t, _ in targets
        )
        # operator and driver blocks are person blocks: those accounts are refused too.
        for session in (trip.operator, trip.driver):
            response = await harness.client.get("/v1/users/me", headers=session.headers)
            assert response.status_code == 403 and response.json()["code"] == "ACCOUNT_BLOCKED"

    async def test_a_blocked_device_refuses_its_session(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        device = "DEV-governance-test-0001"
        shipper = await user_session(harness, Role.SHIPPER, device_id=device)

        response = await post_block(harness, admin, block_body("device", device))

        assert response.status_code == 201, response.text
        refused = await harness.client.get("/v1/users/me", headers=shipper.headers)
        assert refused.status_code == 403 and refused.json()["code"] == "DEVICE_BLOCKED"
        # Audited under the device's hash: a client-chosen id never enters the audit log.
        digest = hashlib.sha256(device.encode()).hexdigest()
        [entry] = await audit_rows(harness, digest, "block.created")
        assert entry["entity_type"] == "device" and device not in str(entry)

    @pytest.mark.parametrize(
        ("entity_type", "which"),
        [
            ("user", "missing"),
            ("operator", "shipper"),  # an account of another role is not an operator
            ("driver", "shipper"),
            ("truck", "missing"),
            ("shipment", "missing"),
            ("device", "missing"),  # no account ever signed in on it
        ],
    )
    async def test_an_entity_that_does_not_exist_is_404(
        self, harness: Harness, entity_type: str, which: str
    ) -> None:
        admin = await admin_session(harness)
        shipper = await user_session(harness, Role.SHIPPER)
        entity_id = shipper.user_id if which == "shipper" else "XX-01ARZ3NDEKTSV4RRFFQ69G5FAV"

        response = await post_block(harness, admin, block_body(entity_type, entity_id))

        assert response.status_code == 404, response.text
        assert await block_rows(harness) == []
        assert await outbox_rows(harness, "acs.block") == []


class TestBlockValidation:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"entityType": "franchise"}, "entityType"),
            ({"severity": "extreme"}, "severity"),
            ({"reason": "   "}, "reason"),
            ({"reason": "x" * 257}, "reason"),
            ({"expiresAt": "2020-01-01T00:00:00Z"}, "expiresAt"),
            ({"expiresAt": "2999-01-01T00:00:00"}, "expiresAt"),  # no timezone
            ({"expiresAt": "9999-12-31T23:59:59-05:00"}, "expiresAt"),  # not convertible to UTC
            ({"unblock": True}, "unblock"),
        ],
    )
    async def test_bad_input_is_400_and_blocks_nothing(
        self, harness: Harness, change: dict[str, Any], field: str
    ) -> None:
        admin = await admin_session(harness)
        shipper = await user_session(harness, Role.SHIPPER)

        response = await post_block(harness, admin, {**block_body("user", shipper.user_id), **change})

        assert response.status_code == 400, response.text
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert field in [f["field"] for f in response.json()["details"]["fields"]]
        assert await block_rows(harness) == []

    async def test_an_admin_cannot_block_their_own_account_or_device(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        device_admin = await user_session(harness, Role.ADMIN, device_id="DEV-admin-own-0001")
        for caller, body in (
            (admin, block_body("user", admin.user_id)),
            (device_admin, block_body("device", "DEV-admin-own-0001")),
        ):
            response = await post_block(harness, caller, body)
            assert response.status_code == 400, response.text
            assert response.json()["details"]["field"] == "entityId"
        assert await block_rows(harness) == []
        assert (await harness.client.get("/v1/users/me", headers=admin.headers)).status_code == 200


class TestListBlocks:
    async def test_only_active_blocks_newest_first_with_filters(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        now = harness.clock.now()
        acs_user = await insert_block(
            harness, "user", "USR-A", rule_id="RF_SEEDED", created_at=now - timedelta(hours=3)
        )
        admin_truck = await insert_block(
            harness,
            "truck",
            "TRK-B",
            created_at=now - timedelta(hours=2),
        )
        expiring = await insert_block(
            harness,
            "user",
            "USR-C",
            rule_id="RF_SEEDED",
            expires_at=now + timedelta(hours=1),
            created_at=now - timedelta(hours=1),
        )
        await insert_block(
            harness, "user", "USR-D", rule_id="RF_SEEDED", expires_at=now - timedelta(seconds=1)
        )
        await insert_block(harness, "user", "USR-E", rule_id="RF_SEEDED", lifted_at=now)

        async def listed(query: str = "") -> list[str]:
            response = await harness.client.get(f"/v1/admin/blocks{query}", headers=admin.headers)
            assert response.status_code == 200, response.text
            return [b["id"] for b in response.json()["data"]]

        assert await listed() == [expiring, admin_truck, acs_user]
        assert await listed("?entityType=user") == [expiring, acs_user]
        assert await listed("?entityId=TRK-B") == [admin_truck]
        assert await listed("?source=ACS") == [expiring, acs_user]
        assert await listed("?source=ADMIN&entityType=user") == []
        page = (await harness.client.get("/v1/admin/blocks?page=2&pageSize=2", headers=admin.headers)).json()
        assert [b["id"] for b in page["data"]] == [acs_user]
        assert page["meta"] == {"page": 2, "pageSize": 2, "total": 3, "totalPages": 2}

        harness.clock.advance(hours=2)  # the expiring block lapses
        admin = await admin_session(harness, "+919000000002")
        assert await listed() == [admin_truck, acs_user]

    @pytest.mark.parametrize("query", ["entityType=franchise", "source=SYSTEM", "pageSize=101"])
    async def test_bad_filters_are_400(self, harness: Harness, query: str) -> None:
        admin = await admin_session(harness)
        response = await harness.client.get(f"/v1/admin/blocks?{query}", headers=admin.headers)
        assert response.status_code == 400
        assert response.json()["code"] == "VALIDATION_ERROR"


class TestWatchlist:
    async def test_entries_newest_first_with_reasons_and_hits(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        db = harness.app.state.services.db
        flags = [
            ("device", "DEV-1", "Device spoofing suspected"),
            ("user", "USR-1", "Triad collusion"),
            ("device", "DEV-1", "Device-account collision"),
            ("device", "DEV-1", "Device spoofing suspected"),
        ]
        for entity_type, entity_id, reason in flags:
            harness.clock.advance(minutes=1)
            async with db.transaction() as conn:
                await flag_watchlist(
                    conn, entity_type=entity_type, entity_id=entity_id, reason=reason, now=harness.clock.now()
                )

        response = await harness.client.get("/v1/admin/watchlist", headers=admin.headers)

        assert response.status_code == 200, response.text
        device, user = response.json()["data"]
        assert (device["entityType"], device["entityId"], device["hits"]) == ("device", "DEV-1", 3)
        assert device["reasons"] == ["Device spoofing suspected", "Device-account collision"]
        assert device["lastFlaggedAt"] > device["firstFlaggedAt"]
        assert (user["entityId"], user["hits"], user["reasons"]) == ("USR-1", 1, ["Triad collusion"])
        assert response.json()["meta"]["total"] == 2
        filtered = await harness.client.get("/v1/admin/watchlist?entityType=user", headers=admin.headers)
        assert [e["entityId"] for e in filtered.json()["data"]] == ["USR-1"]
        paged = await harness.client.get("/v1/admin/watchlist?pageSize=1&page=2", headers=admin.headers)
        assert [e["entityId"] for e in paged.json()["data"]] == ["USR-1"]
