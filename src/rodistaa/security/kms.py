"""Key management: the provider interface and the `local` provider built from settings.

Two services, both keyed by versioned master keys (the highest version is current):

- **Signing** for audit checkpoints. Each master-key version deterministically yields one
  Ed25519 key pair (HKDF-SHA256, info ``b"rodistaa-audit-checkpoint-v1"``), so every instance
  given the same key material signs with the same key and old signatures keep verifying after
  a new version is added. A signature names its key as ``key_ref = "<key id>/v<version>"``.
- **Envelope encryption** (used by KYC): a random 256-bit data key encrypts the data; the data
  key is stored wrapped with AES-256-GCM under the current master version, the caller's
  context bound in as associated data. Any version still configured unwraps, so master keys
  rotate by adding a version and re-wrapping (`rewrap`) at leisure.

The interface is asynchronous because a cloud provider (AWS KMS, arriving with KYC) answers
over the network; the local provider does its work in-process. Master key material never
appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

import structlog
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

if TYPE_CHECKING:
    from rodistaa.settings import Settings

log = structlog.get_logger("rodistaa.kms")

CHECKPOINT_SIGNING_INFO: Final = b"rodistaa-audit-checkpoint-v1"
# A separate HKDF label so the wrapping key and the signing seed never coincide, although both
# come from the same master key.
DATA_KEY_WRAPPING_INFO: Final = b"rodistaa-kms-wrap-v1"
MASTER_KEY_BYTES: Final = 32
DATA_KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
WRAPPED_KEY_FORMAT: Final = "kms1"
# Key ids end up inside key refs ("id/v3") and wrapped keys ("kms1:id:3:..."): keep them simple.
_KEY_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_KEY_REF_RE: Final = re.compile(r"(?P<key_id>[^/]+)/v(?P<version>[1-9][0-9]{0,8})")


class KmsError(Exception):
    """Base class of KMS failures; messages never contain key material."""


class KmsConfigError(KmsError):
    """The provider cannot be built from the given settings."""


class UnwrapError(KmsError):
    """A wrapped key cannot be opened: wrong context, unknown key or version, or damaged."""


@dataclass(frozen=True, slots=True)
class KmsSignature:
    """A signature and the key that made it (``"<key id>/v<version>"``)."""

    key_ref: str
    signature: bytes


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under one master-key version.

    Serialised as ``kms1:<key id>:<version>:<base64url(nonce || ciphertext+tag)>`` so the
    version needed to unwrap it travels with it.
    """

    key_id: str
    version: int
    nonce: bytes
    ciphertext: bytes

    def serialize(self) -> str:
        blob = base64.urlsafe_b64encode(self.nonce + self.ciphertext).rstrip(b"=").decode("ascii")
        return f"{WRAPPED_KEY_FORMAT}:{self.key_id}:{self.version}:{blob}"

    @classmethod
    def parse(cls, text: str) -> WrappedKey:
        """Inverse of `serialize`; raises `UnwrapError` for anything malformed."""
        parts = text.split(":")
        if len(parts) != 4 or parts[0] != WRAPPED_KEY_FORMAT:
            raise UnwrapError("not a wrapped key in kms1 format")
        _, key_id, version, blob = parts
        if not _KEY_ID_RE.fullmatch(key_id) or not version.isdigit() or int(version) < 1:
            raise UnwrapError("malformed wrapped key header")
        try:
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        except (binascii.Error, ValueError) as exc:
            raise UnwrapError("malformed wrapped key body") from exc
        if len(raw) <= NONCE_BYTES + 16:
            raise UnwrapError("wrapped key body too short")
        return cls(key_id, int(version), raw[:NONCE_BYTES], raw[NONCE_BYTES:])


@runtime_checkable
class KmsProvider(Protocol):
    """What the application needs from a KMS. Implementations: `LocalKms` (aws with KYC)."""

    @property
    def key_id(self) -> str: ...

    async def sign(self, message: bytes) -> KmsSignature:
        """Sign with the current version's checkpoint key."""
        ...

    async def verify(self, key_ref: str, message: bytes, signature: bytes) -> bool:
        """True only for a valid signature by a key this provider knows; never raises for a
        bad signature or an unknown key_ref."""
        ...

    async def public_keys(self) -> dict[str, bytes]:
        """Raw 32-byte Ed25519 public keys by key_ref, for exports and offline verifiers."""
        ...

    async def generate_data_key(self, context: bytes) -> tuple[bytes, WrappedKey]:
        """A fresh data key and its wrapped form (current version, `context` as AAD)."""
        ...

    async def unwrap_data_key(self, wrapped: WrappedKey, context: bytes) -> bytes:
        """The plaintext data key; `UnwrapError` if it cannot be opened with this context."""
        ...

    async def rewrap(self, wrapped: WrappedKey, context: bytes) -> WrappedKey:
        """The same data key wrapped under the current version (rotation)."""
        ...


