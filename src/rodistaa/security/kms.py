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

Two providers implement the interface:

- ``local`` (`LocalKms`): master keys held in process memory (`LOCAL_KMS_KEYS`), as above.
- ``aws`` (`AwsKms`): AWS KMS holds the keys. Data keys come from ``GenerateDataKey`` under the
  symmetric key `AWS_KMS_KEY_ID`, with the caller's context as the KMS *encryption context*
  ``{"rodistaa": <context>}``; they are opened with ``Decrypt`` and re-wrapped with
  ``ReEncrypt``. AWS rotates the key material behind a key id itself (automatic rotation keeps
  every older backing key), so "re-wrapping" re-encrypts under the newest material of the
  configured key, or moves data keys to a new key when `AWS_KMS_KEY_ID` is changed (the previous
  key listed after it, comma-separated, still unwraps). Checkpoints are signed with
  ``ECDSA_SHA_256`` by the asymmetric ``ECC_NIST_P256`` key `AWS_KMS_SIGNING_KEY_ID` (again,
  retired signing keys listed after the current one still verify); the key_ref of a signature
  is the signing key's ARN and verification uses its public key (``GetPublicKey``, cached).

The interface is asynchronous because a cloud provider answers over the network (boto3 is
blocking: its calls run in a worker thread); the local provider does its work in-process.
Master key material never appears in a repr, a log line or an error message, nor does a data
key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import structlog
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

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

# AWS: wrapped keys are "aws1:<key ARN>:<base64url(ciphertext blob)>"; the blob carries the
# backing-key version itself, so `WrappedKey.version` is 0 ("managed by the provider").
AWS_WRAPPED_KEY_FORMAT: Final = "aws1"
AWS_ENCRYPTION_CONTEXT_KEY: Final = "rodistaa"
AWS_SIGNING_ALGORITHM: Final = "ECDSA_SHA_256"
AWS_SIGNING_KEY_SPEC: Final = "ECC_NIST_P256"
# KMS signs at most 4096 bytes of RAW message (checkpoint messages are ~150 bytes).
AWS_MAX_SIGNED_MESSAGE_BYTES: Final = 4096
_AWS_KEY_ARN_RE: Final = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,128}")
# Key id, key ARN, alias name or alias ARN, as AWS accepts them in KeyId.
_AWS_KEY_SPEC_RE: Final = re.compile(r"[A-Za-z0-9:/_.+=@-]{1,2048}")
# Decrypt/ReEncrypt refusals that mean "this wrapped key does not open here" rather than
# "KMS is unreachable, throttling or not permitted".
_AWS_UNWRAP_REFUSALS: Final = frozenset(
    {
        "InvalidCiphertextException",
        "IncorrectKeyException",
        "NotFoundException",
        "DisabledException",
        "KMSInvalidStateException",
    }
)


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


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise UnwrapError("malformed wrapped key body") from exc


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under one master-key version.

    Local (``scheme="kms1"``): serialised as
    ``kms1:<key id>:<version>:<base64url(nonce || ciphertext+tag)>`` so the version needed to
    unwrap it travels with it.

    AWS (``scheme="aws1"``, built with `WrappedKey.aws`): serialised as
    ``aws1:<key ARN>:<base64url(ciphertext blob)>``; ``version`` is 0 and ``nonce`` empty
    because the KMS blob names its backing-key version itself.
    """

    key_id: str
    version: int
    nonce: bytes
    ciphertext: bytes
    scheme: str = WRAPPED_KEY_FORMAT

    @classmethod
    def aws(cls, key_arn: str, ciphertext_blob: bytes) -> WrappedKey:
        return cls(key_arn, 0, b"", ciphertext_blob, AWS_WRAPPED_KEY_FORMAT)

    def serialize(self) -> str:
        if self.scheme == AWS_WRAPPED_KEY_FORMAT:
            return f"{AWS_WRAPPED_KEY_FORMAT}:{self.key_id}:{_b64url(self.ciphertext)}"
        return f"{WRAPPED_KEY_FORMAT}:{self.key_id}:{self.version}:{_b64url(self.nonce + self.ciphertext)}"

    @classmethod
    def parse(cls, text: str) -> WrappedKey:
        """Inverse of `serialize`; raises `UnwrapError` for anything malformed."""
        if text.startswith(f"{AWS_WRAPPED_KEY_FORMAT}:"):
            return cls._parse_aws(text[len(AWS_WRAPPED_KEY_FORMAT) + 1 :])
        parts = text.split(":")
        if len(parts) != 4 or parts[0] != WRAPPED_KEY_FORMAT:
            raise UnwrapError("not a wrapped key in kms1 format")
        _, key_id, version, blob = parts
        if not _KEY_ID_RE.fullmatch(key_id) or not version.isdigit() or int(version) < 1:
            raise UnwrapError("malformed wrapped key header")
        raw = _unb64url(blob)
        if len(raw) <= NONCE_BYTES + 16:
            raise UnwrapError("wrapped key body too short")
        return cls(key_id, int(version), raw[:NONCE_BYTES], raw[NONCE_BYTES:])

    @classmethod
    def _parse_aws(cls, rest: str) -> WrappedKey:
        key_arn, _, blob = rest.rpartition(":")  # an ARN has colons; base64url has none
        if not _AWS_KEY_ARN_RE.fullmatch(key_arn):
            raise UnwrapError("malformed wrapped key header")
        raw = _unb64url(blob)
        if len(raw) <= DATA_KEY_BYTES:
            raise UnwrapError("wrapped key body too short")
        return cls.aws(key_arn, raw)


@runtime_checkable
class KmsProvider(Protocol):
    """What the application needs from a KMS. Implementations: `LocalKms`, `AwsKms`."""

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
        """Public keys by key_ref, for exports and offline verifiers (`verify_with_public_key`):
        raw 32-byte Ed25519 keys (local) or DER SubjectPublicKeyInfo P-256 keys (aws)."""
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


def verify_with_public_key(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Offline verification with a key from `KmsProvider.public_keys()` of either provider: a
    raw 32-byte Ed25519 key (local) or a DER SubjectPublicKeyInfo key, Ed25519 or ECDSA P-256
    with SHA-256 (aws). False for a bad signature or a key of another kind; never raises."""
    if len(public_key) == 32:
        return verify_ed25519(public_key, message, signature)
    try:
        key = load_der_public_key(public_key)
    except (ValueError, TypeError):
        return False
    if isinstance(key, Ed25519PublicKey):
        return verify_ed25519(raw_public_key(key), message, signature)
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        try:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True
    return False


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

    @property
    def versions(self) -> list[int]:
        """Every configured master-key version, ascending."""
        return sorted(self._signing)

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
        if wrapped.scheme != WRAPPED_KEY_FORMAT:
            raise UnwrapError(f"a {wrapped.scheme} wrapped key cannot be opened by the local KMS")
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


