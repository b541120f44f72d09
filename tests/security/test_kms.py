"""The local KMS: checkpoint signatures and envelope encryption with master-key rotation."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from rodistaa.security.kms import (
    KmsConfigError,
    KmsProvider,
    LocalKms,
    UnwrapError,
    WrappedKey,
    build_kms,
    verify_ed25519,
)
from rodistaa.settings import Environment, Settings

V1 = bytes(range(32))
V2 = bytes(range(100, 132))
OTHER = bytes(range(200, 232))
CONTEXT = b"kyc:USR-SH-01J0000000000000000000000:pan"
MESSAGE = b"rodistaa-audit-checkpoint-v1\n{...}"


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": Environment.TEST,
        "kms_provider": "local",
        "local_kms_key_id": "test-kms",
        "local_kms_keys": "1:" + base64.b64encode(V1).decode(),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _kms(*versions: bytes, key_id: str = "test-kms") -> LocalKms:
    return LocalKms(key_id, {number: material for number, material in enumerate(versions, 1)})


class TestBuild:
    def test_local_provider_from_settings(self) -> None:
        kms = build_kms(
            _settings(local_kms_keys=f"1:{base64.b64encode(V1).decode()},2:{base64.b64encode(V2).decode()}")
        )
        assert isinstance(kms, LocalKms)
        assert isinstance(kms, KmsProvider)
        assert kms.key_id == "test-kms"
        assert kms.current_version == 2

    def test_unknown_providers_are_refused(self) -> None:
        with pytest.raises(KmsConfigError, match=r"'local' or 'aws'"):
            build_kms(_settings(kms_provider="vault"))

    @pytest.mark.parametrize(
        ("key_id", "versions", "problem"),
        [
            ("", {1: V1}, "LOCAL_KMS_KEY_ID"),
            ("a/b", {1: V1}, "LOCAL_KMS_KEY_ID"),
            ("k", {}, "no key material"),
            ("k", {1: V1[:16]}, "32 bytes"),
            ("k", {0: V1}, "start at 1"),
        ],
    )
    def test_unusable_material_is_refused(
        self, key_id: str, versions: dict[int, bytes], problem: str
    ) -> None:
        with pytest.raises(KmsConfigError, match=problem):
            LocalKms(key_id, versions)

    def test_repr_never_shows_key_material(self) -> None:
        text = repr(_kms(V1))
        assert V1.hex() not in text and base64.b64encode(V1).decode() not in text


class TestSigning:
    async def test_sign_verify_round_trip(self) -> None:
        kms = _kms(V1)
        signed = await kms.sign(MESSAGE)
        assert signed.key_ref == "test-kms/v1"
        assert len(signed.signature) == 64
        assert await kms.verify(signed.key_ref, MESSAGE, signed.signature)

    async def test_signing_keys_are_deterministic_per_version(self) -> None:
        first, second = _kms(V1), _kms(V1)
        assert await first.public_keys() == await second.public_keys()
        signed = await first.sign(MESSAGE)
        assert await second.verify(signed.key_ref, MESSAGE, signed.signature)

    async def test_tampered_message_or_signature_is_refused(self) -> None:
        kms = _kms(V1)
        signed = await kms.sign(MESSAGE)
        flipped = bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
        assert not await kms.verify(signed.key_ref, MESSAGE + b"x", signed.signature)
        assert not await kms.verify(signed.key_ref, MESSAGE, flipped)
        assert not await kms.verify(signed.key_ref, MESSAGE, signed.signature[:-1])

    @pytest.mark.parametrize("key_ref", ["test-kms/v2", "other-kms/v1", "test-kms", "test-kms/v0", ""])
    async def test_unknown_key_ref_is_refused(self, key_ref: str) -> None:
        kms = _kms(V1)
        signed = await kms.sign(MESSAGE)
        assert not await kms.verify(key_ref, MESSAGE, signed.signature)

    async def test_v1_signatures_still_verify_after_v2_is_added(self) -> None:
        old = await _kms(V1).sign(MESSAGE)
        rotated = _kms(V1, V2)
        new = await rotated.sign(MESSAGE)
        assert new.key_ref == "test-kms/v2"
        assert await rotated.verify(old.key_ref, MESSAGE, old.signature)
        assert await rotated.verify(new.key_ref, MESSAGE, new.signature)
        # A signature by v1 does not pass as one by v2.
        assert not await rotated.verify("test-kms/v2", MESSAGE, old.signature)

    async def test_public_keys_verify_offline(self) -> None:
        kms = _kms(V1, V2)
        keys = await kms.public_keys()
        assert set(keys) == {"test-kms/v1", "test-kms/v2"}
        assert all(len(key) == 32 for key in keys.values())
        signed = await kms.sign(MESSAGE)
        assert verify_ed25519(keys[signed.key_ref], MESSAGE, signed.signature)
        assert not verify_ed25519(keys["test-kms/v1"], MESSAGE, signed.signature)


class TestEnvelope:
    async def test_wrap_unwrap_round_trip(self) -> None:
        kms = _kms(V1)
        data_key, wrapped = await kms.generate_data_key(CONTEXT)
        assert len(data_key) == 32
        assert data_key not in wrapped.ciphertext
        assert await kms.unwrap_data_key(wrapped, CONTEXT) == data_key

    async def test_data_keys_and_nonces_are_fresh(self) -> None:
        kms = _kms(V1)
        (key_a, wrapped_a), (key_b, wrapped_b) = [await kms.generate_data_key(CONTEXT) for _ in range(2)]
        assert key_a != key_b
        assert wrapped_a.nonce != wrapped_b.nonce
        assert len(wrapped_a.nonce) == 12

    async def test_serialised_form_round_trips_and_names_the_version(self) -> None:
        kms = _kms(V1, V2)
        data_key, wrapped = await kms.generate_data_key(CONTEXT)
        text = wrapped.serialize()
        assert text.startswith("kms1:test-kms:2:")
        parsed = WrappedKey.parse(text)
        assert parsed == wrapped
        assert await kms.unwrap_data_key(parsed, CONTEXT) == data_key

    @pytest.mark.parametrize(
        "text", ["", "kms1:test-kms:1", "kms2:test-kms:1:AAAA", "kms1:test-kms:x:AAAA", "kms1:k:1:!!"]
    )
    def test_malformed_serialised_keys_are_refused(self, text: str) -> None:
        with pytest.raises(UnwrapError):
            WrappedKey.parse(text)

    async def test_wrong_context_is_refused(self) -> None:
        kms = _kms(V1)
        _, wrapped = await kms.generate_data_key(CONTEXT)
        with pytest.raises(UnwrapError):
            await kms.unwrap_data_key(wrapped, CONTEXT + b"!")

    async def test_tampered_ciphertext_is_refused(self) -> None:
        kms = _kms(V1)
        _, wrapped = await kms.generate_data_key(CONTEXT)
        damaged = WrappedKey(
            wrapped.key_id,
            wrapped.version,
            wrapped.nonce,
            bytes([wrapped.ciphertext[0] ^ 1]) + wrapped.ciphertext[1:],
        )
        with pytest.raises(UnwrapError):
            await kms.unwrap_data_key(damaged, CONTEXT)

    async def test_rotation_old_keys_unwrap_and_rewrap_moves_to_current(self) -> None:
        data_key, wrapped_v1 = await _kms(V1).generate_data_key(CONTEXT)
        rotated = _kms(V1, V2)
        assert await rotated.unwrap_data_key(wrapped_v1, CONTEXT) == data_key
        rewrapped = await rotated.rewrap(wrapped_v1, CONTEXT)
        assert rewrapped.version == 2
        assert rewrapped.ciphertext != wrapped_v1.ciphertext
        assert await rotated.unwrap_data_key(rewrapped, CONTEXT) == data_key
        # Once v1 is retired, only the re-wrapped copy still opens.
        only_v2 = LocalKms("test-kms", {2: V2})
        assert await only_v2.unwrap_data_key(rewrapped, CONTEXT) == data_key
        with pytest.raises(UnwrapError, match="version 1"):
            await only_v2.unwrap_data_key(wrapped_v1, CONTEXT)

    async def test_rewrap_refuses_the_wrong_context(self) -> None:
        _, wrapped = await _kms(V1).generate_data_key(CONTEXT)
        with pytest.raises(UnwrapError):
            await _kms(V1, V2).rewrap(wrapped, b"another context")

    async def test_other_material_cannot_unwrap(self) -> None:
        _, wrapped = await _kms(V1).generate_data_key(CONTEXT)
        with pytest.raises(UnwrapError):
            await _kms(OTHER).unwrap_data_key(wrapped, CONTEXT)

    async def test_another_key_id_is_refused(self) -> None:
        _, wrapped = await _kms(V1, key_id="kms-a").generate_data_key(CONTEXT)
        with pytest.raises(UnwrapError, match="kms-a"):
            await _kms(V1, key_id="kms-b").unwrap_data_key(wrapped, CONTEXT)
