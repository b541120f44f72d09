"""The `aws` KMS provider against moto's KMS: data keys bound to their context, re-wrapping
(onto a new key too), checkpoint signatures with an ECC_NIST_P256 key, and the settings.

moto's KMS differs from AWS in ways these tests avoid relying on: `GetPublicKey` answers the
bare key id (AWS: the ARN), `Verify`/`Sign` ignore `MessageType=DIGEST`, `Decrypt` with the
wrong `KeyId` answers `AccessDeniedException` (AWS: `IncorrectKeyException`), and `ReEncrypt`
does not check `SourceKeyId`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
import structlog
from botocore.exceptions import ClientError
from moto import mock_aws

from rodistaa.security.kms import (
    AWS_MAX_SIGNED_MESSAGE_BYTES,
    AwsKms,
    KmsConfigError,
    KmsError,
    KmsProvider,
    LocalKms,
    UnwrapError,
    WrappedKey,
    build_kms,
    verify_with_public_key,
)
from rodistaa.settings import Environment, Settings

REGION = "ap-south-1"
CONTEXT = b"rodistaa-user-data-key:USR-SH-01J0000000000000000000000"
OTHER_CONTEXT = b"rodistaa-user-data-key:USR-SH-01J0000000000000000000001"
MESSAGE = b"rodistaa-audit-checkpoint-v1\n{...}"


@pytest.fixture(scope="module")
def kms_client() -> Iterator[Any]:
    """A boto3 KMS client on moto, shared by the module (moto takes ~0.1 s to create a key);
    fake credentials, so nothing can reach real AWS."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            yield boto3.client("kms", region_name=REGION)


def wrapping_key(client: Any, alias: str | None = None) -> str:
    key_id: str = client.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"][
        "KeyId"
    ]
    if alias:
        client.create_alias(AliasName=alias, TargetKeyId=key_id)
    return key_id


def signing_key(client: Any) -> str:
    key_id: str = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    return key_id


def arn(client: Any, key_id: str) -> str:
    value: str = client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    return value


def aws_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"env": Environment.TEST, "kms_provider": "aws", "aws_region": REGION}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def keys(kms_client: Any) -> tuple[str, str]:
    return wrapping_key(kms_client), signing_key(kms_client)


@pytest.fixture
def kms(kms_client: Any, keys: tuple[str, str]) -> AwsKms:
    return AwsKms([keys[0]], [keys[1]], client=kms_client)