@dataclass(frozen=True, slots=True)
class _AwsSigningKey:
    arn: str
    public_key_der: bytes
    public_key: ec.EllipticCurvePublicKey


def _check_aws_key_ids(key_ids: Sequence[str], signing_key_ids: Sequence[str]) -> None:
    for setting, ids in (("AWS_KMS_KEY_ID", key_ids), ("AWS_KMS_SIGNING_KEY_ID", signing_key_ids)):
        if not ids:
            raise KmsConfigError(f"{setting}: no KMS key configured")
        if not all(_AWS_KEY_SPEC_RE.fullmatch(key_id) for key_id in ids):
            raise KmsConfigError(f"{setting}: not a KMS key id, key ARN or alias")


def _aws_encryption_context(context: bytes) -> dict[str, str]:
    try:
        return {AWS_ENCRYPTION_CONTEXT_KEY: context.decode("utf-8")}
    except UnicodeDecodeError:
        raise KmsError("the KMS context must be UTF-8 text") from None


class AwsKms:
    """KMS over AWS KMS keys, through a boto3 KMS client (thread-safe; calls run in threads).

    ``key_ids``: the symmetric ``ENCRYPT_DECRYPT`` key that wraps new data keys, then any
    retired keys whose data keys may still be unwrapped (until `rewrap` moves them). Ids may be
    key ids, ARNs or aliases; a wrapped key only opens when it names the ARN of one of them, so
    a database row pointing at some other KMS key (another account's, say) is refused.
    ``signing_key_ids``: the ``ECC_NIST_P256`` ``SIGN_VERIFY`` key that signs, then retired
    signing keys that still verify. Ids are resolved to ARNs (``DescribeKey``) on first use and
    cached, as are the signing keys' public keys.
    """

    def __init__(self, key_ids: Sequence[str], signing_key_ids: Sequence[str], *, client: Any) -> None:
        _check_aws_key_ids(key_ids, signing_key_ids)
        self._key_ids = tuple(key_ids)
        self._signing_key_ids = tuple(signing_key_ids)
        self._client = client
        self._wrapping_arns: tuple[str, ...] | None = None
        self._signing_keys: dict[str, _AwsSigningKey] | None = None

    def __repr__(self) -> str:
        return f"AwsKms(key_ids={list(self._key_ids)}, signing_key_ids={list(self._signing_key_ids)})"

    @property
    def key_id(self) -> str:
        """The configured id (as given) of the key that wraps new data keys."""
        return self._key_ids[0]

    @property
    def signing_key_id(self) -> str:
        """The configured id (as given) of the key that signs checkpoints."""
        return self._signing_key_ids[0]

    async def wrapping_key_arns(self) -> tuple[str, ...]:
        """ARNs of the configured wrapping keys, the current one first."""
        if self._wrapping_arns is None:
            arns = []
            for key_id in self._key_ids:
                arns.append(
                    await self._key_arn(key_id, "AWS_KMS_KEY_ID", "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT")
                )
            self._wrapping_arns = tuple(arns)
        return self._wrapping_arns

    async def _signing(self) -> dict[str, _AwsSigningKey]:
        """Signing keys by ARN, in configuration order (the current one first)."""
        if self._signing_keys is None:
            keys: dict[str, _AwsSigningKey] = {}
            for key_id in self._signing_key_ids:
                arn = await self._key_arn(
                    key_id, "AWS_KMS_SIGNING_KEY_ID", "SIGN_VERIFY", AWS_SIGNING_KEY_SPEC
                )
                # GetPublicKey's KeyId is not relied upon: moto answers the bare key id there.
                der = bytes((await self._call("get_public_key", KeyId=arn))["PublicKey"])
                public_key = load_der_public_key(der)
                if not isinstance(public_key, ec.EllipticCurvePublicKey):  # pragma: no cover
                    raise KmsConfigError(f"AWS_KMS_SIGNING_KEY_ID: {key_id} has no EC public key")
                keys[arn] = _AwsSigningKey(arn, der, public_key)
            self._signing_keys = keys
        return self._signing_keys

    async def sign(self, message: bytes) -> KmsSignature:
        if not message or len(message) > AWS_MAX_SIGNED_MESSAGE_BYTES:
            raise KmsError(f"KMS signs messages of 1 to {AWS_MAX_SIGNED_MESSAGE_BYTES} bytes")
        # The ARN resolved once (and checked to be a signing key), not the configured alias:
        # signatures then always name a key `verify` knows, even if the alias is moved.
        signing_arn = next(iter(await self._signing()))
        response = await self._call(
            "sign",
            KeyId=signing_arn,
            Message=message,
            MessageType="RAW",
            SigningAlgorithm=AWS_SIGNING_ALGORITHM,
        )
        return KmsSignature(str(response["KeyId"]), bytes(response["Signature"]))

    async def verify(self, key_ref: str, message: bytes, signature: bytes) -> bool:
        # Verified locally with the key's public key: the result is the same as KMS Verify,
        # without one paid network call per checkpoint when a whole chain is verified.
        key = (await self._signing()).get(key_ref)
        if key is None:
            return False
        try:
            key.public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True

    async def public_keys(self) -> dict[str, bytes]:
        return {arn: key.public_key_der for arn, key in (await self._signing()).items()}

    async def generate_data_key(self, context: bytes) -> tuple[bytes, WrappedKey]:
        response = await self._call(
            "generate_data_key",
            KeyId=(await self.wrapping_key_arns())[0],  # resolved and checked, as for signing
            KeySpec="AES_256",
            EncryptionContext=_aws_encryption_context(context),
        )
        wrapped = WrappedKey.aws(str(response["KeyId"]), bytes(response["CiphertextBlob"]))
        return bytes(response["Plaintext"]), wrapped

    async def unwrap_data_key(self, wrapped: WrappedKey, context: bytes) -> bytes:
        await self._check_wrapped(wrapped)
        response = await self._call(
            "decrypt",
            refusal_is_unwrap_error=True,
            CiphertextBlob=wrapped.ciphertext,
            KeyId=wrapped.key_id,
            EncryptionContext=_aws_encryption_context(context),
        )
        data_key = bytes(response["Plaintext"])
        if len(data_key) != DATA_KEY_BYTES:
            raise UnwrapError("the wrapped value is not a data key")
        return data_key

    async def rewrap(self, wrapped: WrappedKey, context: bytes) -> WrappedKey:
        await self._check_wrapped(wrapped)
        encryption_context = _aws_encryption_context(context)
        response = await self._call(
            "re_encrypt",
            refusal_is_unwrap_error=True,
            CiphertextBlob=wrapped.ciphertext,
            SourceKeyId=wrapped.key_id,
            SourceEncryptionContext=encryption_context,
            DestinationKeyId=(await self.wrapping_key_arns())[0],
            DestinationEncryptionContext=encryption_context,
        )
        return WrappedKey.aws(str(response["KeyId"]), bytes(response["CiphertextBlob"]))

    async def _check_wrapped(self, wrapped: WrappedKey) -> None:
        if wrapped.scheme != AWS_WRAPPED_KEY_FORMAT:
            raise UnwrapError(f"a {wrapped.scheme} wrapped key cannot be opened by AWS KMS")
        if wrapped.key_id not in await self.wrapping_key_arns():
            raise UnwrapError(f"wrapped under {wrapped.key_id}, which is not listed in AWS_KMS_KEY_ID")

    async def _key_arn(self, key_id: str, setting: str, usage: str, spec: str) -> str:
        """The ARN of a configured key (``DescribeKey``), checked to be of the expected kind."""
        metadata = (await self._call("describe_key", KeyId=key_id))["KeyMetadata"]
        # Absent means the AWS defaults (moto leaves KeyUsage out when it was not given).
        kind = (metadata.get("KeyUsage", "ENCRYPT_DECRYPT"), metadata.get("KeySpec", "SYMMETRIC_DEFAULT"))
        if kind != (usage, spec):
            raise KmsConfigError(f"{setting}: {key_id} is not a {spec} key for {usage}")
        return str(metadata["Arn"])

    async def _call(self, operation: str, *, refusal_is_unwrap_error: bool = False, **params: Any) -> Any:
        """One KMS API call in a worker thread. Errors carry the operation and AWS error code
        only: never parameters (a message, a blob) nor AWS's text."""
        method = getattr(self._client, operation)
        try:
            return await asyncio.to_thread(method, **params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if refusal_is_unwrap_error and code in _AWS_UNWRAP_REFUSALS:
                raise UnwrapError(f"KMS {operation} refused the wrapped key ({code})") from None
            raise KmsError(f"KMS {operation} failed ({code})") from None
        except BotoCoreError as exc:
            raise KmsError(f"KMS {operation} failed ({type(exc).__name__})") from None


def _key_id_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def aws_kms_client(region: str) -> Any:
    """A boto3 KMS client: credentials from the default chain (environment, instance or task
    role); `AWS_ENDPOINT_URL_KMS` points it elsewhere (LocalStack) without a setting."""
    # Imported here: boto3 takes ~150 ms to import and only the aws provider needs it.
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=15)
    return boto3.session.Session().client("kms", region_name=region, config=config)


