"""Identity use cases: login codes, sessions with rotating refresh tokens, registration.

Each use case owns its transaction. Where a refusal must leave a trace (a wrong code counted, a
reused refresh token revoking its family), the trace is committed first and the error raised
after, so that rolling back the request cannot erase it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.enforcement import is_blocked
from rodistaa.auth import repo
from rodistaa.auth.errors import (
    AccountBlocked,
    AccountInactive,
    AccountSuspended,
    AlreadyRegistered,
    DeviceBlocked,
    DeviceMismatch,
    InvalidOtp,
    InvalidRefreshToken,
    OtpLocked,
    RefreshTokenReused,
)
from rodistaa.auth.otp_sender import OtpSender
from rodistaa.core.actor import Actor
from rodistaa.core.clock import Clock
from rodistaa.core.errors import Unauthorized
from rodistaa.core.ids import new_id, new_user_id
from rodistaa.core.roles import Role, UserStatus
from rodistaa.db.engine import Database
from rodistaa.http.ratelimit import LimitResult, RateLimiter
from rodistaa.security.otp import generate_otp, hash_otp
from rodistaa.security.tokens import (
    TokenClaims,
    TokenError,
    TokenService,
    hash_refresh_token,
    new_refresh_token,
)
from rodistaa.settings import Settings
from rodistaa.users import repo as users_repo
from rodistaa.users.repo import MobileAlreadyRegistered, UserRecord

SIGNUP_TOKEN_TTL = timedelta(minutes=15)


@dataclass(frozen=True)
class OtpIssued:
    expires_in_s: int
    limit: LimitResult
    dev_code: str | None


@dataclass(frozen=True)
class SessionTokens:
    access_token: str
    refresh_token: str
    expires_in_s: int


@dataclass(frozen=True)
class LoginResult:
    """Either a session for an existing user, or a sign-up token for a new phone."""

    user: UserRecord | None
    tokens: SessionTokens | None
    signup_token: str | None
    limit: LimitResult


def ensure_can_act(status: UserStatus | str, *, blocked: bool = False, suspended: bool = False) -> None:
    """Refuse blocked, suspended and inactive accounts (re-read on every request). An active
    ACS or admin block counts as much as the account's own status."""
    status = UserStatus(status)
    if blocked or status is UserStatus.BLOCKED:
        raise AccountBlocked()
    if suspended or status is UserStatus.SUSPENDED:
        raise AccountSuspended()
    if status is UserStatus.INACTIVE:
        raise AccountInactive()


def _device_hash(device_id: str | None) -> str | None:
    """Audit data carries no raw identifiers a person could be traced by; a hash still lets an
    investigator match devices across entries."""
    return hashlib.sha256(device_id.encode()).hexdigest() if device_id else None