class TestBuild:
    def test_aws_provider_from_settings(self, kms_client: Any, keys: tuple[str, str]) -> None:
        kms = build_kms(aws_settings(aws_kms_key_id=keys[0], aws_kms_signing_key_id=keys[1]))
        assert isinstance(kms, AwsKms)
        assert isinstance(kms, KmsProvider)
        assert kms.key_id == keys[0]
        assert kms.signing_key_id == keys[1]

    async def test_an_alias_works_and_retired_keys_follow_comma_separated(self, kms_client: Any) -> None:
        current = wrapping_key(kms_client, alias="alias/rodistaa-kyc")
        retired = wrapping_key(kms_client)
        kms = build_kms(
            aws_settings(
                aws_kms_key_id=f"alias/rodistaa-kyc, {retired}",
                aws_kms_signing_key_id=signing_key(kms_client),
            )
        )
        assert isinstance(kms, AwsKms)
        assert await kms.wrapping_key_arns() == (arn(kms_client, current), arn(kms_client, retired))
        _, wrapped = await kms.generate_data_key(CONTEXT)
        assert wrapped.key_id == arn(kms_client, current)

    @pytest.mark.parametrize(
        ("overrides", "setting"),
        [
            ({"aws_kms_signing_key_id": "k"}, "AWS_KMS_KEY_ID"),
            ({"aws_kms_key_id": " , ", "aws_kms_signing_key_id": "k"}, "AWS_KMS_KEY_ID"),
            ({"aws_kms_key_id": "k"}, "AWS_KMS_SIGNING_KEY_ID"),
            ({"aws_kms_key_id": "bad key", "aws_kms_signing_key_id": "k"}, "AWS_KMS_KEY_ID"),
        ],
    )
    def test_missing_or_malformed_key_ids_are_refused(
        self, kms_client: Any, overrides: dict[str, str], setting: str
    ) -> None:
        with pytest.raises(KmsConfigError, match=setting):
            build_kms(aws_settings(**overrides))

    def test_unknown_providers_are_refused(self) -> None:
        with pytest.raises(KmsConfigError, match=r"'vault'.*'local' or 'aws'"):
            build_kms(aws_settings(kms_provider="vault"))

    async def test_a_key_created_with_the_defaults_wraps(
        self, kms_client: Any, keys: tuple[str, str]
    ) -> None:
        # moto leaves KeyUsage out of DescribeKey for such a key; AWS's default is meant.
        kms = AwsKms([kms_client.create_key()["KeyMetadata"]["KeyId"]], [keys[1]], client=kms_client)
        data_key, wrapped = await kms.generate_data_key(CONTEXT)
        assert await kms.unwrap_data_key(wrapped, CONTEXT) == data_key

    async def test_keys_of_the_wrong_kind_are_refused_naming_the_setting(self, kms_client: Any) -> None:
        symmetric, asymmetric = wrapping_key(kms_client), signing_key(kms_client)
        swapped = AwsKms([asymmetric], [symmetric], client=kms_client)
        with pytest.raises(KmsConfigError, match="AWS_KMS_KEY_ID"):
            await swapped.generate_data_key(CONTEXT)
        with pytest.raises(KmsConfigError, match="AWS_KMS_SIGNING_KEY_ID"):
            await swapped.sign(MESSAGE)
        with pytest.raises(KmsConfigError, match="AWS_KMS_SIGNING_KEY_ID"):
            await swapped.public_keys()

    async def test_an_unknown_key_is_a_kms_error_naming_the_code_only(self, kms_client: Any) -> None:
        kms = AwsKms(["alias/nowhere"], ["alias/nowhere"], client=kms_client)
        with pytest.raises(KmsError, match=r"^KMS describe_key failed \(NotFoundException\)$"):
            await kms.generate_data_key(CONTEXT)


class TestNoSecretsInLogs:
    async def test_data_keys_never_reach_the_log(self, kms_client: Any, keys: tuple[str, str]) -> None:
        with structlog.testing.capture_logs() as logs:
            kms = build_kms(aws_settings(aws_kms_key_id=keys[0], aws_kms_signing_key_id=keys[1]))
            data_key, wrapped = await kms.generate_data_key(CONTEXT)
            await kms.unwrap_data_key(await kms.rewrap(wrapped, CONTEXT), CONTEXT)
            with pytest.raises(UnwrapError) as refused:
                await kms.unwrap_data_key(wrapped, OTHER_CONTEXT)
        assert [entry["event"] for entry in logs] == ["kms.ready"]
        text = repr(logs) + repr(kms) + str(refused.value)
        for encoded in (data_key.hex(), base64.b64encode(data_key).decode(), repr(data_key)):
            assert encoded not in text


class TestProductionSettings:
    def _problems(self, **overrides: Any) -> list[str]:
        return aws_settings(**overrides)._kms_problems()

    def test_aws_needs_both_key_ids(self) -> None:
        problems = self._problems()
        assert [p.split(":")[0] for p in problems] == ["AWS_KMS_KEY_ID", "AWS_KMS_SIGNING_KEY_ID"]

    def test_aws_with_both_key_ids_needs_no_local_key(self) -> None:
        assert self._problems(aws_kms_key_id="alias/kyc", aws_kms_signing_key_id="alias/audit") == []

    def test_an_unknown_provider_is_a_problem(self) -> None:
        assert [p.split(":")[0] for p in self._problems(kms_provider="vault")] == ["KMS_PROVIDER"]