def build_aws_kms(settings: Settings, *, client: Any = None) -> AwsKms:
    """The `aws` provider from `AWS_KMS_KEY_ID`, `AWS_KMS_SIGNING_KEY_ID` and `AWS_REGION`."""
    key_ids = _key_id_list(settings.aws_kms_key_id)
    signing_key_ids = _key_id_list(settings.aws_kms_signing_key_id)
    _check_aws_key_ids(key_ids, signing_key_ids)  # before building a client for nothing
    kms = AwsKms(
        key_ids,
        signing_key_ids,
        client=client if client is not None else aws_kms_client(settings.aws_region),
    )
    log.info("kms.ready", provider="aws", key_id=kms.key_id, signing_key_id=kms.signing_key_id)
    return kms


def build_kms(settings: Settings) -> KmsProvider:
    """The KMS named by `KMS_PROVIDER`; `KmsConfigError` for an unknown or unusable one."""
    if settings.kms_provider == "aws":
        return build_aws_kms(settings)
    if settings.kms_provider != "local":
        raise KmsConfigError(f"KMS_PROVIDER={settings.kms_provider!r} is not available: use 'local' or 'aws'")
    try:
        versions = settings.kms_key_versions
    except ValueError as exc:  # includes binascii.Error (bad base64)
        raise KmsConfigError(f"LOCAL_KMS_KEYS: {exc}") from None
    kms = LocalKms(settings.local_kms_key_id, versions)
    log.info("kms.ready", provider="local", key_id=kms.key_id, current_version=kms.current_version)
    return kms
