"""Signing-key rotation: the previous key verifies for the grace period, then never again."""

from __future__ import annotations

from datetime import timedelta

import jwt

from rodistaa.security.tokens import KeyRing, TokenService
from tests.api.flows import sign_up
from tests.conftest import TEST_JWT_SECRET, FakeClock, Harness, make_settings, running_app

NEW_SECRET = "rotated-signing-key-fedcba9876543210fedcba98"


def old_key_token(user_id: str, session_id: str, clock: FakeClock) -> str:
    """What an instance still running the old configuration signs during a rolling deploy."""
    service = TokenService(KeyRing({"k1": TEST_JWT_SECRET.encode()}, "k1"), "rodistaa-core", "rodistaa-api")
    token, _ = service.issue(
        subject=user_id,
        token_type="access",
        ttl=timedelta(minutes=15),
        now=clock.now(),
        role="SHIPPER",
        session_id=session_id,
    )
    return token


async def test_previous_key_verifies_during_grace_and_is_refused_after(harness: Harness) -> None:
    session = await sign_up(harness, "+919876543210")
    session_id = jwt.decode(session.token, options={"verify_signature": False})["sid"]
    rotated = make_settings(
        harness.settings.database_url, jwt_keys=f"k1:{TEST_JWT_SECRET},k2:{NEW_SECRET}", jwt_active_kid="k2"
    )
    clock = FakeClock()
    async with running_app(rotated, clock=clock) as new:
        me = "/v1/users/me"
        assert (await new.client.get(me, headers=session.headers)).status_code == 200

        refreshed = await new.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        assert refreshed.status_code == 200
        new_token = refreshed.json()["token"]
        assert jwt.get_unverified_header(new_token)["kid"] == "k2"

        clock.advance(hours=23, minutes=59)
        token = old_key_token(session.user_id, session_id, clock)
        assert (await new.client.get(me, headers={"Authorization": f"Bearer {token}"})).status_code == 200

        clock.advance(minutes=1)
        token = old_key_token(session.user_id, session_id, clock)
        response = await new.client.get(me, headers={"Authorization": f"Bearer {token}"})
        assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")


async def test_activation_time_is_shared_by_instances(harness: Harness) -> None:
    """A second instance started later must not restart the grace period."""
    rotated = make_settings(
        harness.settings.database_url, jwt_keys=f"k1:{TEST_JWT_SECRET},k2:{NEW_SECRET}", jwt_active_kid="k2"
    )
    first_clock = FakeClock()
    async with running_app(rotated, clock=first_clock):
        pass
    later_clock = FakeClock()
    later_clock.advance(hours=30)
    session = await sign_up(harness, "+919876543210")
    session_id = jwt.decode(session.token, options={"verify_signature": False})["sid"]
    async with running_app(rotated, clock=later_clock) as later:
        token = old_key_token(session.user_id, session_id, later_clock)
        response = await later.client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
