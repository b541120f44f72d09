"""Envelope encryption: records are encrypted with their owner's data key (AES-256-GCM, a
random 96-bit nonce per message); the data key is stored only wrapped by the KMS.

Associated data binds a ciphertext to its record ("kyc:KYC-…:file"), so a ciphertext copied onto
another record, or another field, fails to decrypt instead of showing the wrong person's data.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.db.tables import user_data_keys
from rodistaa.security.kms import KmsProvider, WrappedKey

NONCE_BYTES = 12
_FORMAT = b"\x01"  # leading version byte, so the layout can change without guessing


class DataKeyDestroyed(Exception):
    """The owner's data key was destroyed (erasure): their documents cannot be read any more."""


class DecryptionFailed(Exception):
    """Wrong key or associated data, or a tampered ciphertext. Says nothing about the content."""


def encrypt(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return _FORMAT + nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def decrypt(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    if blob[:1] != _FORMAT or len(blob) < 1 + NONCE_BYTES + 16:
        raise DecryptionFailed("not an envelope ciphertext")
    nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, associated_data)
    except InvalidTag:
        raise DecryptionFailed("ciphertext does not authenticate") from None


def encrypt_text(key: bytes, text: str, associated_data: bytes) -> str:
    """For short fields stored in text columns (document and chassis numbers)."""
    return base64.b64encode(encrypt(key, text.encode(), associated_data)).decode()


def decrypt_text(key: bytes, stored: str, associated_data: bytes) -> str:
    return decrypt(key, base64.b64decode(stored), associated_data).decode()


def _key_context(user_id: str) -> bytes:
    return f"rodistaa-user-data-key:{user_id}".encode()


class DataKeys:
    """Per-user data keys, created on first use, unwrapped through the KMS when needed."""

    def __init__(self, kms: KmsProvider) -> None:
        self._kms = kms

    async def for_writing(self, conn: AsyncConnection, user_id: str, *, now: datetime) -> bytes:
        """The user's data key, created if they have none yet. The primary key settles a race
        between two first uploads: one insert wins and the other reads the winner's key."""
        query = select(user_data_keys).where(user_data_keys.c.user_id == user_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is not None:
            return await self._unwrap(user_id, row.wrapped_key)
        plaintext, wrapped = await self._kms.generate_data_key(_key_context(user_id))
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        created = await conn.execute(
            insert(user_data_keys)
            .values(user_id=user_id, wrapped_key=wrapped.serialize(), created_at=now)
            .on_conflict_do_nothing(index_elements=[user_data_keys.c.user_id])
        )
        if created.rowcount == 1:
            return plaintext
        # A concurrent first upload created the key between our read and insert: use theirs.
        existing = (
            await conn.execute(select(user_data_keys).where(user_data_keys.c.user_id == user_id))
        ).one()
        return await self._unwrap(user_id, existing.wrapped_key)

    async def for_reading(self, conn: AsyncConnection, user_id: str) -> bytes:
        row = (await conn.execute(select(user_data_keys).where(user_data_keys.c.user_id == user_id))).first()
        if row is None:
            raise DataKeyDestroyed(f"no data key for {user_id}")
        return await self._unwrap(user_id, row.wrapped_key)

    async def _unwrap(self, user_id: str, wrapped_key: str | None) -> bytes:
        if wrapped_key is None:
            raise DataKeyDestroyed(f"the data key of {user_id} was destroyed")
        return await self._kms.unwrap_data_key(WrappedKey.parse(wrapped_key), _key_context(user_id))

    async def destroy(self, conn: AsyncConnection, user_id: str, *, now: datetime) -> bool:
        """Crypto-shredding: forget the wrapped key; every ciphertext under it is now noise."""
        result = await conn.execute(
            update(user_data_keys)
            .where(user_data_keys.c.user_id == user_id, user_data_keys.c.wrapped_key.is_not(None))
            .values(wrapped_key=None, destroyed_at=now)
        )
        return result.rowcount == 1

    async def rewrap_all(self, conn: AsyncConnection, *, now: datetime, batch: int = 500) -> int:
        """Re-wrap every live data key under the KMS's current master version (master-key
        rotation). The documents themselves are not touched."""
        count = 0
        after = ""
        while True:
            rows = (
                await conn.execute(
                    select(user_data_keys.c.user_id, user_data_keys.c.wrapped_key)
                    .where(user_data_keys.c.user_id > after, user_data_keys.c.wrapped_key.is_not(None))
                    .order_by(user_data_keys.c.user_id)
                    .limit(batch)
                )
            ).all()
            if not rows:
                return count
            for user_id, wrapped_key in rows:
                rewrapped = await self._kms.rewrap(WrappedKey.parse(wrapped_key), _key_context(user_id))
                # Conditional on the value read: an erasure committed meanwhile must stay erased.
                result = await conn.execute(
                    update(user_data_keys)
                    .where(user_data_keys.c.user_id == user_id, user_data_keys.c.wrapped_key == wrapped_key)
                    .values(wrapped_key=rewrapped.serialize(), rewrapped_at=now)
                )
                count += result.rowcount
            after = rows[-1][0]
