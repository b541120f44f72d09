"""Admin TOTP and override requests and decisions: four eyes, RF18 (critical needs a
justification and the approver's TOTP code), an approved UNBLOCK letting the user back in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rodistaa.core.roles import Role
from rodistaa.overrides import totp
from tests.api.acs_setup import insert_block
from tests.conftest import Harness
from tests.overrides.flows import (
    approve,
    assert_error,
    audit_rows,
    block_row,
    code_now,
    enrol,
    inbox,
    override_row,
    reject,
    request_override,
    requested,
    totp_row,
    user_session,
)


@pytest.fixture
async def h(harness: Harness) -> Harness:
    return harness


async def blocked_user(h: Harness, **block: Any) -> tuple[Any, str]:
    user = await user_session(h, Role.SHIPPER)
    block_id = await insert_block(h, "user", user.user_id, **block)
    return user, block_id


class TestTotp:
    async def test_enrol_stores_the_secret_encrypted_and_confirm_needs_a_valid_code(self, h: Harness) -> None:
        admin = await user_session(h, Role.ADMIN)
        response = await h.client.post("/v1/admin/totp/enrol", headers=admin.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["otpauthUri"].startswith("otpauth://totp/") and body["secret"] in body["otpauthUri"]
        row = await totp_row(h, admin.user_id)
        assert (
            row is not None and body["secret"] not in row["secret_ciphertext"] and row["confirmed_at"] is None
        )

        wrong = f"{(int(code_now(h, body['secret'])) + 1) % 1_000_000:06d}"
        response = await h.client.post("/v1/admin/totp/confirm", json={"code": wrong}, headers=admin.headers)
        assert_error(response, 400, "INVALID_TOTP_CODE")
        assert (await totp_row(h, admin.user_id))["confirmed_at"] is None  # type: ignore[index]

        code = code_now(h, body["secret"])
        response = await h.client.post("/v1/admin/totp/confirm", json={"code": code}, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert (await totp_row(h, admin.user_id))["confirmed_at"] is not None  # type: ignore[index]
        assert [r["action"] for r in await audit_rows(h, admin.user_id)][-2:] == [
            "admin.totp_enrolled",
            "admin.totp_confirmed",
        ]
        status = await h.client.get("/v1/admin/totp", headers=admin.headers)
        assert status.json() == {"enrolled": True, "confirmed": True}

    async def test_a_confirmed_enrolment_cannot_be_replaced_or_confirmed_again(self, h: Harness) -> None:
        admin = await user_session(h, Role.ADMIN)
        secret = await enrol(h, admin)
        before = await totp_row(h, admin.user_id)
        response = await h.client.post("/v1/admin/totp/enrol", headers=admin.headers)
        assert_error(response, 409, "TOTP_ALREADY_ENROLLED")
        response = await h.client.post(
            "/v1/admin/totp/confirm", json={"code": code_now(h, secret)}, headers=admin.headers
        )
        assert_error(response, 409, "TOTP_ALREADY_CONFIRMED")
        assert await totp_row(h, admin.user_id) == before

    async def test_confirm_without_enrolment_is_409(self, h: Harness) -> None:
        admin = await user_session(h, Role.ADMIN)
        response = await h.client.post(
            "/v1/admin/totp/confirm", json={"code": "123456"}, headers=admin.headers
        )
        assert_error(response, 409, "TOTP_NOT_ENROLLED")

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.OPERATOR, Role.KYC_ADMIN])
    async def test_only_admins_enrol(self, h: Harness, role: Role) -> None:
        session = await user_session(h, role)
        response = await h.client.post("/v1/admin/totp/enrol", headers=session.headers)
        assert_error(response, 403, "FORBIDDEN")
        assert await totp_row(h, session.user_id) is None

    def test_codes_one_step_either_side_match_and_two_steps_do_not(self) -> None:
        secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        now = datetime(2024, 1, 15, 10, 0, 10, tzinfo=UTC)
        step = int(now.timestamp()) // 30
        for offset in (-1, 0, 1):
            code = totp.code_at(secret, now + timedelta(seconds=30 * offset))
            assert totp.matching_step(secret, code, now) == step + offset
        assert totp.matching_step(secret, totp.code_at(secret, now + timedelta(seconds=60)), now) is None
        assert totp.matching_step(secret, "12345", now) is None


class TestRequest:
    async def test_request_is_pending_and_audited_without_its_reason(self, h: Harness) -> None:
        admin = await user_session(h, Role.ADMIN)
        user, block_id = await blocked_user(h)
        body = await requested(
            h,
            admin,
            entityType="user",
            entityId=user.user_id,
            action="UNBLOCK",
            reason="Customer called support",
        )
        assert (
            body["status"] == "PENDING" and body["critical"] is False and body["requestedBy"] == admin.user_id
        )
        row = await override_row(h, body["id"])
        assert row["status"] == "PENDING" and row["decided_by"] is None
        (entry,) = await audit_rows(h, body["id"], "override.requested")
        assert entry["actor"] == admin.user_id
        assert entry["data"]["action"] == "UNBLOCK" and entry["data"]["critical"] is False
        assert "Customer called support" not in str(entry["data"])
        assert (await block_row(h, block_id))["lifted_at"] is None

        got = await h.client.get(f"/v1/admin/overrides/{body['id']}", headers=admin.headers)
        assert got.status_code == 200 and got.json() == body

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"entityType": "user", "action": "UNFREEZE"}, "entityType"),
            (
                {"entityType": "operator", "action": "LEDGER_ADJUSTMENT", "params": {"amount": 0}},
                "params.amount",
            ),
            (
                {"entityType": "operator", "action": "LEDGER_ADJUSTMENT", "params": {"amount": 1.234}},
                "params.amount",
            ),
            (
                {"entityType": "operator", "action": "LEDGER_ADJUSTMENT", "params": {"amount": "5"}},
                "params.amount",
            ),
            ({"entityType": "user", "action": "UNBLOCK", "params": {"amount": 5}}, "params"),
        ],
    )
    async def test_bad_input_is_400_and_nothing_is_stored(
        self, h: Harness, body: dict[str, Any], field: str
    ) -> None:
        admin = await user_session(h, Role.ADMIN)
        target = await user_session(h, Role.OPERATOR)
        response = await request_override(h, admin, entityId=target.user_id, reason="x", **body)
        assert_error(response, 400, "VALIDATION_ERROR")
        assert field in response.text
        listed = await h.client.get("/v1/admin/overrides", headers=admin.headers)
        assert listed.json()["meta"]["total"] == 0

    async def test_unknown_action_is_400(self, h: Harness) -> None:
        admin = await user_session(h, Role.ADMIN)
        response = await request_override(
            h, admin, entityType="user", entityId="USR-X", action="DELETE", reason="x"
        )
        assert_error(response, 400, "VALIDATION_ERROR")

    async def test_unknown_target_is_404_and_nothing_to_lift_is_409(self, h: Harness) -> None:
        admin = await user_session(h, Role.ADMIN)
        response = await request_override(
            h, admin, entityType="user", entityId="USR-NOPE", action="UNBLOCK", reason="x"
        )
        assert_error(response, 404, "NOT_FOUND")
        free = await user_session(h, Role.SHIPPER)
        response = await request_override(
            h, admin, entityType="user", entityId=free.user_id, action="UNBLOCK", reason="x"
        )
        assert_error(response, 409, "INVALID_STATE")
        response = await request_override(
            h,
            admin,
            entityType="operator",
            entityId=free.user_id,
            action="LEDGER_ADJUSTMENT",
            reason="x",
            params={"amount": 10},
        )
        assert_error(response, 404, "NOT_FOUND")  # a shipper is not an operator

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.OPERATOR, Role.KYC_ADMIN, Role.FRANCHISE_UNIT])
    async def test_only_admins_use_overrides(self, h: Harness, role: Role) -> None:
        admin = await user_session(h, Role.ADMIN)
        user, _ = await blocked_user(h)
        override = await requested(
            h, admin, entityType="user", entityId=user.user_id, action="UNBLOCK", reason="x"
        )
        other = await user_session(h, role)
        response = await request_override(
            h, other, entityType="user", entityId=user.user_id, action="UNBLOCK", reason="x"
        )
        assert_error(response, 403, "FORBIDDEN")
        for response in (
            await h.client.get("/v1/admin/overrides", headers=other.headers),
            await h.client.get(f"/v1/admin/overrides/{override['id']}", headers=other.headers),
            await approve(h, other, override["id"]),
            await reject(h, other, override["id"]),
        ):
            assert_error(response, 403, "FORBIDDEN")
        assert (await override_row(h, override["id"]))["status"] == "PENDING"

    async def test_list_filters_by_status_newest_first(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        ids = []
        for _ in range(3):
            user, _ = await blocked_user(h)
            ids.append(
                (
                    await requested(
                        h, requester, entityType="user", entityId=user.user_id, action="UNBLOCK", reason="x"
                    )
                )["id"]
            )
            h.clock.advance(seconds=1)
        assert (await approve(h, approver, ids[0])).status_code == 200
        assert (await reject(h, approver, ids[1])).status_code == 200
        listed = (await h.client.get("/v1/admin/overrides", headers=requester.headers)).json()
        assert [o["id"] for o in listed["data"]] == ids[::-1] and listed["meta"]["total"] == 3
        for status, expected in (("APPROVED", ids[0]), ("REJECTED", ids[1]), ("PENDING", ids[2])):
            page = (
                await h.client.get(
                    "/v1/admin/overrides", params={"status": status}, headers=requester.headers
                )
            ).json()
            assert [o["id"] for o in page["data"]] == [expected]
        assert (
            await h.client.get("/v1/admin/overrides/OVR-NOPE", headers=requester.headers)
        ).status_code == 404


class TestDecisions:
    async def test_the_requester_can_neither_approve_nor_reject(self, h: Harness) -> None:
        admin = await user_session(h, Role.ADMIN)
        user, block_id = await blocked_user(h)
        override = await requested(
            h, admin, entityType="user", entityId=user.user_id, action="UNBLOCK", reason="x"
        )
        assert_error(await approve(h, admin, override["id"]), 403, "OWN_OVERRIDE")
        assert_error(await reject(h, admin, override["id"]), 403, "OWN_OVERRIDE")
        row = await override_row(h, override["id"])
        assert row["status"] == "PENDING" and row["decided_by"] is None
        assert (await block_row(h, block_id))["lifted_at"] is None

    async def test_approved_unblock_lets_the_user_call_the_api_again(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        user, block_id = await blocked_user(h)
        assert_error(await h.client.get("/v1/users/me", headers=user.headers), 403, "ACCOUNT_BLOCKED")
        override = await requested(
            h, requester, entityType="user", entityId=user.user_id, action="UNBLOCK", reason="x"
        )

        response = await approve(h, approver, override["id"], reason="Checked the documents")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "APPROVED" and response.json()["decidedBy"] == approver.user_id
        assert (await h.client.get("/v1/users/me", headers=user.headers)).status_code == 200
        block = await block_row(h, block_id)
        assert block["lifted_at"] is not None and block["lifted_by"] == approver.user_id
        row = await override_row(h, override["id"])
        assert row["status"] == "EXECUTED" and row["decided_by"] == approver.user_id
        (entry,) = await audit_rows(h, override["id"], "override.executed")
        assert entry["actor"] == approver.user_id
        assert entry["data"]["liftedBlockIds"] == [block_id] and entry["data"]["twoFaVerified"] is False
        assert entry["data"]["reasonGiven"] is True and "Checked" not in str(entry["data"])
        (message,) = await inbox(h, requester.user_id)
        assert override["id"] in message and "approved" in message

        # Decided once: approving or rejecting again is 409 and changes nothing.
        assert_error(
            await approve(h, await user_session(h, Role.ADMIN), override["id"]), 409, "INVALID_STATE"
        )
        assert_error(await reject(h, approver, override["id"]), 409, "INVALID_STATE")
        assert await override_row(h, override["id"]) == row

    async def test_reject_leaves_the_block_and_tells_the_requester(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        user, block_id = await blocked_user(h)
        override = await requested(
            h, requester, entityType="user", entityId=user.user_id, action="UNBLOCK", reason="x"
        )
        response = await reject(h, approver, override["id"], reason="Not convinced")
        assert response.status_code == 200 and response.json()["status"] == "REJECTED"
        assert (await block_row(h, block_id))["lifted_at"] is None
        assert_error(await h.client.get("/v1/users/me", headers=user.headers), 403, "ACCOUNT_BLOCKED")
        (entry,) = await audit_rows(h, override["id"], "override.rejected")
        assert entry["actor"] == approver.user_id and entry["data"]["reasonGiven"] is True
        assert "rejected" in (await inbox(h, requester.user_id))[0]
        assert_error(await approve(h, approver, override["id"]), 409, "INVALID_STATE")

    async def test_a_target_lifted_meanwhile_is_409_and_the_override_stays_pending(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        user, _ = await blocked_user(h, expires_at=None)
        override = await requested(
            h, requester, entityType="user", entityId=user.user_id, action="UNBLOCK", reason="x"
        )
        first = await requested(
            h, requester, entityType="user", entityId=user.user_id, action="UNBLOCK", reason="y"
        )
        assert (await approve(h, approver, first["id"])).status_code == 200
        assert_error(await approve(h, approver, override["id"]), 409, "INVALID_STATE")
        assert (await override_row(h, override["id"]))["status"] == "PENDING"


class TestCritical:
    async def test_critical_block_needs_justification_and_a_valid_totp_code(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        secret = await enrol(h, approver)
        user, block_id = await blocked_user(h, severity="critical")
        override = await requested(
            h,
            requester,
            entityType="user",
            entityId=user.user_id,
            action="UNBLOCK",
            reason="x",
            justification="Fraud team cleared the account",
        )
        assert override["critical"] is True

        assert_error(
            await approve(h, approver, override["id"]), 403, "OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION"
        )
        wrong = f"{(int(code_now(h, secret)) + 1) % 1_000_000:06d}"
        response = await approve(h, approver, override["id"], totpCode=wrong)
        assert_error(response, 403, "OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION")
        assert (await override_row(h, override["id"]))["status"] == "PENDING"
        assert (await block_row(h, block_id))["lifted_at"] is None

        response = await approve(h, approver, override["id"], totpCode=code_now(h, secret))
        assert response.status_code == 200, response.text
        assert (await block_row(h, block_id))["lifted_at"] is not None
        (entry,) = await audit_rows(h, override["id"], "override.executed")
        assert entry["data"]["critical"] is True and entry["data"]["twoFaVerified"] is True

    async def test_critical_without_justification_is_refused_even_with_totp(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        secret = await enrol(h, approver)
        user, block_id = await blocked_user(h, severity="critical")
        override = await requested(
            h, requester, entityType="user", entityId=user.user_id, action="UNBLOCK", reason="x"
        )
        response = await approve(h, approver, override["id"], totpCode=code_now(h, secret))
        assert_error(response, 403, "OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION")
        assert (await block_row(h, block_id))["lifted_at"] is None

    async def test_a_block_by_a_critical_rule_is_critical(self, h: Harness) -> None:
        requester = await user_session(h, Role.ADMIN)
        user, _ = await blocked_user(h, severity="high", rule_id="RF19_COLLUSION_TRIAD_FREQ")
        override = await requested(
            h, requester, entityType="user", entityId=user.user_id, action="UNBLOCK", reason="x"
        )
        assert override["critical"] is True

    async def test_a_replayed_totp_code_is_refused(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        secret = await enrol(h, approver)
        overrides = []
        for _ in range(3):
            user, _ = await blocked_user(h, severity="critical")
            overrides.append(
                await requested(
                    h,
                    requester,
                    entityType="user",
                    entityId=user.user_id,
                    action="UNBLOCK",
                    reason="x",
                    justification="Cleared",
                )
            )
        code = code_now(h, secret)
        assert (await approve(h, approver, overrides[0]["id"], totpCode=code)).status_code == 200
        response = await approve(h, approver, overrides[1]["id"], totpCode=code)
        assert_error(response, 403, "OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION")
        assert (await override_row(h, overrides[1]["id"]))["status"] == "PENDING"

        # Two steps on, that step's code works; the step before it, never used but older than
        # the last accepted one, is refused although it is inside the ±1 step window.
        h.clock.advance(seconds=2 * totp.STEP_SECONDS)
        assert (
            await approve(h, approver, overrides[1]["id"], totpCode=code_now(h, secret))
        ).status_code == 200
        older = totp.code_at(secret, h.clock.now() - timedelta(seconds=totp.STEP_SECONDS))
        assert older != code
        response = await approve(h, approver, overrides[2]["id"], totpCode=older)
        assert_error(response, 403, "OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION")
        assert (await override_row(h, overrides[2]["id"]))["status"] == "PENDING"

    async def test_an_unconfirmed_enrolment_does_not_verify(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        secret = (await h.client.post("/v1/admin/totp/enrol", headers=approver.headers)).json()["secret"]
        user, _ = await blocked_user(h, severity="critical")
        override = await requested(
            h,
            requester,
            entityType="user",
            entityId=user.user_id,
            action="UNBLOCK",
            reason="x",
            justification="ok",
        )
        response = await approve(h, approver, override["id"], totpCode=code_now(h, secret))
        assert_error(response, 403, "OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION")
