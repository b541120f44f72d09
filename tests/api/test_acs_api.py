"""The ACS endpoints, enforcement of blocks at the door, and hot reload across instances."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rodistaa.acs.tables import acs_reload_attempts, acs_suspensions
from rodistaa.core.roles import Role
from tests.api.acs_setup import insert_block
from tests.api.flows import admin_session, create_user_directly, login, request_code, sign_in, sign_up
from tests.conftest import REFERENCE_BUNDLE, Harness, make_settings, running_app

MOBILE = "+919876543210"


class TestRules:
    async def test_admin_lists_the_active_rules_in_contract_shape(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        response = await harness.client.get("/v1/acs/rules", headers=admin.headers)
        assert response.status_code == 200
        rules = response.json()
        active = harness.app.state.services.acs.bundle
        assert response.headers["X-ACS-Revision"] == active.revision
        assert [r["id"] for r in rules] == [r.id for r in active.rules]
        first = rules[0]
        assert {"id", "priority", "condition", "action", "severity"} <= first.keys()
        assert first["priority"] >= rules[-1]["priority"]

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.KYC_ADMIN, Role.FRANCHISE_UNIT])
    async def test_other_roles_are_refused(self, harness: Harness, role: Role) -> None:
        await create_user_directly(harness, MOBILE, role)
        caller = await sign_in(harness, MOBILE)
        for method, path in [
            ("GET", "/v1/acs/rules"),
            ("GET", "/v1/acs/rules/active"),
            ("POST", "/v1/acs/rules/reload"),
            ("GET", "/v1/acs/blocks/user/USR-X"),
        ]:
            response = await harness.client.request(method, path, headers=caller.headers)
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN"), path

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        assert (await harness.client.get("/v1/acs/rules")).status_code == 401
        assert (await harness.client.post("/v1/acs/rules/reload")).status_code == 401


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    shutil.copy(REFERENCE_BUNDLE, directory / "rules.yaml")
    return directory


class TestReload:
    @pytest.fixture
    def settings_overrides(self, bundle_dir: Path) -> dict[str, Any]:
        return {"acs_bundle_path": str(bundle_dir)}

    async def test_reload_activates_a_changed_bundle(self, harness: Harness, bundle_dir: Path) -> None:
        admin = await admin_session(harness)
        before = harness.app.state.services.acs.bundle.revision
        path = bundle_dir / "rules.yaml"
        path.write_text(path.read_text().replace("priority: 880", "priority: 881"))
        response = await harness.client.post("/v1/acs/rules/reload", headers=admin.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["ok"] is True and body["changed"] is True and body["revision"] != before
        assert harness.app.state.services.acs.bundle.revision == body["revision"]

    async def test_invalid_bundle_keeps_the_previous_revision(
        self, harness: Harness, bundle_dir: Path
    ) -> None:
        admin = await admin_session(harness)
        before = harness.app.state.services.acs.bundle.revision
        path = bundle_dir / "rules.yaml"
        path.write_text(
            path.read_text().replace("ctx.userKycStatus != 'VERIFIED'", "ctx.userKycStatus !! 'VERIFIED'")
        )
        harness.clock.advance(seconds=1)  # the attempt is newer than the start-up activation
        response = await harness.client.post("/v1/acs/rules/reload", headers=admin.headers)
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "BUNDLE_INVALID"
        assert body["details"]["activeRevision"] == before
        assert body["details"]["errors"][0].startswith("RF01_KYC_MANDATORY: condition: ")
        assert harness.app.state.services.acs.bundle.revision == before
        async with harness.app.state.services.db.read() as conn:
            attempts = (
                (await conn.execute(select(acs_reload_attempts).order_by(acs_reload_attempts.c.attempted_at)))
                .mappings()
                .all()
            )
        assert attempts[-1]["ok"] is False and "RF01_KYC_MANDATORY" in attempts[-1]["errors"]
        assert attempts[-1]["actor"] == admin.user_id
        # The refusal is reported to admins while the previous revision keeps running.
        response = await harness.client.get("/v1/acs/rules/active", headers=admin.headers)
        assert response.status_code == 200, response.text
        active = response.json()
        assert active["revision"] == before and active["rules"] == 25
        assert active["lastReload"]["ok"] is False and active["lastReload"]["actor"] == admin.user_id
        assert active["lastReload"]["errors"][0].startswith("RF01_KYC_MANDATORY: condition: ")


async def wait_for(predicate: Any, timeout_s: float = 10.0) -> bool:
    """Bounded wait for background convergence (not a performance assertion)."""
    for _ in range(int(timeout_s / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def test_two_instances_converge_on_a_new_revision(clean_database: str, bundle_dir: Path) -> None:
    settings = make_settings(clean_database, acs_bundle_path=str(bundle_dir), acs_sync_interval_s=0.1)
    async with running_app(settings) as first, running_app(settings) as second:
        original = first.app.state.services.acs.bundle.revision
        assert second.app.state.services.acs.bundle.revision == original
        path = bundle_dir / "rules.yaml"
        path.write_text(path.read_text().replace("priority: 880", "priority: 879"))
        result = await first.app.state.services.acs.reload_from_path(bundle_dir, actor="test")
        assert result.ok and result.revision != original
        assert await wait_for(lambda: second.app.state.services.acs.bundle.revision == result.revision)


async def test_a_changed_file_is_reloaded_by_the_watcher(clean_database: str, bundle_dir: Path) -> None:
    settings = make_settings(
        clean_database, acs_bundle_path=str(bundle_dir), acs_sync_interval_s=0.1, acs_watch_bundle=True
    )
    async with running_app(settings) as h:
        original = h.app.state.services.acs.bundle.revision
        path = bundle_dir / "rules.yaml"
        path.write_text(path.read_text().replace("priority: 880", "priority: 878"))
        assert await wait_for(lambda: h.app.state.services.acs.bundle.revision != original)
        # A broken edit is refused: the good revision stays.
        good = h.app.state.services.acs.bundle.revision
        path.write_text("- id: [broken\n")
        await asyncio.sleep(0.5)
        assert h.app.state.services.acs.bundle.revision == good


class TestBlocks:
    async def test_blocks_of_an_entity(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        now = harness.clock.now()
        await insert_block(harness, "truck", "TRK-1", id="BLK-A", severity="critical")
        await insert_block(harness, "truck", "TRK-1", id="BLK-OLD", expires_at=now - timedelta(seconds=1))
        await insert_block(harness, "truck", "TRK-1", id="BLK-LIFTED", lifted_at=now)
        await insert_block(harness, "truck", "TRK-2", id="BLK-OTHER")
        response = await harness.client.get("/v1/acs/blocks/truck/TRK-1", headers=admin.headers)
        assert response.status_code == 200
        assert [(b["id"], b["severity"], b["entityId"]) for b in response.json()] == [
            ("BLK-A", "CRITICAL", "TRK-1")
        ]
        assert (await harness.client.get("/v1/acs/blocks/truck/TRK-9", headers=admin.headers)).json() == []

    async def test_unknown_entity_type_is_400(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        response = await harness.client.get("/v1/acs/blocks/planet/X", headers=admin.headers)
        assert (response.status_code, response.json()["details"]["field"]) == (400, "path.entityType")


class TestEnforcementAtTheDoor:
    @pytest.mark.parametrize("entity_type", ["user", "operator", "driver"])
    async def test_blocked_person_is_refused_everywhere(self, harness: Harness, entity_type: str) -> None:
        session = await sign_up(harness, MOBILE, role=Role.OPERATOR)
        await insert_block(harness, entity_type, session.user_id)
        response = await harness.client.get("/v1/users/me", headers=session.headers)
        assert (response.status_code, response.json()["code"]) == (403, "ACCOUNT_BLOCKED")
        refresh = await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        assert refresh.json()["code"] == "ACCOUNT_BLOCKED"

    async def test_expired_block_no_longer_applies(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        await insert_block(
            harness, "user", session.user_id, expires_at=harness.clock.now() + timedelta(minutes=5)
        )
        assert (await harness.client.get("/v1/users/me", headers=session.headers)).status_code == 403
        harness.clock.advance(minutes=5, seconds=1)
        refresh = await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        assert refresh.status_code == 200

    async def test_suspended_person_is_refused(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(
                acs_suspensions.insert().values(
                    id="SUS-1",
                    account_id=session.user_id,
                    reason="POSSIBLE_COLLUSION",
                    severity="critical",
                    created_at=harness.clock.now(),
                    until=harness.clock.now() + timedelta(days=30),
                )
            )
        response = await harness.client.get("/v1/users/me", headers=session.headers)
        assert (response.status_code, response.json()["code"]) == (403, "ACCOUNT_SUSPENDED")
        code = await request_code(harness, MOBILE)
        login_response = await harness.client.post("/v1/auth/login", json={"mobile": MOBILE, "otp": code})
        assert login_response.json()["code"] == "ACCOUNT_SUSPENDED"

    async def test_blocked_device_cannot_log_in(self, harness: Harness) -> None:
        await sign_up(harness, MOBILE, device_id="phone-A")
        await insert_block(harness, "device", "phone-A")
        code = await request_code(harness, MOBILE)
        response = await harness.client.post(
            "/v1/auth/login", json={"mobile": MOBILE, "otp": code, "deviceId": "phone-A"}
        )
        assert (response.status_code, response.json()["code"]) == (403, "DEVICE_BLOCKED")
        other = await login(harness, MOBILE, device_id="phone-B")
        assert other["registrationRequired"] is False
