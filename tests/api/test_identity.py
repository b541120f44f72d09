"""The identity flow over HTTP: codes, login, sessions, refresh rotation, logout, refusals."""

from __future__ import annotations

import asyncio

import jwt
import pytest
from sqlalchemy import select, update

from rodistaa.core.roles import Role
from rodistaa.db.tables import device_bindings, otp_codes, refresh_token_families, refresh_tokens, users
from tests.api.flows import create_user_directly, login, request_code, sign_in, sign_up
from tests.conftest import TEST_JWT_SECRET, Harness

MOBILE = "+919876543210"


async def me(h: Harness, headers: dict[str, str]) -> tuple[int, dict]:
    response = await h.client.get("/v1/users/me", headers=headers)
    return response.status_code, response.json()


async def db_rows(h: Harness, query):  # type: ignore[no-untyped-def]
    async with h.app.state.services.db.read() as conn:
        return (await conn.execute(query)).mappings().all()


class TestSignUpAndSession:
    async def test_full_flow_otp_login_register_me_refresh_logout(self, harness: Harness) -> None:
        h = harness
        response = await h.client.post("/v1/auth/otp", json={"mobile": "98765 43210"})
        assert response.status_code == 200
        assert response.json()["expiresIn"] == 300
        assert response.json()["message"] == "OTP sent to +91******3210"
        assert "devOtp" not in response.json() or response.json()["devOtp"] is None
        code = h.sms.last_code(MOBILE)

        response = await h.client.post("/v1/auth/login", json={"mobile": MOBILE, "otp": code})
        assert response.status_code == 200
        first = response.json()
        assert first["registrationRequired"] is True and first["user"] is None
        assert first["refreshToken"] is None

        response = await h.client.post(
            "/v1/users/register",
            json={"mobile": MOBILE, "name": "Asha Transport", "role": "SHIPPER", "email": "ops@asha.in"},
            headers={"Authorization": f"Bearer {first['token']}"},
        )
        assert response.status_code == 201, response.text
        registered = response.json()
        assert registered["id"].startswith("USR-SH-")
        assert registered["role"] == "SHIPPER"
        assert registered["mobileMasked"] == "+91******3210"
        auth = {"Authorization": f"Bearer {registered['token']}"}

        status, profile = await me(h, auth)
        assert status == 200
        assert profile["id"] == registered["id"]
        assert profile["mobile"] == MOBILE and profile["email"] == "ops@asha.in"

        response = await h.client.post("/v1/auth/refresh", json={"refreshToken": registered["refreshToken"]})
        assert response.status_code == 200
        rotated = response.json()
        assert rotated["refreshToken"] != registered["refreshToken"]
        assert rotated["user"]["id"] == registered["id"]
        new_auth = {"Authorization": f"Bearer {rotated['token']}"}
        assert (await me(h, new_auth))[0] == 200

        assert (await h.client.post("/v1/auth/logout", headers=new_auth)).status_code == 204
        status, body = await me(h, new_auth)
        assert (status, body["code"]) == (401, "UNAUTHORIZED")
        # Every token of the session dies with it: the older access token and the refresh token.
        assert (await me(h, auth))[0] == 401
        response = await h.client.post("/v1/auth/refresh", json={"refreshToken": rotated["refreshToken"]})
        assert response.status_code == 401
        families = await db_rows(h, select(refresh_token_families))
        assert [f["revoked_reason"] for f in families] == ["LOGOUT"]

    async def test_existing_user_logs_in_directly(self, harness: Harness) -> None:
        user_id = await create_user_directly(harness, MOBILE, Role.FRANCHISE_UNIT)
        body = await login(harness, MOBILE)
        assert body["registrationRequired"] is False
        assert body["user"] == {
            "id": user_id,
            "role": "FRANCHISE_UNIT",
            "name": "Staff Member",
            "mobileMasked": "+91******3210",
            "status": "ACTIVE",
            "createdAt": body["user"]["createdAt"],
        }
        assert body["tokenType"] == "Bearer" and body["expiresIn"] == 900

    async def test_access_token_claims(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE, role=Role.OPERATOR)
        header = jwt.get_unverified_header(session.token)
        claims = jwt.decode(session.token, options={"verify_signature": False})
        assert header == {"alg": "HS256", "kid": "k1", "typ": "JWT"}
        assert claims["sub"] == session.user_id and claims["role"] == "OPERATOR"
        assert claims["typ"] == "access"
        assert claims["iss"] == "rodistaa-core" and claims["aud"] == "rodistaa-api"
        assert claims["exp"] - claims["iat"] == 900
        assert len(claims["jti"]) == 32


