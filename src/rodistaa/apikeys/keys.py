"""The key format and its hash: `rk_<prefix>_<secret>`.

The prefix (12 random ASCII letters and digits) is public: it is stored, shown in listings as
`rk_<prefix>` and used to find the row. The secret is `secrets.token_urlsafe(32)` (256 bits) and
is never stored: the row keeps HMAC-SHA256(HMAC_KEY, whole key), so a database leak alone does
not yield usable keys. The prefix has a fixed length because the secret's alphabet contains `_`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

from rodistaa.security.pii import mask_text

KEY_MARKER = "rk_"
PREFIX_LENGTH = 12
SECRET_BYTES = 32
_PREFIX_ALPHABET = string.ascii_letters + string.digits
# "rk_" + prefix + "_" + 43 characters of token_urlsafe(32).
KEY_LENGTH = len(KEY_MARKER) + PREFIX_LENGTH + 1 + 43


@dataclass(frozen=True)
class NewKey:
    prefix: str
    key: str


def public_prefix(prefix: str) -> str:
    """How listings, logs and the audit log name a key."""
    return f"{KEY_MARKER}{prefix}"


def new_key() -> NewKey:
    prefix = _new_prefix()
    return NewKey(prefix=prefix, key=f"{KEY_MARKER}{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}")


def _new_prefix() -> str:
    """A prefix the PII masker leaves alone. One that reads as personal data (ten digits in a
    row look like a phone number) would be masked in logs and refused by the audit log, so it
    is drawn again; that happens for about one prefix in a hundred million."""
    while True:
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
        if mask_text(public_prefix(prefix)) == public_prefix(prefix):
            return prefix


def prefix_of(presented: str) -> str | None:
    """The prefix of a well-formed key, None for anything else (no lookup is made then)."""
    if len(presented) != KEY_LENGTH or not presented.startswith(KEY_MARKER):
        return None
    prefix = presented[len(KEY_MARKER) : len(KEY_MARKER) + PREFIX_LENGTH]
    if presented[len(KEY_MARKER) + PREFIX_LENGTH] != "_" or not all(c in _PREFIX_ALPHABET for c in prefix):
        return None
    return prefix


def key_hash(hmac_key: bytes, key: str) -> str:
    return hmac.new(hmac_key, key.encode(), hashlib.sha256).hexdigest()


def matches(hmac_key: bytes, presented: str, stored_hash: str) -> bool:
    """Constant-time comparison with the stored hash."""
    return hmac.compare_digest(key_hash(hmac_key, presented), stored_hash)
