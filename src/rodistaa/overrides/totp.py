"""Admin TOTP (RFC 6238 via `pyotp`): enrolment, confirmation and one-time verification.

Decisions:
* 30-second steps, 6 digits, SHA-1 (what every authenticator app accepts); a code is accepted
  for its own step and one step either side (±30 s of clock drift).
* A code is accepted at most once: verification stores the matched step in `last_used_step`
  with a conditional UPDATE (`... WHERE last_used_step IS NULL OR last_used_step < :step`), so
  a replayed code, a code older than the last accepted one, and two concurrent requests with
  the same code all get one acceptance at most.
* The base32 secret is stored encrypted under the admin's data key (envelope encryption,
  associated data `admin_totp:<userId>:secret`); it leaves the server once, in the enrolment
  response. Codes and secrets are never logged or audited.
* Enrolling again replaces an unconfirmed secret; a confirmed one cannot be replaced through
  the API (a stolen session must not be able to move the second factor to its own device).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.overrides.tables import admin_totp
from rodistaa.security.envelope import DataKeys, decrypt_text, encrypt_text

ISSUER = "Rodistaa"
STEP_SECONDS = 30
DIGITS = 6
WINDOW_STEPS = 1


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str


@dataclass(frozen=True)
class TotpState:
    user_id: str
    secret_ciphertext: str
    confirmed: bool
    last_used_step: int | None


def _associated_data(user_id: str) -> bytes:
    return f"admin_totp:{user_id}:secret".encode()


def _step(at: datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def code_at(secret: str, at: datetime) -> str:
    """The code an authenticator shows at `at` (used by verification and by tests)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(at)


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The step within ±WINDOW_STEPS of `now` whose code is `code`, or None. Compared in
    constant time; the newest matching step wins."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = _step(now)
    for step in range(current + WINDOW_STEPS, current - WINDOW_STEPS - 1, -1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


async def get_state(conn: AsyncConnection, user_id: str) -> TotpState | None:
    row = (await conn.execute(select(admin_totp).where(admin_totp.c.user_id == user_id))).mappings().first()
    if row is None:
        return None
    return TotpState(
        user_id=row["user_id"],
        secret_ciphertext=row["secret_ciphertext"],
        confirmed=row["confirmed_at"] is not None,
        last_used_step=row["last_used_step"],
    )


async def store_new_secret(
    conn: AsyncConnection, data_keys: DataKeys, user_id: str, *, label: str, now: datetime
) -> Enrolment:
    """Generate a secret and store it (replacing an unconfirmed one; the caller has checked
    that no confirmed one exists, under the row lock it took)."""
    secret = pyotp.random_base32()
    key = await data_keys.for_writing(conn, user_id, now=now)
    ciphertext = encrypt_text(key, secret, _associated_data(user_id))
    await conn.execute(admin_totp.delete().where(admin_totp.c.user_id == user_id))
    await conn.execute(
        admin_totp.insert().values(
            user_id=user_id,
            secret_ciphertext=ciphertext,
            enrolled_at=now,
            confirmed_at=None,
            last_used_step=None,
        )
    )
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=label, issuer_name=ISSUER
    )
    return Enrolment(secret, uri)


async def consume_code(
    conn: AsyncConnection, data_keys: DataKeys, state: TotpState, code: str, *, now: datetime
) -> bool:
    """True when `code` is valid now and was not used before; the step is then recorded so it
    is never accepted again. Works for unconfirmed enrolments too (confirmation uses it)."""
    key = await data_keys.for_reading(conn, state.user_id)
    secret = decrypt_text(key, state.secret_ciphertext, _associated_data(state.user_id))
    step = matching_step(secret, code, now)
    if step is None:
        return False
    claimed = await conn.execute(
        update(admin_totp)
        .where(
            admin_totp.c.user_id == state.user_id,
            admin_totp.c.secret_ciphertext == state.secret_ciphertext,
            or_(admin_totp.c.last_used_step.is_(None), admin_totp.c.last_used_step < step),
        )
        .values(last_used_step=step)
    )
    return claimed.rowcount == 1


async def mark_confirmed(conn: AsyncConnection, user_id: str, *, now: datetime) -> bool:
    result = await conn.execute(
        update(admin_totp)
        .where(admin_totp.c.user_id == user_id, admin_totp.c.confirmed_at.is_(None))
        .values(confirmed_at=now)
    )
    return result.rowcount == 1
