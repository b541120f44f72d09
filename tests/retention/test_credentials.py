"""`credentials-retention`: login codes, used sign-up tokens and dead sessions are deleted a grace
period (EXPIRED_CREDENTIALS_RETENTION_HOURS, 24 h) after they stopped working. A session's used
refresh tokens stay as long as any token of it can still be presented, so a replayed token is
still recognised (and revokes the session) after the job ran."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from rodistaa.auth import repo as auth_repo
from rodistaa.auth.service import SIGNUP_TOKEN_TTL
from rodistaa.db.tables import otp_codes, refresh_token_families, refresh_tokens, signup_tokens_used
from rodistaa.retention.jobs import credentials_retention
from tests.api.flows import Session, refreshed, sign_in, sign_up
from tests.conftest import Harness
from tests.retention.seeding import audit_head_seq, audit_since, rows

GRACE = timedelta(hours=24)


async def seed_code(h: Harness, mobile: str, *, expires_at: datetime, consumed: bool = False) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await auth_repo.replace_otp(
            conn,
            mobile=mobile,
            code_hash="0" * 64,
            now=expires_at - timedelta(minutes=5),
            expires_at=expires_at,
        )
        if consumed:
            used = expires_at - timedelta(minutes=4)
            await conn.execute(update(otp_codes).where(otp_codes.c.mobile == mobile).values(consumed_at=used))


async def seed_signup_use(h: Harness, jti: str, used_at: datetime) -> None:
    async with h.app.state.services.db.transaction() as conn:
        assert await auth_repo.mark_signup_token_used(conn, jti=jti, now=used_at)


async def sessions_of(h: Harness, user_id: str) -> list[dict[str, object]]:
    fam = refresh_token_families
    query = select(fam).where(fam.c.user_id == user_id).order_by(fam.c.created_at)
    return await rows(h, query)


async def token_count(h: Harness, family_id: object) -> int:
    return len(await rows(h, select(refresh_tokens.c.id).where(refresh_tokens.c.family_id == family_id)))


async def logout(h: Harness, session: Session) -> None:
    response = await h.client.post("/v1/auth/logout", headers=session.headers)
    assert response.status_code == 204, response.text


class TestCodesAndSignupTokens:
    async def test_deletes_only_what_expired_more_than_the_grace_ago(self, harness: Harness) -> None:
        h = harness
        now = h.clock.now()
        await seed_code(h, "+919800000001", expires_at=now - GRACE - timedelta(seconds=1))
        await seed_code(h, "+919800000002", expires_at=now - GRACE + timedelta(hours=1))
        await seed_code(h, "+919800000003", expires_at=now - timedelta(days=2), consumed=True)
        await seed_code(h, "+919800000004", expires_at=now + timedelta(minutes=5))
        # A sign-up token is valid SIGNUP_TOKEN_TTL after it was issued, hence at most that after its use.
        await seed_signup_use(h, "jti-old", now - GRACE - SIGNUP_TOKEN_TTL - timedelta(seconds=1))
        await seed_signup_use(h, "jti-recent", now - GRACE - SIGNUP_TOKEN_TTL + timedelta(minutes=1))
        seq = await audit_head_seq(h)

        result = await credentials_retention(h.app.state.services, batch=1)

        expired_before = (now - GRACE).isoformat()
        assert result.summary() == {
            "job": "credentials-retention",
            "loginCodes": 2,
            "signupTokens": 1,
            "sessions": 0,
            "refreshTokens": 0,
            "expiredBefore": expired_before,
        }
        codes = await rows(h, select(otp_codes.c.mobile).order_by(otp_codes.c.mobile))
        assert [r["mobile"] for r in codes] == ["+919800000002", "+919800000004"]
        assert [r["jti"] for r in await rows(h, select(signup_tokens_used.c.jti))] == ["jti-recent"]
        purged = {"before": expired_before}
        assert await audit_since(h, seq) == [
            ("retention.purged", "otp_codes", {"deleted": 1, **purged}),
            ("retention.purged", "otp_codes", {"deleted": 1, **purged}),
            ("retention.purged", "signup_tokens_used", {"deleted": 1, **purged}),
        ]


class TestSessions:
    async def test_a_live_sessions_used_tokens_are_kept_so_a_replay_is_still_caught(
        self, harness: Harness
    ) -> None:
        h = harness
        first = await sign_up(h, "+919811100001")
        await refreshed(h, first)  # the first refresh token is now used
        h.clock.advance(days=29)  # its successor is valid one more day

        result = await credentials_retention(h.app.state.services)

        assert (result.summary()["sessions"], result.summary()["refreshTokens"]) == (0, 0)
        [session] = await sessions_of(h, first.user_id)
        assert await token_count(h, session["id"]) == 2
        replay = await h.client.post("/v1/auth/refresh", json={"refreshToken": first.refresh_token})
        assert replay.status_code == 401 and replay.json()["code"] == "REFRESH_TOKEN_REUSED"
        [revoked] = await sessions_of(h, first.user_id)
        assert revoked["revoked_reason"] == "REUSE_DETECTED"

    async def test_dead_sessions_go_with_all_their_tokens_revoked_or_not(self, harness: Harness) -> None:
        h = harness
        mobile = "+919811100002"
        t0 = h.clock.now()
        rotated = await sign_up(h, mobile)
        await refreshed(h, rotated)
        await logout(h, await sign_in(h, mobile))
        h.clock.advance(hours=12)
        await sign_in(h, mobile)  # its token expires 30 days later: 12 h into the grace
        h.clock.advance(days=30, hours=12, seconds=1)
        await sign_in(h, mobile)
        seq = await audit_head_seq(h)

        result = await credentials_retention(h.app.state.services)

        counts = result.summary()
        assert (counts["sessions"], counts["refreshTokens"], counts["signupTokens"]) == (2, 3, 1)
        left = await sessions_of(h, rotated.user_id)
        assert [s["created_at"] for s in left] == [t0 + timedelta(hours=12), h.clock.now()]
        assert [await token_count(h, s["id"]) for s in left] == [1, 1]
        assert [(action, table) for action, table, _ in await audit_since(h, seq)] == [
            ("retention.purged", "signup_tokens_used"),
            ("retention.purged", "refresh_token_families"),
        ]
        again = await credentials_retention(h.app.state.services)
        assert again.summary()["sessions"] == 0
