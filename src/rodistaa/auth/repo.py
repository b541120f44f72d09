"""All SQL for login codes, sessions (refresh-token families), devices and signing keys."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, exists, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.enforcement import active_block_clause, person_blocked, person_suspended
from rodistaa.db.metadata import UTCDateTime
from rodistaa.db.tables import (
    device_bindings,
    jwt_key_activations,
    otp_codes,
    refresh_token_families,
    refresh_tokens,
    signup_tokens_used,
    users,
)


def _upsert(conn: AsyncConnection):  # type: ignore[no-untyped-def]
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


# --- login codes -------------------------------------------------------------------------------


async def replace_otp(
    conn: AsyncConnection, *, mobile: str, code_hash: str, now: datetime, expires_at: datetime
) -> None:
    """A new request replaces the previous code and its attempt count."""
    values = {
        "mobile": mobile,
        "code_hash": code_hash,
        "attempts": 0,
        "created_at": now,
        "expires_at": expires_at,
        "consumed_at": None,
    }
    stmt = _upsert(conn)(otp_codes).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[otp_codes.c.mobile],
        set_={k: stmt.excluded[k] for k in values if k != "mobile"},
    )
    await conn.execute(stmt)


@dataclass(frozen=True)
class OtpRow:
    code_hash: str
    attempts: int
    expires_at: datetime
    consumed_at: datetime | None


async def get_otp(conn: AsyncConnection, mobile: str) -> OtpRow | None:
    row = (await conn.execute(select(otp_codes).where(otp_codes.c.mobile == mobile))).mappings().first()
    if row is None:
        return None
    return OtpRow(row["code_hash"], row["attempts"], row["expires_at"], row["consumed_at"])


async def consume_otp(
    conn: AsyncConnection, *, mobile: str, code_hash: str, max_attempts: int, now: datetime
) -> bool:
    """Claim the code. The conditions are re-checked atomically, so of two logins racing with
    the right code only one wins, and a code locked by a parallel wrong guess stays locked."""
    result = await conn.execute(
        update(otp_codes)
        .where(
            otp_codes.c.mobile == mobile,
            otp_codes.c.code_hash == code_hash,
            otp_codes.c.consumed_at.is_(None),
            otp_codes.c.attempts < max_attempts,
            otp_codes.c.expires_at > now,
        )
        .values(consumed_at=now)
    )
    return result.rowcount == 1


async def count_wrong_otp(conn: AsyncConnection, *, mobile: str, code_hash: str) -> None:
    await conn.execute(
        update(otp_codes)
        .where(otp_codes.c.mobile == mobile, otp_codes.c.code_hash == code_hash)
        .values(attempts=otp_codes.c.attempts + 1)
    )


# --- sessions ----------------------------------------------------------------------------------


async def insert_family(
    conn: AsyncConnection, *, family_id: str, user_id: str, device_id: str | None, now: datetime
) -> None:
    await conn.execute(
        refresh_token_families.insert().values(
            id=family_id, user_id=user_id, device_id=device_id, created_at=now
        )
    )


async def insert_refresh_token(
    conn: AsyncConnection,
    *,
    token_id: str,
    family_id: str,
    token_hash: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        refresh_tokens.insert().values(
            id=token_id,
            family_id=family_id,
            token_hash=token_hash,
            created_at=now,
            expires_at=expires_at,
        )
    )


@dataclass(frozen=True)
class RefreshTokenRow:
    id: str
    family_id: str
    user_id: str
    device_id: str | None
    expires_at: datetime
    used_at: datetime | None
    replaced_by_id: str | None
    family_revoked: bool


async def find_refresh_token(conn: AsyncConnection, token_hash: str) -> RefreshTokenRow | None:
    return await _find_refresh_token(conn, refresh_tokens.c.token_hash == token_hash)


async def find_refresh_token_by_id(conn: AsyncConnection, token_id: str) -> RefreshTokenRow | None:
    return await _find_refresh_token(conn, refresh_tokens.c.id == token_id)


async def _find_refresh_token(conn: AsyncConnection, condition: Any) -> RefreshTokenRow | None:
    fam = refresh_token_families
    query = (
        select(
            refresh_tokens.c.id,
            refresh_tokens.c.family_id,
            refresh_tokens.c.expires_at,
            refresh_tokens.c.used_at,
            refresh_tokens.c.replaced_by_id,
            fam.c.user_id,
            fam.c.device_id,
            fam.c.revoked_at,
        )
        .join(fam, fam.c.id == refresh_tokens.c.family_id)
        .where(condition)
    )
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    return RefreshTokenRow(
        id=row["id"],
        family_id=row["family_id"],
        user_id=row["user_id"],
        device_id=row["device_id"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        replaced_by_id=row["replaced_by_id"],
        family_revoked=row["revoked_at"] is not None,
    )


async def claim_refresh_token(
    conn: AsyncConnection, *, token_id: str, successor_id: str, now: datetime
) -> bool:
    """Mark a token used. `used_at IS NULL` is the claim: of two refreshes racing with the same
    token only one succeeds; the other is treated as a reuse."""
    result = await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.id == token_id, refresh_tokens.c.used_at.is_(None))
        .values(used_at=now, replaced_by_id=successor_id)
    )
    return result.rowcount == 1


async def revoke_family(conn: AsyncConnection, family_id: str, *, reason: str, now: datetime) -> None:
    await conn.execute(
        update(refresh_token_families)
        .where(
            refresh_token_families.c.id == family_id,
            refresh_token_families.c.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason=reason)
    )


@dataclass(frozen=True)
class SessionUser:
    user_id: str
    role: str
    status: str
    session_revoked: bool
    blocked: bool
    suspended: bool
    device_blocked: bool


@functools.cache
def _session_user_query(*, with_device: bool) -> Select[Any]:
    """Built once per shape and executed with bound values: it runs on every authenticated
    request, and building the expression cost more CPU than running it (docs/performance.md)."""
    fam = refresh_token_families
    now = bindparam("now", type_=UTCDateTime())
    device_blocked = (
        exists().where(active_block_clause(("device",), bindparam("device_id"), now))
        if with_device
        else literal(False)
    )
    return (
        select(
            users.c.id,
            users.c.role,
            users.c.status,
            fam.c.revoked_at,
            person_blocked(users.c.id, now).label("blocked"),
            person_suspended(users.c.id, now).label("suspended"),
            device_blocked.label("device_blocked"),
        )
        .select_from(users)
        .join(fam, and_(fam.c.id == bindparam("session_id"), fam.c.user_id == users.c.id))
        .where(users.c.id == bindparam("user_id"))
    )


async def get_session_user(
    conn: AsyncConnection, *, user_id: str, session_id: str, device_id: str | None, now: datetime
) -> SessionUser | None:
    """The user, the state of the session the access token belongs to, and any active ACS
    block or suspension of the user or of the session's device, in one query (it runs on every
    authenticated request)."""
    parameters = {"user_id": user_id, "session_id": session_id, "now": now}
    if device_id:
        parameters["device_id"] = device_id
    query = _session_user_query(with_device=bool(device_id))
    row = (await conn.execute(query, parameters)).mappings().first()
    if row is None:
        return None
    return SessionUser(
        row["id"],
        row["role"],
        row["status"],
        row["revoked_at"] is not None,
        bool(row["blocked"]),
        bool(row["suspended"]),
        bool(row["device_blocked"]),
    )


async def get_enforcement_state(conn: AsyncConnection, *, user_id: str, now: datetime) -> tuple[bool, bool]:
    """(blocked, suspended) by ACS or an admin, for login and refresh."""
    query = select(person_blocked(literal(user_id), now), person_suspended(literal(user_id), now))
    blocked, suspended = (await conn.execute(query)).one()
    return bool(blocked), bool(suspended)


# --- devices, sign-up tokens, signing keys -----------------------------------------------------


async def bind_device(conn: AsyncConnection, *, user_id: str, device_id: str, now: datetime) -> None:
    stmt = _upsert(conn)(device_bindings).values(
        user_id=user_id, device_id=device_id, first_seen_at=now, last_seen_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[device_bindings.c.user_id, device_bindings.c.device_id],
        set_={"last_seen_at": stmt.excluded.last_seen_at},
    )
    await conn.execute(stmt)


async def mark_signup_token_used(conn: AsyncConnection, *, jti: str, now: datetime) -> bool:
    try:
        async with conn.begin_nested():
            await conn.execute(signup_tokens_used.insert().values(jti=jti, used_at=now))
    except IntegrityError:
        return False
    return True


async def key_activated_at(conn: AsyncConnection, *, kid: str, now: datetime) -> datetime:
    """When `kid` first became the active signing key (recorded now if it is new)."""
    stmt = _upsert(conn)(jwt_key_activations).values(kid=kid, activated_at=now)
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=[jwt_key_activations.c.kid]))
    activated: datetime = (
        await conn.execute(select(jwt_key_activations.c.activated_at).where(jwt_key_activations.c.kid == kid))
    ).scalar_one()
    return activated
