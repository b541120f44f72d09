"""JWT access and sign-up tokens signed from a key ring, and opaque refresh tokens.

Access tokens carry `sub, role, typ, jti, iat, exp, iss, aud` (+ `sid` the session family and
`did` the bound device) and a `kid` header. Only HS256 is accepted, so `alg: none` and algorithm
confusion are refused by construction. A key that is no longer active keeps verifying until
`previous_keys_valid_until` (the active key's activation time plus the rotation grace).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

ALGORITHM = "HS256"
TokenType = Literal["access", "signup"]


class TokenError(Exception):
    """The token is not acceptable; the message is safe to show (no token content)."""


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]
    active_kid: str
    previous_keys_valid_until: datetime | None = None

    def signing_key(self) -> tuple[str, bytes]:
        return self.active_kid, self.keys[self.active_kid]

    def verification_key(self, kid: str, now: datetime) -> bytes:
        key = self.keys.get(kid)
        if key is None:
            raise TokenError("unknown signing key")
        if kid != self.active_kid and (
            self.previous_keys_valid_until is None or now >= self.previous_keys_valid_until
        ):
            raise TokenError("signing key retired")
        return key


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    token_type: TokenType
    jti: str
    issued_at: datetime
    expires_at: datetime
    role: str | None = None
    session_id: str | None = None
    device_id: str | None = None


@dataclass(frozen=True)
class TokenService:
    key_ring: KeyRing
    issuer: str
    audience: str

    def issue(
        self,
        *,
        subject: str,
        token_type: TokenType,
        ttl: timedelta,
        now: datetime,
        role: str | None = None,
        session_id: str | None = None,
        device_id: str | None = None,
    ) -> tuple[str, TokenClaims]:
        claims = TokenClaims(
            subject=subject,
            token_type=token_type,
            jti=secrets.token_hex(16),
            issued_at=now,
            expires_at=now + ttl,
            role=role,
            session_id=session_id,
            device_id=device_id,
        )
        payload: dict[str, Any] = {
            "sub": subject,
            "typ": token_type,
            "jti": claims.jti,
            "iat": int(now.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "iss": self.issuer,
            "aud": self.audience,
        }
        optional = {"role": role, "sid": session_id, "did": device_id}
        payload.update({k: v for k, v in optional.items() if v is not None})
        kid, key = self.key_ring.signing_key()
        return jwt.encode(payload, key, algorithm=ALGORITHM, headers={"kid": kid}), claims

    def verify(self, token: str, *, expected_type: TokenType, now: datetime) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise TokenError("unsupported signing algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenError("token has no key id")
        key = self.key_ring.verification_key(kid, now)
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": ["sub", "typ", "jti", "iat", "exp", "iss", "aud"],
                    # Expiry is checked below against the injected clock, not the wall clock.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise TokenError("invalid token") from exc
        return self._claims(payload, expected_type, now)

    @staticmethod
    def _claims(payload: dict[str, Any], expected_type: TokenType, now: datetime) -> TokenClaims:
        if payload.get("typ") != expected_type:
            raise TokenError("wrong token type")
        expires_at = datetime.fromtimestamp(int(payload["exp"]), UTC)
        if now >= expires_at:
            raise TokenError("token expired")
        return TokenClaims(
            subject=str(payload["sub"]),
            token_type=expected_type,
            jti=str(payload["jti"]),
            issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
            expires_at=expires_at,
            role=payload.get("role"),
            session_id=payload.get("sid"),
            device_id=payload.get("did"),
        )


def new_refresh_token() -> str:
    """256 bits from the CSPRNG; only its SHA-256 is stored."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # A plain hash is enough: the token has 256 bits of entropy, nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()