def _hkdf(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def derive_signing_key(master: bytes) -> Ed25519PrivateKey:
    """The checkpoint signing key of one master-key version (deterministic)."""
    return Ed25519PrivateKey.from_private_bytes(_hkdf(master, CHECKPOINT_SIGNING_INFO))


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Offline verification with a raw public key (exports use this without any KMS)."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def parse_key_ref(key_ref: str) -> tuple[str, int] | None:
    """``"id/v3"`` -> ``("id", 3)``; None when malformed."""
    match = _KEY_REF_RE.fullmatch(key_ref)
    if match is None:
        return None
    return match["key_id"], int(match["version"])


class LocalKms:
    """KMS over master keys held in process memory (from `LOCAL_KMS_KEYS`).

    Suitable when the key material is injected by the deployment (secret store, sealed file);
    the signing and wrapping keys are derived once at construction.
    """

    def __init__(self, key_id: str, versions: Mapping[int, bytes]) -> None:
        if not _KEY_ID_RE.fullmatch(key_id):
            raise KmsConfigError("LOCAL_KMS_KEY_ID: must be 1-128 letters, digits, '.', '_' or '-'")
        if not versions:
            raise KmsConfigError("LOCAL_KMS_KEYS: no key material configured")
        for version, material in versions.items():
            if version < 1:
                raise KmsConfigError("LOCAL_KMS_KEYS: versions start at 1")
            if len(material) != MASTER_KEY_BYTES:
                raise KmsConfigError(f"LOCAL_KMS_KEYS: version {version} is not {MASTER_KEY_BYTES} bytes")
        self._key_id = key_id
        self._current = max(versions)
        self._signing = {v: derive_signing_key(m) for v, m in versions.items()}
        self._wrapping = {v: AESGCM(_hkdf(m, DATA_KEY_WRAPPING_INFO)) for v, m in versions.items()}

    def __repr__(self) -> str:
        return f"LocalKms(key_id={self._key_id!r}, versions={sorted(self._signing)})"

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def current_version(self) -> int:
        return self._current

    def key_ref(self, version: int) -> str:
        return f"{self._key_id}/v{version}"

    async def sign(self, message: bytes) -> KmsSignature:
        signature = self._signing[self._current].sign(message)
        return KmsSignature(self.key_ref(self._current), signature)

    async def verify(self, key_ref: str, message: bytes, signature: bytes) -> bool:
        parsed = parse_key_ref(key_ref)
        if parsed is None or parsed[0] != self._key_id or parsed[1] not in self._signing:
            return False
        public_key = self._signing[parsed[1]].public_key()
        return verify_ed25519(raw_public_key(public_key), message, signature)

    async def public_keys(self) -> dict[str, bytes]:
        return {self.key_ref(v): raw_public_key(k.public_key()) for v, k in sorted(self._signing.items())}

    async def generate_data_key(self, context: bytes) -> tuple[bytes, WrappedKey]:
        data_key = secrets.token_bytes(DATA_KEY_BYTES)
        return data_key, self._wrap(data_key, context)

    async def unwrap_data_key(self, wrapped: WrappedKey, context: bytes) -> bytes:
        if wrapped.key_id != self._key_id:
            raise UnwrapError(f"wrapped under key {wrapped.key_id!r}, this KMS holds {self._key_id!r}")
        aead = self._wrapping.get(wrapped.version)
        if aead is None:
            raise UnwrapError(f"master key version {wrapped.version} is not configured")
        try:
            return aead.decrypt(wrapped.nonce, wrapped.ciphertext, context)
        except InvalidTag as exc:
            # Wrong context, damaged ciphertext, or material that is not the one used to wrap.
            raise UnwrapError("wrapped key does not open with this context and key") from exc

    async def rewrap(self, wrapped: WrappedKey, context: bytes) -> WrappedKey:
        return self._wrap(await self.unwrap_data_key(wrapped, context), context)

    def _wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        # A random 96-bit nonce per wrap: a data key is wrapped a handful of times per master
        # key, far below the ~2^32 messages at which random GCM nonces risk a collision.
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = self._wrapping[self._current].encrypt(nonce, data_key, context)
        return WrappedKey(self._key_id, self._current, nonce, ciphertext)


def build_kms(settings: Settings) -> KmsProvider:
    """The KMS named by `KMS_PROVIDER`; `KmsConfigError` for an unknown or unusable one."""
    if settings.kms_provider != "local":
        raise KmsConfigError(
            f"KMS_PROVIDER={settings.kms_provider!r} is not available: only 'local' is implemented "
            "(the 'aws' provider arrives with KYC)"
        )
    try:
        versions = settings.kms_key_versions
    except ValueError as exc:  # includes binascii.Error (bad base64)
        raise KmsConfigError(f"LOCAL_KMS_KEYS: {exc}") from None
    kms = LocalKms(settings.local_kms_key_id, versions)
    log.info("kms.ready", provider="local", key_id=kms.key_id, current_version=kms.current_version)
    return kms