class TestWrappedKeyFormat:
    ARN = "arn:aws:kms:ap-south-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    def test_aws_wrapped_keys_round_trip(self) -> None:
        wrapped = WrappedKey.aws(self.ARN, bytes(range(200)))
        text = wrapped.serialize()
        assert text.startswith(f"aws1:{self.ARN}:")
        assert WrappedKey.parse(text) == wrapped
        assert (wrapped.version, wrapped.nonce, wrapped.scheme) == (0, b"", "aws1")

    def test_local_wrapped_keys_keep_their_format(self) -> None:
        wrapped = WrappedKey("test-kms", 3, b"n" * 12, b"c" * 48)
        assert wrapped.scheme == "kms1"
        assert wrapped.serialize().startswith("kms1:test-kms:3:")
        assert WrappedKey.parse(wrapped.serialize()) == wrapped

    @pytest.mark.parametrize(
        "text",
        [
            "aws1:",
            f"aws1:{ARN}",
            f"aws1:{ARN}:",
            f"aws1:{ARN}:" + "A" * 10,
            "aws1:arn:aws:kms:ap-south-1:123:key/x:" + "A" * 100,
            "aws1:not-an-arn:" + "A" * 100,
            "aws2:" + ARN + ":" + "A" * 100,
        ],
    )
    def test_malformed_aws_wrapped_keys_are_refused(self, text: str) -> None:
        with pytest.raises(UnwrapError):
            WrappedKey.parse(text)

    async def test_each_provider_refuses_the_others_format(self, kms: AwsKms) -> None:
        local = LocalKms("test-kms", {1: bytes(range(32))})
        _, local_wrapped = await local.generate_data_key(CONTEXT)
        _, aws_wrapped = await kms.generate_data_key(CONTEXT)
        with pytest.raises(UnwrapError, match="kms1"):
            await kms.unwrap_data_key(local_wrapped, CONTEXT)
        with pytest.raises(UnwrapError, match="aws1"):
            await local.unwrap_data_key(aws_wrapped, CONTEXT)


