"""Envelope encryption end to end: per-user data keys in `user_data_keys` (SQLite and
PostgreSQL), records bound to their associated data, master-key rotation by re-wrapping, and
crypto-shredding, with the local KMS and with AWS KMS (moto) behind the same `DataKeys`."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import select

from rodistaa.db.engine import Database, create_engine
from rodistaa.db.tables import user_data_keys, users
from rodistaa.security.envelope import (
    DataKeyDestroyed,
    DataKeys,
    DecryptionFailed,
    decrypt,
    decrypt_text,
    encrypt,
    encrypt_text,
)
from rodistaa.security.kms import AwsKms, KmsProvider, LocalKms, UnwrapError, WrappedKey

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE, BOB, CAROL = "USR-SH-ALICE", "USR-OP-BOB", "USR-DR-CAROL"
V1, V2 = bytes(range(32)), bytes(range(100, 132))
FILE_AD = b"kyc:KYC-0001:file"
NUMBER_AD = b"kyc:KYC-0001:number"
DOCUMENT = b"%PDF-1.7 scanned PAN card"
PAN = "ABCDE1234F"


@dataclass
class Provider:
    """One KMS across a master-key rotation: `before` wraps with the old key, `rotated` wraps
    with the new key and still opens the old, `retired` knows only the new key."""

    name: str
    before: KmsProvider
    rotated: KmsProvider
    retired: KmsProvider
    old_key: str  # how a wrapped key names the old / new master key
    new_key: str


def _names(wrapped: WrappedKey) -> str:
    return wrapped.key_id if wrapped.scheme == "aws1" else f"{wrapped.key_id}/v{wrapped.version}"


@pytest.fixture
def local_provider() -> Provider:
    return Provider(
        "local",
        before=LocalKms("test-kms", {1: V1}),
        rotated=LocalKms("test-kms", {1: V1, 2: V2}),
        retired=LocalKms("test-kms", {2: V2}),
        old_key="test-kms/v1",
        new_key="test-kms/v2",
    )


@pytest.fixture(scope="module")
def aws() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            yield boto3.client("kms", region_name="ap-south-1")


@pytest.fixture
def aws_provider(aws: Any) -> Provider:
    def create(**params: str) -> dict[str, str]:
        metadata: dict[str, str] = aws.create_key(**params)["KeyMetadata"]
        return metadata

    old, new = create(), create()
    signer = create(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    return Provider(
        "aws",
        before=AwsKms([old["KeyId"]], [signer], client=aws),
        rotated=AwsKms([new["KeyId"], old["KeyId"]], [signer], client=aws),
        retired=AwsKms([new["KeyId"]], [signer], client=aws),
        old_key=old["Arn"],
        new_key=new["Arn"],
    )


@pytest.fixture(params=["local", "aws"])
def provider(request: pytest.FixtureRequest) -> Provider:
    value: Provider = request.getfixturevalue(f"{request.param}_provider")
    return value


@pytest.fixture
async def db(clean_database: str) -> AsyncIterator[Database]:
    database = Database(create_engine(clean_database))
    try:
        async with database.transaction() as conn:
            for number, user_id in enumerate((ALICE, BOB, CAROL)):
                await conn.execute(
                    users.insert().values(
                        id=user_id,
                        mobile=f"+9198765000{number:02d}",
                        name=user_id,
                        role="SHIPPER",
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
        yield database
    finally:
        await database.dispose()


async def _key_for_writing(db: Database, kms: KmsProvider, user_id: str) -> bytes:
    async with db.transaction() as conn:
        return await DataKeys(kms).for_writing(conn, user_id, now=NOW)


async def _key_for_reading(db: Database, kms: KmsProvider, user_id: str) -> bytes:
    async with db.read() as conn:
        return await DataKeys(kms).for_reading(conn, user_id)


async def _row(db: Database, user_id: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(user_data_keys).where(user_data_keys.c.user_id == user_id))).one()


class TestRecords:
    """The data-key-level primitives, independent of any KMS."""

    def test_round_trip_bound_to_the_associated_data(self) -> None:
        key = bytes(range(32))
        blob = encrypt(key, DOCUMENT, FILE_AD)
        assert DOCUMENT not in blob
        assert decrypt(key, blob, FILE_AD) == DOCUMENT
        with pytest.raises(DecryptionFailed):
            decrypt(key, blob, NUMBER_AD)  # moved onto another field
        with pytest.raises(DecryptionFailed):
            decrypt(bytes(32), blob, FILE_AD)  # another user's key

    def test_every_encryption_uses_a_new_nonce(self) -> None:
        key = bytes(range(32))
        assert encrypt(key, DOCUMENT, FILE_AD) != encrypt(key, DOCUMENT, FILE_AD)

    @pytest.mark.parametrize("damage", ["flip", "truncate", "format", "empty"])
    def test_damaged_ciphertexts_are_refused(self, damage: str) -> None:
        key = bytes(range(32))
        blob = bytearray(encrypt(key, DOCUMENT, FILE_AD))
        if damage == "flip":
            blob[-1] ^= 1
        elif damage == "truncate":
            del blob[20:]
        elif damage == "format":
            blob[0] = 2
        else:
            blob.clear()
        with pytest.raises(DecryptionFailed):
            decrypt(key, bytes(blob), FILE_AD)

    def test_text_fields(self) -> None:
        key = bytes(range(32))
        stored = encrypt_text(key, PAN, NUMBER_AD)
        assert PAN not in stored
        assert decrypt_text(key, stored, NUMBER_AD) == PAN
        with pytest.raises(DecryptionFailed):
            decrypt_text(key, stored, FILE_AD)


class TestDataKeys:
    async def test_one_key_per_user_created_on_first_use(self, provider: Provider, db: Database) -> None:
        kms = provider.before
        alice = await _key_for_writing(db, kms, ALICE)
        assert len(alice) == 32
        assert await _key_for_writing(db, kms, ALICE) == alice
        assert await _key_for_reading(db, kms, ALICE) == alice
        assert await _key_for_writing(db, kms, BOB) != alice

        row = await _row(db, ALICE)
        assert _names(WrappedKey.parse(row.wrapped_key)) == provider.old_key
        assert base64.b64encode(alice).decode() not in row.wrapped_key
        assert row.created_at == NOW and row.rewrapped_at is None and row.destroyed_at is None

    async def test_a_user_without_a_key_cannot_read(self, provider: Provider, db: Database) -> None:
        with pytest.raises(DataKeyDestroyed):
            await _key_for_reading(db, provider.before, ALICE)

    async def test_a_key_opens_only_for_its_owner(self, provider: Provider, db: Database) -> None:
        await _key_for_writing(db, provider.before, ALICE)
        await _key_for_writing(db, provider.before, BOB)
        async with db.transaction() as conn:  # Bob's wrapped key copied onto Alice's row
            bob = (
                await conn.execute(
                    select(user_data_keys.c.wrapped_key).where(user_data_keys.c.user_id == BOB)
                )
            ).scalar_one()
            await conn.execute(
                user_data_keys.update().where(user_data_keys.c.user_id == ALICE).values(wrapped_key=bob)
            )
        with pytest.raises(UnwrapError):
            await _key_for_reading(db, provider.before, ALICE)

    async def test_a_record_round_trips_with_its_associated_data(
        self, provider: Provider, db: Database
    ) -> None:
        key = await _key_for_writing(db, provider.before, ALICE)
        blob, number = encrypt(key, DOCUMENT, FILE_AD), encrypt_text(key, PAN, NUMBER_AD)

        key = await _key_for_reading(db, provider.before, ALICE)
        assert decrypt(key, blob, FILE_AD) == DOCUMENT
        assert decrypt_text(key, number, NUMBER_AD) == PAN
        with pytest.raises(DecryptionFailed):
            decrypt(key, blob, NUMBER_AD)
        with pytest.raises(DecryptionFailed):
            decrypt(await _key_for_writing(db, provider.before, BOB), blob, FILE_AD)

    async def test_rotation_rewraps_every_live_key_and_leaves_records_alone(
        self, provider: Provider, db: Database
    ) -> None:
        alice = await _key_for_writing(db, provider.before, ALICE)
        bob = await _key_for_writing(db, provider.before, BOB)
        await _key_for_writing(db, provider.before, CAROL)
        blob = encrypt(alice, DOCUMENT, FILE_AD)
        async with db.transaction() as conn:
            assert await DataKeys(provider.before).destroy(conn, CAROL, now=NOW)
        before = (await _row(db, ALICE)).wrapped_key

        # Without re-wrapping, a KMS that no longer holds the old key cannot open anything.
        with pytest.raises(UnwrapError):
            await _key_for_reading(db, provider.retired, ALICE)

        later = NOW + timedelta(days=90)
        async with db.transaction() as conn:
            # batch=1: the paging over user ids is exercised too.
            assert await DataKeys(provider.rotated).rewrap_all(conn, now=later, batch=1) == 2

        for user_id in (ALICE, BOB):
            row = await _row(db, user_id)
            assert _names(WrappedKey.parse(row.wrapped_key)) == provider.new_key
            assert row.rewrapped_at == later
        assert (await _row(db, ALICE)).wrapped_key != before
        carol = await _row(db, CAROL)
        assert carol.wrapped_key is None and carol.rewrapped_at is None

        # The same data keys, now opened by a KMS without the old master key.
        assert await _key_for_reading(db, provider.retired, ALICE) == alice
        assert await _key_for_reading(db, provider.retired, BOB) == bob
        assert decrypt(await _key_for_reading(db, provider.retired, ALICE), blob, FILE_AD) == DOCUMENT
        assert await _key_for_writing(db, provider.retired, ALICE) == alice

    async def test_rotation_with_no_keys_rewraps_nothing(self, provider: Provider, db: Database) -> None:
        async with db.transaction() as conn:
            assert await DataKeys(provider.rotated).rewrap_all(conn, now=NOW) == 0

    async def test_destroy_makes_the_records_unreadable(self, provider: Provider, db: Database) -> None:
        kms = provider.before
        key = await _key_for_writing(db, kms, ALICE)
        encrypt(key, DOCUMENT, FILE_AD)
        await _key_for_writing(db, kms, BOB)
        destroyed_at = NOW + timedelta(hours=1)
        async with db.transaction() as conn:
            assert await DataKeys(kms).destroy(conn, ALICE, now=destroyed_at)
            assert not await DataKeys(kms).destroy(conn, ALICE, now=destroyed_at)  # already gone
            assert not await DataKeys(kms).destroy(conn, CAROL, now=destroyed_at)  # never had one

        with pytest.raises(DataKeyDestroyed):
            await _key_for_reading(db, kms, ALICE)
        # A new upload does not quietly mint a fresh key for an erased user.
        with pytest.raises(DataKeyDestroyed):
            await _key_for_writing(db, kms, ALICE)
        row = await _row(db, ALICE)
        assert row.wrapped_key is None and row.destroyed_at == destroyed_at
        assert len(await _key_for_reading(db, kms, BOB)) == 32


class _DestroyingMidRotation:
    """A KMS that, while re-wrapping the first data key, lets another transaction erase that
    key's owner (and commit) before the rotation writes the re-wrapped key back."""

    def __init__(self, inner: KmsProvider, db: Database, user_id: str) -> None:
        self._inner, self._db, self._user_id = inner, db, user_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def rewrap(self, wrapped: WrappedKey, context: bytes) -> WrappedKey:
        if self._user_id.encode() in context:
            async with self._db.transaction() as conn:
                assert await DataKeys(self._inner).destroy(conn, self._user_id, now=NOW)
        return await self._inner.rewrap(wrapped, context)


class TestRotationRacingErasure:
    async def test_an_erasure_during_rotation_stays_erased(
        self, local_provider: Provider, db: Database
    ) -> None:
        if db.is_sqlite:
            pytest.skip("SQLite: the rotation holds the write lock, the erasure waits for it")
        await _key_for_writing(db, local_provider.before, ALICE)
        await _key_for_writing(db, local_provider.before, BOB)
        racing = _DestroyingMidRotation(local_provider.rotated, db, BOB)
        async with db.transaction() as conn:
            await DataKeys(racing).rewrap_all(conn, now=NOW)  # type: ignore[arg-type]
        assert (await _row(db, BOB)).wrapped_key is None
        with pytest.raises(DataKeyDestroyed):
            await _key_for_reading(db, local_provider.retired, BOB)
