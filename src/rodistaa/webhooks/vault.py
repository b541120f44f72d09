"""The per-subscription signing secret at rest.

The worker must sign with the secret, so it is stored encrypted, not hashed. Each subscription
gets a data key of its own from the KMS (`generate_data_key`, context
`rodistaa-webhook-secret:<subscription id>`); the secret is encrypted with it (AES-256-GCM,
associated data `webhook:<id>:secret`, so a ciphertext copied onto another subscription does
not open) and the column holds `<wrapped data key> <base64 ciphertext>`. A KMS key, not the
registering admin's data key: a subscription belongs to the platform and must outlive the
erasure of the admin who created it. Master-key rotation re-wraps nothing here yet: an old
version keeps unwrapping as long as it stays configured.
"""

from __future__ import annotations

import secrets

from rodistaa.security.envelope import decrypt_text, encrypt_text
from rodistaa.security.kms import KmsProvider, WrappedKey

SECRET_BYTES = 32
_SEPARATOR = " "  # neither a wrapped key nor base64 contains a space


def _context(subscription_id: str) -> bytes:
    return f"rodistaa-webhook-secret:{subscription_id}".encode()


def _associated_data(subscription_id: str) -> bytes:
    return f"webhook:{subscription_id}:secret".encode()


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


async def seal(kms: KmsProvider, subscription_id: str, secret: str) -> str:
    key, wrapped = await kms.generate_data_key(_context(subscription_id))
    ciphertext = encrypt_text(key, secret, _associated_data(subscription_id))
    return f"{wrapped.serialize()}{_SEPARATOR}{ciphertext}"


async def open_secret(kms: KmsProvider, subscription_id: str, sealed: str) -> str:
    """The secret; raises `UnwrapError`/`DecryptionFailed` for a value that does not open."""
    wrapped, _, ciphertext = sealed.partition(_SEPARATOR)
    key = await kms.unwrap_data_key(WrappedKey.parse(wrapped), _context(subscription_id))
    return decrypt_text(key, ciphertext, _associated_data(subscription_id))