class TestDataKeys:
    async def test_round_trip_through_the_serialized_form(self, kms: AwsKms, keys: tuple[str, str]) -> None:
        data_key, wrapped = await kms.generate_data_key(CONTEXT)
        assert len(data_key) == 32
        assert wrapped.key_id == (await kms.wrapping_key_arns())[0]
        text = wrapped.serialize()
        assert len(text) <= 512, "fits user_data_keys.wrapped_key"
        assert base64.urlsafe_b64encode(data_key).decode().rstrip("=") not in text
        assert await kms.unwrap_data_key(WrappedKey.parse(text), CONTEXT) == data_key

    async def test_every_data_key_is_new(self, kms: AwsKms) -> None:
        first, _ = await kms.generate_data_key(CONTEXT)
        second, _ = await kms.generate_data_key(CONTEXT)
        assert first != second

    async def test_the_encryption_context_carries_the_context(self, kms: AwsKms, kms_client: Any) -> None:
        data_key, wrapped = await kms.generate_data_key(CONTEXT)
        opened = kms_client.decrypt(
            CiphertextBlob=wrapped.ciphertext, EncryptionContext={"rodistaa": CONTEXT.decode()}
        )
        assert opened["Plaintext"] == data_key

    @pytest.mark.parametrize("context", [OTHER_CONTEXT, b"", CONTEXT + b" "])
    async def test_a_wrong_context_is_refused(self, kms: AwsKms, context: bytes) -> None:
        _, wrapped = await kms.generate_data_key(CONTEXT)
        with pytest.raises(UnwrapError, match="InvalidCiphertextException"):
            await kms.unwrap_data_key(wrapped, context)
        with pytest.raises(UnwrapError):
            await kms.rewrap(wrapped, context)

    async def test_a_damaged_blob_is_refused(self, kms: AwsKms) -> None:
        _, wrapped = await kms.generate_data_key(CONTEXT)
        blob = bytearray(wrapped.ciphertext)
        blob[-1] ^= 1
        with pytest.raises(UnwrapError):
            await kms.unwrap_data_key(replace(wrapped, ciphertext=bytes(blob)), CONTEXT)

    async def test_a_context_that_is_not_text_is_refused(self, kms: AwsKms) -> None:
        with pytest.raises(KmsError, match="UTF-8"):
            await kms.generate_data_key(b"\xff\xfe")

    async def test_rewrap_gives_a_new_blob_for_the_same_data_key(self, kms: AwsKms) -> None:
        data_key, wrapped = await kms.generate_data_key(CONTEXT)
        rewrapped = await kms.rewrap(wrapped, CONTEXT)
        assert rewrapped.key_id == wrapped.key_id
        assert rewrapped.ciphertext != wrapped.ciphertext
        assert await kms.unwrap_data_key(rewrapped, CONTEXT) == data_key

    async def test_rewrap_moves_data_keys_to_a_new_kms_key(
        self, kms_client: Any, keys: tuple[str, str]
    ) -> None:
        old_key, signer = keys
        new_key = wrapping_key(kms_client)
        before = AwsKms([old_key], [signer], client=kms_client)
        data_key, wrapped = await before.generate_data_key(CONTEXT)

        during = AwsKms([new_key, old_key], [signer], client=kms_client)
        assert await during.unwrap_data_key(wrapped, CONTEXT) == data_key
        rewrapped = await during.rewrap(wrapped, CONTEXT)
        assert rewrapped.key_id == arn(kms_client, new_key)

        after = AwsKms([new_key], [signer], client=kms_client)
        assert await after.unwrap_data_key(rewrapped, CONTEXT) == data_key
        with pytest.raises(UnwrapError, match="not listed in AWS_KMS_KEY_ID"):
            await after.unwrap_data_key(wrapped, CONTEXT)

    async def test_a_wrapped_key_naming_an_unlisted_kms_key_is_refused(
        self, kms_client: Any, kms: AwsKms
    ) -> None:
        # A database row pointing at another key, even one this role may use, does not open.
        other = AwsKms([wrapping_key(kms_client)], [kms.signing_key_id], client=kms_client)
        _, foreign = await other.generate_data_key(CONTEXT)
        with pytest.raises(UnwrapError, match="not listed"):
            await kms.unwrap_data_key(foreign, CONTEXT)
        _, own = await kms.generate_data_key(CONTEXT)
        with pytest.raises(UnwrapError):
            await kms.unwrap_data_key(replace(own, key_id=foreign.key_id), CONTEXT)

    async def test_kms_failures_that_are_not_refusals_are_kms_errors(self) -> None:
        class Unavailable:
            def describe_key(self, **params: Any) -> Any:
                return {"KeyMetadata": {"Arn": TestWrappedKeyFormat.ARN, "KeyUsage": "ENCRYPT_DECRYPT",
                                        "KeySpec": "SYMMETRIC_DEFAULT"}}  # fmt: skip

            def decrypt(self, **params: Any) -> Any:
                error = {"Code": "ThrottlingException", "Message": "secret detail from AWS"}
                raise ClientError({"Error": error}, "Decrypt")

        kms = AwsKms(["alias/kyc"], ["alias/audit"], client=Unavailable())
        wrapped = WrappedKey.aws(TestWrappedKeyFormat.ARN, b"b" * 100)
        with pytest.raises(KmsError) as excinfo:
            await kms.unwrap_data_key(wrapped, CONTEXT)
        assert not isinstance(excinfo.value, UnwrapError)
        assert str(excinfo.value) == "KMS decrypt failed (ThrottlingException)"
        assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__