class AuthService:
    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        clock: Clock,
        tokens: TokenService,
        limiter: RateLimiter,
        sender: OtpSender,
        hmac_key: bytes,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._tokens = tokens
        self._limiter = limiter
        self._sender = sender
        self._hmac_key = hmac_key

    # --- login codes ---------------------------------------------------------------------------

    async def request_otp(self, mobile: str, *, client_ip: str) -> OtpIssued:
        limit = await self._limiter.enforce([("otp_request_phone", mobile), ("otp_request_ip", client_ip)])
        code = generate_otp()
        now = self._clock.now()
        async with self._db.transaction() as conn:
            await repo.replace_otp(
                conn,
                mobile=mobile,
                code_hash=hash_otp(self._hmac_key, mobile, code),
                now=now,
                expires_at=now + timedelta(seconds=self._settings.otp_ttl_s),
            )
        # Sent only after commit: a code the database does not hold must never reach a phone.
        await self._sender.send(mobile, code, self._settings.otp_ttl_s)
        dev_code = code if self._settings.otp_dev_echo else None
        return OtpIssued(self._settings.otp_ttl_s, limit, dev_code)

    async def login(self, mobile: str, code: str, *, device_id: str | None, client_ip: str) -> LoginResult:
        limit = await self._limiter.enforce([("login_phone", mobile), ("login_ip", client_ip)])
        await self._consume_otp(mobile, code)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            user = await users_repo.get_by_mobile(conn, mobile)
            if user is None:
                signup, _ = self._tokens.issue(
                    subject=mobile,
                    token_type="signup",  # nosec B106 # noqa: S106 - a token kind, not a secret
                    ttl=SIGNUP_TOKEN_TTL,
                    now=now,
                    device_id=device_id,
                )
                return LoginResult(None, None, signup, limit)
            await self._ensure_account_usable(conn, user, now)
            if device_id and await is_blocked(conn, "device", device_id, now):
                raise DeviceBlocked()
            tokens = await self._open_session(conn, user, device_id, action="auth.login")
        return LoginResult(user, tokens, None, limit)

    async def _consume_otp(self, mobile: str, code: str) -> None:
        now = self._clock.now()
        max_attempts = self._settings.otp_max_attempts
        async with self._db.transaction() as conn:
            stored = await repo.get_otp(conn, mobile)
            if stored is None or stored.consumed_at is not None or stored.expires_at <= now:
                raise InvalidOtp()
            if stored.attempts >= max_attempts:
                raise OtpLocked()
            if await repo.consume_otp(
                conn,
                mobile=mobile,
                code_hash=hash_otp(self._hmac_key, mobile, code),
                max_attempts=max_attempts,
                now=now,
            ):
                return
            await repo.count_wrong_otp(conn, mobile=mobile, code_hash=stored.code_hash)
        # Raised after the commit so the wrong attempt stays counted.
        raise InvalidOtp()

    @staticmethod
    async def _ensure_account_usable(conn: AsyncConnection, user: UserRecord, now: datetime) -> None:
        blocked, suspended = await repo.get_enforcement_state(conn, user_id=user.id, now=now)
        ensure_can_act(user.status, blocked=blocked, suspended=suspended)

    # --- sessions ------------------------------------------------------------------------------

    async def _open_session(
        self, conn: AsyncConnection, user: UserRecord, device_id: str | None, *, action: str
    ) -> SessionTokens:
        """A new session and its first token pair, audited (the append comes last so the
        chain's lock is held only until the commit that follows)."""
        now = self._clock.now()
        family_id = new_id("SES")
        await repo.insert_family(conn, family_id=family_id, user_id=user.id, device_id=device_id, now=now)
        if device_id:
            await repo.bind_device(conn, user_id=user.id, device_id=device_id, now=now)
        tokens = await self._issue_pair(conn, user.id, user.role, family_id, device_id)
        data = {"sessionId": family_id, "role": user.role.value, "deviceHash": _device_hash(device_id)}
        await append(conn, AuditEntryDraft(user.id, action, "user", user.id, data), now=now)
        return tokens

    async def _issue_pair(
        self,
        conn: AsyncConnection,
        user_id: str,
        role: Role | str,
        family_id: str,
        device_id: str | None,
        *,
        token_id: str | None = None,
    ) -> SessionTokens:
        now = self._clock.now()
        refresh_token = new_refresh_token()
        await repo.insert_refresh_token(
            conn,
            token_id=token_id or new_id("RTK"),
            family_id=family_id,
            token_hash=hash_refresh_token(refresh_token),
            now=now,
            expires_at=now + timedelta(seconds=self._settings.refresh_token_ttl_s),
        )
        access_token, _ = self._tokens.issue(
            subject=user_id,
            token_type="access",  # nosec B106 # noqa: S106 - a token kind, not a secret
            ttl=timedelta(seconds=self._settings.access_token_ttl_s),
            now=now,
            role=str(role),
            session_id=family_id,
            device_id=device_id,
        )
        return SessionTokens(access_token, refresh_token, self._settings.access_token_ttl_s)

    async def refresh(
        self, refresh_token: str, *, device_header: str | None
    ) -> tuple[UserRecord, SessionTokens]:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            row = await repo.find_refresh_token(conn, hash_refresh_token(refresh_token))
            if row is None or row.family_revoked or row.expires_at <= now:
                raise InvalidRefreshToken()
            if row.device_id and device_header != row.device_id:
                raise DeviceMismatch()
            user = await users_repo.get_by_id(conn, row.user_id)
            if user is None:
                raise InvalidRefreshToken()
            await self._ensure_account_usable(conn, user, now)
            successor_id = new_id("RTK")
            if await repo.claim_refresh_token(conn, token_id=row.id, successor_id=successor_id, now=now):
                tokens = await self._issue_pair(
                    conn, user.id, user.role, row.family_id, row.device_id, token_id=successor_id
                )
                return user, tokens
            retried = await self._retry_within_grace(conn, row, user)
            if retried is not None:
                return user, retried
            await repo.revoke_family(conn, row.family_id, reason="REUSE_DETECTED", now=now)
            draft = AuditEntryDraft(
                "system:auth",
                "auth.refresh_reuse_detected",
                "user",
                row.user_id,
                {"sessionId": row.family_id},
            )
            await append(conn, draft, now=now)
        # Raised after the commit so the family stays revoked.
        raise RefreshTokenReused()

    async def _retry_within_grace(
        self, conn: AsyncConnection, row: repo.RefreshTokenRow, user: UserRecord
    ) -> SessionTokens | None:
        """A client that lost the response may present the token again for a few seconds: the
        unused successor is retired and a new one issued. Anything else is a reuse."""
        now = self._clock.now()
        fresh = await repo.find_refresh_token_by_id(conn, row.id)
        if fresh is None or fresh.used_at is None or fresh.replaced_by_id is None:
            return None
        if now - fresh.used_at > timedelta(seconds=self._settings.refresh_reuse_grace_s):
            return None
        successor_id = new_id("RTK")
        if not await repo.claim_refresh_token(
            conn, token_id=fresh.replaced_by_id, successor_id=successor_id, now=now
        ):
            return None
        return await self._issue_pair(
            conn, user.id, user.role, row.family_id, row.device_id, token_id=successor_id
        )

    async def logout(self, actor: Actor) -> None:
        async with self._db.transaction() as conn:
            now = self._clock.now()
            await repo.revoke_family(conn, actor.session_id, reason="LOGOUT", now=now)
            draft = AuditEntryDraft(
                actor.user_id, "auth.logout", "user", actor.user_id, {"sessionId": actor.session_id}
            )
            await append(conn, draft, now=now)

    # --- authentication of requests ------------------------------------------------------------

    async def authenticate(self, access_token: str, *, device_header: str | None) -> Actor:
        claims = self._verify(access_token, "access")
        if claims.session_id is None:
            raise Unauthorized()
        if claims.device_id and device_header != claims.device_id:
            raise DeviceMismatch()
        async with self._db.read() as conn:
            session = await repo.get_session_user(
                conn,
                user_id=claims.subject,
                session_id=claims.session_id,
                device_id=claims.device_id,
                now=self._clock.now(),
            )
        if session is None or session.session_revoked:
            raise Unauthorized()
        if session.device_blocked:
            raise DeviceBlocked()
        ensure_can_act(session.status, blocked=session.blocked, suspended=session.suspended)
        return Actor(
            user_id=session.user_id,
            role=Role(session.role),
            session_id=claims.session_id,
            device_id=claims.device_id,
        )

    def _verify(self, token: str, token_type: str) -> TokenClaims:
        try:
            return self._tokens.verify(token, expected_type=token_type, now=self._clock.now())  # type: ignore[arg-type]
        except TokenError as exc:
            raise Unauthorized() from exc

    # --- registration --------------------------------------------------------------------------

    def signup_claims(self, bearer_token: str) -> TokenClaims:
        """The sign-up token of a verified phone; a registered user's access token is a 409."""
        try:
            return self._tokens.verify(bearer_token, expected_type="signup", now=self._clock.now())
        except TokenError as exc:
            try:
                self._tokens.verify(bearer_token, expected_type="access", now=self._clock.now())
            except TokenError:
                raise Unauthorized() from exc
            raise AlreadyRegistered() from exc

    async def register(
        self, claims: TokenClaims, *, name: str, role: Role, email: str | None
    ) -> tuple[UserRecord, SessionTokens]:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            if not await repo.mark_signup_token_used(conn, jti=claims.jti, now=now):
                raise AlreadyRegistered()
            if claims.device_id and await is_blocked(conn, "device", claims.device_id, now):
                raise DeviceBlocked()
            try:
                user = await users_repo.insert(
                    conn,
                    user_id=new_user_id(role.value),
                    mobile=claims.subject,
                    name=name,
                    email=email,
                    role=role,
                    created_by=None,
                    now=now,
                )
            except MobileAlreadyRegistered as exc:
                raise AlreadyRegistered() from exc
            tokens = await self._open_session(conn, user, claims.device_id, action="user.registered")
        return user, tokens
