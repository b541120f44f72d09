"""The delivery OTP (PRODUCT §6): 6 digits from the CSPRNG, issued when the driver starts, valid
for `DELIVERY_OTP_VALIDITY_S`, shown only to the shipper, typed by the driver at delivery.

Stored twice, never in clear: an HMAC (keyed by `HMAC_KEY`, bound to the shipment) to check
what the driver types, and a ciphertext under the shipper's data key so the shipper can be shown
the code again. Re-issuing replaces the row: the old code stops working at once, the attempt
counter restarts and a lock is released.

Checking a typed code (`check_code`, `count_failed_attempt`, `consume`): only a WRONG code
typed against a live OTP (issued, unexpired, unlocked, unconsumed) counts an attempt; the attempt
that reaches the retry limit locks it, and nothing is counted past the lock. An expired, locked
or never-issued OTP is refused without counting: the driver may well be typing the right code
(it just ran out), and counting it would lock an honest driver out and raise RF04's brute-force
block. Both counting and consuming are bound to the very code that was checked, so a re-issue
between the check and the update wins.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.http.services import Services
from rodistaa.security.envelope import decrypt_text, encrypt_text
from rodistaa.security.otp import generate_otp
from rodistaa.shipments.tables import delivery_otps


def code_hash(key: bytes, shipment_id: str, code: str) -> str:
    # Domain-separated from login codes, and bound to the shipment: a hash copied onto another
    # shipment's row does not accept that shipment's code.
    message = f"rodistaa-delivery-otp-v1\n{shipment_id}\n{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _associated_data(shipment_id: str) -> bytes:
    return f"shipment:{shipment_id}:delivery-otp".encode()


@dataclass(frozen=True)
class OtpState:
    shipment_id: str
    code_hash: str
    code_ciphertext: str
    attempts: int
    issue_count: int
    issued_at: datetime
    expires_at: datetime
    locked_at: datetime | None
    consumed_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


async def get_state(conn: AsyncConnection, shipment_id: str, *, for_update: bool = False) -> OtpState | None:
    query = select(delivery_otps).where(delivery_otps.c.shipment_id == shipment_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return OtpState(**{name: row[name] for name in OtpState.__dataclass_fields__}) if row else None


async def issue(
    conn: AsyncConnection, services: Services, *, shipment_id: str, shipper_id: str, now: datetime
) -> OtpState:
    """Issue a fresh code for the shipment (replacing any earlier one) inside the caller's
    transaction. The code itself is only ever returned by `reveal`, to the shipper."""
    code = generate_otp()
    key = await services.data_keys.for_writing(conn, shipper_id, now=now)
    values = {
        "code_hash": code_hash(services.settings.hmac_key.encode(), shipment_id, code),
        "code_ciphertext": encrypt_text(key, code, _associated_data(shipment_id)),
        "attempts": 0,
        "issued_at": now,
        "expires_at": now + timedelta(seconds=services.settings.delivery_otp_validity_s),
        "locked_at": None,
        "consumed_at": None,
    }
    replaced = await conn.execute(
        update(delivery_otps)
        .where(delivery_otps.c.shipment_id == shipment_id)
        .values(issue_count=delivery_otps.c.issue_count + 1, **values)
    )
    if replaced.rowcount == 0:
        await conn.execute(delivery_otps.insert().values(shipment_id=shipment_id, issue_count=1, **values))
    state = await get_state(conn, shipment_id)
    assert state is not None
    return state


async def reveal(conn: AsyncConnection, services: Services, state: OtpState, *, shipper_id: str) -> str:
    """The code in clear, for the shipper's eyes only (the caller has checked who asks)."""
    key = await services.data_keys.for_reading(conn, shipper_id)
    return decrypt_text(key, state.code_ciphertext, _associated_data(state.shipment_id))


# --- checking what the driver typed (delivery) ----------------------------------------------


class OtpVerdict(StrEnum):
    """Why a typed code is accepted or not. Everything but VALID is judged before the code is
    compared, so telling the driver "expired" or "locked" says nothing about the code."""

    VALID = "VALID"
    WRONG = "WRONG"
    EXPIRED = "EXPIRED"
    LOCKED = "LOCKED"
    NOT_ISSUED = "NOT_ISSUED"
    CONSUMED = "CONSUMED"


def check_code(key: bytes, state: OtpState | None, code: str, now: datetime) -> OtpVerdict:
    """The verdict on `code` against the stored OTP; the hash comparison is constant-time."""
    if state is None:
        return OtpVerdict.NOT_ISSUED
    if state.consumed_at is not None:
        return OtpVerdict.CONSUMED
    if state.locked:
        return OtpVerdict.LOCKED
    if state.expired(now):
        return OtpVerdict.EXPIRED
    typed = code_hash(key, state.shipment_id, code)
    return OtpVerdict.VALID if hmac.compare_digest(typed, state.code_hash) else OtpVerdict.WRONG


async def count_failed_attempt(
    conn: AsyncConnection, checked: OtpState, *, retry_limit: int, now: datetime
) -> OtpState | None:
    """Count one wrong code against `checked`, the OTP it was compared with, if that OTP is
    still live (same code, unexpired, unlocked, unconsumed), and lock it when the count reaches
    `retry_limit`; the new state, or None when nothing was counted.

    Only a WRONG verdict is counted (see the module docstring). One conditional UPDATE:
    concurrent wrong attempts are each counted exactly once, only the attempt that reaches the
    limit sets `locked_at`, and none is counted past the lock (a further count would only
    re-trigger RF04 and stack blocks and tickets), after expiry, or against a re-issued code."""
    new_count = delivery_otps.c.attempts + 1
    counted = await conn.execute(
        update(delivery_otps)
        .where(
            delivery_otps.c.shipment_id == checked.shipment_id,
            delivery_otps.c.code_hash == checked.code_hash,
            delivery_otps.c.locked_at.is_(None),
            delivery_otps.c.consumed_at.is_(None),
            delivery_otps.c.expires_at > now,
        )
        .values(
            attempts=new_count,
            # Typed as the column so the UTC handling of `now` applies inside the CASE too.
            locked_at=case(
                (new_count >= retry_limit, literal(now, delivery_otps.c.locked_at.type)), else_=None
            ),
        )
    )
    if counted.rowcount == 0:
        return None
    return await get_state(conn, checked.shipment_id)


async def consume(conn: AsyncConnection, state: OtpState, *, now: datetime) -> bool:
    """Mark the checked OTP used, if it is still the very code that was checked (same hash: not
    re-issued since), unlocked, unconsumed and unexpired. False when it no longer is."""
    consumed = await conn.execute(
        update(delivery_otps)
        .where(
            delivery_otps.c.shipment_id == state.shipment_id,
            delivery_otps.c.code_hash == state.code_hash,
            delivery_otps.c.consumed_at.is_(None),
            delivery_otps.c.locked_at.is_(None),
            delivery_otps.c.expires_at > now,
        )
        .values(consumed_at=now)
    )
    return bool(consumed.rowcount == 1)