class TestSigning:
    async def test_sign_verify_round_trip(self, kms: AwsKms, kms_client: Any, keys: tuple[str, str]) -> None:
        signed = await kms.sign(MESSAGE)
        assert signed.key_ref == arn(kms_client, keys[1])
        assert len(signed.key_ref) <= 160, "fits audit_checkpoints.key_ref"
        assert await kms.verify(signed.key_ref, MESSAGE, signed.signature)

    async def test_tampering_is_refused(self, kms: AwsKms) -> None:
        signed = await kms.sign(MESSAGE)
        tampered = bytearray(signed.signature)
        tampered[len(tampered) // 2] ^= 1
        assert not await kms.verify(signed.key_ref, MESSAGE, bytes(tampered))
        assert not await kms.verify(signed.key_ref, MESSAGE + b"x", signed.signature)
        assert not await kms.verify(signed.key_ref, MESSAGE, b"")
        assert not await kms.verify(signed.key_ref, MESSAGE, b"not DER at all")

    async def test_unknown_key_refs_are_refused(
        self, kms: AwsKms, kms_client: Any, keys: tuple[str, str]
    ) -> None:
        signed = await kms.sign(MESSAGE)
        other = signing_key(kms_client)
        by_other = kms_client.sign(
            KeyId=other, Message=MESSAGE, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256"
        )["Signature"]
        for key_ref in (arn(kms_client, other), arn(kms_client, keys[0]), keys[1], "test-kms/v1", ""):
            assert not await kms.verify(key_ref, MESSAGE, signed.signature)
        assert not await kms.verify(arn(kms_client, other), MESSAGE, by_other)

    async def test_the_signature_is_what_kms_itself_verifies(self, kms: AwsKms, kms_client: Any) -> None:
        signed = await kms.sign(MESSAGE)
        answer = kms_client.verify(
            KeyId=signed.key_ref,
            Message=MESSAGE,
            MessageType="RAW",
            Signature=signed.signature,
            SigningAlgorithm="ECDSA_SHA_256",
        )
        assert answer["SignatureValid"] is True

    async def test_public_keys_verify_offline(self, kms: AwsKms) -> None:
        signed = await kms.sign(MESSAGE)
        public_keys = await kms.public_keys()
        assert list(public_keys) == [signed.key_ref]
        der = public_keys[signed.key_ref]
        assert der.startswith(b"0Y0\x13"), "DER SubjectPublicKeyInfo of a P-256 key"
        assert verify_with_public_key(der, MESSAGE, signed.signature)
        assert not verify_with_public_key(der, MESSAGE + b"x", signed.signature)
        assert not verify_with_public_key(b"garbage" * 10, MESSAGE, signed.signature)

    async def test_offline_verification_also_takes_local_keys(self) -> None:
        local = LocalKms("test-kms", {1: bytes(range(32))})
        signed = await local.sign(MESSAGE)
        raw = (await local.public_keys())[signed.key_ref]
        assert verify_with_public_key(raw, MESSAGE, signed.signature)
        assert not verify_with_public_key(raw, MESSAGE + b"x", signed.signature)

    async def test_retired_signing_keys_still_verify(self, kms_client: Any, keys: tuple[str, str]) -> None:
        wrapper, old = keys
        old_signature = await AwsKms([wrapper], [old], client=kms_client).sign(MESSAGE)
        new = signing_key(kms_client)
        kms = AwsKms([wrapper], [new, old], client=kms_client)
        assert (await kms.sign(MESSAGE)).key_ref == arn(kms_client, new)
        assert await kms.verify(old_signature.key_ref, MESSAGE, old_signature.signature)
        assert list(await kms.public_keys()) == [arn(kms_client, new), arn(kms_client, old)]

    @pytest.mark.parametrize("size", [0, AWS_MAX_SIGNED_MESSAGE_BYTES + 1])
    async def test_messages_kms_cannot_sign_raw_are_refused(self, kms: AwsKms, size: int) -> None:
        with pytest.raises(KmsError, match="4096"):
            await kms.sign(b"m" * size)

    async def test_the_largest_message_signs(self, kms: AwsKms) -> None:
        message = b"m" * AWS_MAX_SIGNED_MESSAGE_BYTES
        signed = await kms.sign(message)
        assert await kms.verify(signed.key_ref, message, signed.signature)