class TestRegistration:
    async def test_signup_token_is_single_use(self, harness: Harness) -> None:
        first = await login(harness, MOBILE)
        headers = {"Authorization": f"Bearer {first['token']}"}
        body = {"name": "Ravi", "role": "OPERATOR"}
        assert (
            await harness.client.post("/v1/users/register", json=body, headers=headers)
        ).status_code == 201
        again = await harness.client.post("/v1/users/register", json=body, headers=headers)
        assert (again.status_code, again.json()["code"]) == (409, "ALREADY_REGISTERED")
        assert len(await db_rows(harness, select(users))) == 1

    async def test_registered_user_cannot_register_again(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        response = await harness.client.post(
            "/v1/users/register", json={"name": "X", "role": "OPERATOR"}, headers=session.headers
        )
        assert (response.status_code, response.json()["code"]) == (409, "ALREADY_REGISTERED")

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": "Ravi", "role": "DRIVER"}, "role"),
            ({"name": "Ravi", "role": "ADMIN"}, "role"),
            ({"name": "", "role": "SHIPPER"}, "name"),
            ({"name": "Ravi", "role": "SHIPPER", "email": "not-an-email"}, "email"),
            ({"name": "Ravi", "role": "SHIPPER", "mobile": "+919999999999"}, "mobile"),
            ({"role": "SHIPPER"}, "name"),
        ],
    )
    async def test_invalid_registration_names_the_field(
        self, harness: Harness, body: dict, field: str
    ) -> None:
        first = await login(harness, MOBILE)
        response = await harness.client.post(
            "/v1/users/register", json=body, headers={"Authorization": f"Bearer {first['token']}"}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert response.json()["details"]["field"] == field
        assert await db_rows(harness, select(users)) == []

    async def test_register_without_token_is_401(self, harness: Harness) -> None:
        response = await harness.client.post("/v1/users/register", json={"name": "R", "role": "SHIPPER"})
        assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")

    async def test_signup_token_is_not_an_access_token(self, harness: Harness) -> None:
        first = await login(harness, MOBILE)
        status, body = await me(harness, {"Authorization": f"Bearer {first['token']}"})
        assert (status, body["code"]) == (401, "UNAUTHORIZED")


class TestOtp:
    async def test_sixth_attempt_is_refused_even_with_the_right_code(self, harness: Harness) -> None:
        code = await request_code(harness, MOBILE)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for _ in range(5):
            response = await harness.client.post("/v1/auth/login", json={"mobile": MOBILE, "otp": wrong})
            assert (response.status_code, response.json()["code"]) == (401, "OTP_INVALID")
        response = await harness.client.post("/v1/auth/login", json={"mobile": MOBILE, "otp": code})
        assert (response.status_code, response.json()["code"]) == (401, "OTP_LOCKED")
        row = (await db_rows(harness, select(otp_codes)))[0]
        assert row["attempts"] == 5 and row["consumed_at"] is None

    async def test_new_code_replaces_the_old_one(self, harness: Harness) -> None:
        old = await request_code(harness, MOBILE)
        new = await request_code(harness, MOBILE)
        if old != new:
            response = await harness.client.post("/v1/auth/login", json={"mobile": MOBILE, "otp": old})
            assert response.status_code == 401
        response = await harness.client.post("/v1/auth/login", json={"mobile": MOBILE, "otp": new})
        assert response.status_code == 200

    async def test_code_expires_after_five_minutes(self, harness: Harness) -> None:
        code = await request_code(harness, MOBILE)
        harness.clock.advance(minutes=5, seconds=1)
        response = await harness.client.post("/v1/auth/login", json={"mobile": MOBILE, "otp": code})
        assert (response.status_code, response.json()["code"]) == (401, "OTP_INVALID")

    async def test_code_is_single_use(self, harness: Harness) -> None:
        code = await request_code(harness, MOBILE)
        body = {"mobile": MOBILE, "otp": code}
        assert (await harness.client.post("/v1/auth/login", json=body)).status_code == 200
        response = await harness.client.post("/v1/auth/login", json=body)
        assert (response.status_code, response.json()["code"]) == (401, "OTP_INVALID")

    async def test_concurrent_logins_with_one_code_give_one_session(self, harness: Harness) -> None:
        await create_user_directly(harness, MOBILE, Role.SHIPPER)
        code = await request_code(harness, MOBILE)
        body = {"mobile": MOBILE, "otp": code}
        responses = await asyncio.gather(
            *(harness.client.post("/v1/auth/login", json=body) for _ in range(8))
        )
        assert sorted(r.status_code for r in responses) == [200] + [401] * 7
        assert len(await db_rows(harness, select(refresh_token_families))) == 1

    async def test_code_is_stored_hashed(self, harness: Harness) -> None:
        code = await request_code(harness, MOBILE)
        row = (await db_rows(harness, select(otp_codes)))[0]
        assert code not in row["code_hash"] and len(row["code_hash"]) == 64

    @pytest.mark.parametrize("mobile", ["12345", "+14155550100", "5876543210", "abcdefghij", ""])
    async def test_invalid_mobile_is_a_validation_error(self, harness: Harness, mobile: str) -> None:
        response = await harness.client.post("/v1/auth/otp", json={"mobile": mobile})
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR" and body["details"]["field"] == "mobile"
        assert mobile == "" or mobile not in response.text

    @pytest.mark.parametrize("otp", ["12345", "1234567", "abcdef", ""])
    async def test_malformed_code_is_a_validation_error(self, harness: Harness, otp: str) -> None:
        response = await harness.client.post("/v1/auth/login", json={"mobile": MOBILE, "otp": otp})
        assert (response.status_code, response.json()["details"]["field"]) == (400, "otp")


class TestRateLimits:
    async def test_eleventh_code_request_for_a_phone_is_429_with_headers(self, harness: Harness) -> None:
        for expected_remaining in range(9, -1, -1):
            response = await harness.client.post("/v1/auth/otp", json={"mobile": MOBILE})
            assert response.status_code == 200
            assert response.headers["X-RateLimit-Limit"] == "10"
            assert response.headers["X-RateLimit-Remaining"] == str(expected_remaining)
        response = await harness.client.post("/v1/auth/otp", json={"mobile": MOBILE})
        assert response.status_code == 429
        assert response.json()["code"] == "RATE_LIMIT_EXCEEDED"
        assert response.headers["X-RateLimit-Limit"] == "10"
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert 0 < int(response.headers["Retry-After"]) <= 3600
        assert len(harness.sms.sent) == 10

    async def test_one_address_is_limited_across_phones(self, harness: Harness) -> None:
        for i in range(30):
            response = await harness.client.post("/v1/auth/otp", json={"mobile": f"+9198000{i:05d}"})
            assert response.status_code == 200
        response = await harness.client.post("/v1/auth/otp", json={"mobile": "+919811111111"})
        assert response.status_code == 429
        assert response.headers["X-RateLimit-Limit"] == "30"


class TestTokenRefusals:
    async def test_refresh_token_is_not_an_access_token(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        status, body = await me(harness, {"Authorization": f"Bearer {session.refresh_token}"})
        assert (status, body["code"]) == (401, "UNAUTHORIZED")

    async def test_alg_none_is_refused(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        claims = jwt.decode(session.token, options={"verify_signature": False})
        forged = jwt.encode(claims, key=None, algorithm="none", headers={"kid": "k1"})
        assert (await me(harness, {"Authorization": f"Bearer {forged}"}))[0] == 401

    async def test_token_signed_with_another_key_is_refused(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        claims = jwt.decode(session.token, options={"verify_signature": False})
        forged = jwt.encode(
            claims, "another-secret-0123456789abcdef0123", algorithm="HS256", headers={"kid": "k1"}
        )
        unknown_kid = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256", headers={"kid": "k9"})
        assert (await me(harness, {"Authorization": f"Bearer {forged}"}))[0] == 401
        assert (await me(harness, {"Authorization": f"Bearer {unknown_kid}"}))[0] == 401

    async def test_wrong_audience_is_refused(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        claims = jwt.decode(session.token, options={"verify_signature": False})
        claims["aud"] = "another-service"
        other = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256", headers={"kid": "k1"})
        assert (await me(harness, {"Authorization": f"Bearer {other}"}))[0] == 401

    async def test_expired_token_is_refused(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        harness.clock.advance(minutes=14, seconds=59)
        assert (await me(harness, session.headers))[0] == 200
        harness.clock.advance(seconds=1)
        status, body = await me(harness, session.headers)
        assert (status, body["code"]) == (401, "UNAUTHORIZED")

    @pytest.mark.parametrize(
        "header", ["", "Bearer", "Bearer ", "Basic abc", "Token xyz", "Bearer not.a.jwt"]
    )
    async def test_missing_or_malformed_authorization(self, harness: Harness, header: str) -> None:
        status, body = await me(harness, {"Authorization": header} if header else {})
        assert (status, body["code"]) == (401, "UNAUTHORIZED")


class TestRefreshRotation:
    async def test_reuse_after_grace_revokes_the_whole_family(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        rotated = (
            await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        ).json()
        harness.clock.advance(seconds=31)
        reuse = await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        assert (reuse.status_code, reuse.json()["code"]) == (401, "REFRESH_TOKEN_REUSED")
        # The thief's replay killed the legitimate successor and the live access token too.
        later = await harness.client.post("/v1/auth/refresh", json={"refreshToken": rotated["refreshToken"]})
        assert later.status_code == 401
        assert (await me(harness, {"Authorization": f"Bearer {rotated['token']}"}))[0] == 401
        families = await db_rows(harness, select(refresh_token_families))
        assert families[0]["revoked_reason"] == "REUSE_DETECTED"

    async def test_retry_within_grace_window_gets_a_new_pair(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        lost = (
            await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        ).json()
        harness.clock.advance(seconds=10)
        retry = await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        assert retry.status_code == 200
        assert retry.json()["refreshToken"] != lost["refreshToken"]
        # The pair whose response was lost is retired: presenting it later is a reuse.
        harness.clock.advance(seconds=31)
        late = await harness.client.post("/v1/auth/refresh", json={"refreshToken": lost["refreshToken"]})
        assert (late.status_code, late.json()["code"]) == (401, "REFRESH_TOKEN_REUSED")

    async def test_retry_within_grace_then_continue(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        retry = (
            await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        ).json()
        nxt = await harness.client.post("/v1/auth/refresh", json={"refreshToken": retry["refreshToken"]})
        assert nxt.status_code == 200
        assert (await me(harness, {"Authorization": f"Bearer {nxt.json()['token']}"}))[0] == 200

    async def test_unknown_and_expired_refresh_tokens(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        response = await harness.client.post("/v1/auth/refresh", json={"refreshToken": "x" * 43})
        assert (response.status_code, response.json()["code"]) == (401, "INVALID_REFRESH_TOKEN")
        harness.clock.advance(days=30, seconds=1)
        response = await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        assert (response.status_code, response.json()["code"]) == (401, "INVALID_REFRESH_TOKEN")

    async def test_concurrent_refreshes_leave_one_live_token(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        responses = await asyncio.gather(
            *(
                harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
                for _ in range(4)
            )
        )
        assert {r.status_code for r in responses} <= {200, 401}
        assert any(r.status_code == 200 for r in responses)
        live = await db_rows(harness, select(refresh_tokens).where(refresh_tokens.c.used_at.is_(None)))
        assert len(live) == 1


class TestDeviceBinding:
    async def test_device_bound_session_refuses_other_devices(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE, device_id="phone-A")
        assert (await me(harness, session.headers))[0] == 200
        bearer = {"Authorization": f"Bearer {session.token}"}
        status, body = await me(harness, {**bearer, "X-Device-Id": "phone-B"})
        assert (status, body["code"]) == (401, "DEVICE_MISMATCH")
        status, body = await me(harness, bearer)
        assert (status, body["code"]) == (401, "DEVICE_MISMATCH")
        response = await harness.client.post(
            "/v1/auth/refresh",
            json={"refreshToken": session.refresh_token},
            headers={"X-Device-Id": "phone-B"},
        )
        assert (response.status_code, response.json()["code"]) == (401, "DEVICE_MISMATCH")
        bindings = await db_rows(harness, select(device_bindings))
        assert [(b["user_id"], b["device_id"]) for b in bindings] == [(session.user_id, "phone-A")]

    async def test_session_without_device_accepts_any_header(self, harness: Harness) -> None:
        session = await sign_up(harness, MOBILE)
        assert (await me(harness, {**session.headers, "X-Device-Id": "anything"}))[0] == 200


class TestAccountStatus:
    @pytest.mark.parametrize(
        ("status", "code"),
        [
            ("BLOCKED", "ACCOUNT_BLOCKED"),
            ("SUSPENDED", "ACCOUNT_SUSPENDED"),
            ("INACTIVE", "ACCOUNT_INACTIVE"),
        ],
    )
    async def test_status_is_reread_on_every_request(self, harness: Harness, status: str, code: str) -> None:
        session = await sign_up(harness, MOBILE)
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(update(users).where(users.c.id == session.user_id).values(status=status))
        got_status, body = await me(harness, session.headers)
        assert (got_status, body["code"]) == (403, code)
        refresh = await harness.client.post("/v1/auth/refresh", json={"refreshToken": session.refresh_token})
        assert (refresh.status_code, refresh.json()["code"]) == (403, code)
        code_now = await request_code(harness, MOBILE)
        response = await harness.client.post("/v1/auth/login", json={"mobile": MOBILE, "otp": code_now})
        assert (response.status_code, response.json()["code"]) == (403, code)


async def test_sign_in_helper_roundtrip(harness: Harness) -> None:
    await create_user_directly(harness, MOBILE, Role.KYC_ADMIN)
    session = await sign_in(harness, MOBILE)
    assert (await me(harness, session.headers))[1]["role"] == "KYC_ADMIN"
