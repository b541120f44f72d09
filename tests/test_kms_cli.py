"""`rodistaa kms rotate | status`, driven in-process against a throw-away SQLite file.

As in test_cli.py, every test runs in an empty temporary working directory with every settings
variable removed from the environment except the ones set here.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import select
from typer.testing import CliRunner, Result

from rodistaa import cli
from rodistaa.db.engine import Database, create_engine
from rodistaa.db.tables import user_data_keys, users
from rodistaa.kms_cli import rotate_data_keys
from rodistaa.security.envelope import DataKeys, decrypt, encrypt
from rodistaa.security.kms import AwsKms, KmsProvider, LocalKms, UnwrapError, WrappedKey
from rodistaa.settings import Settings

V1, V2 = bytes(range(32)), bytes(range(100, 132))
V1_B64, V2_B64 = base64.b64encode(V1).decode(), base64.b64encode(V2).decode()
ALICE, BOB = "USR-SH-ALICE", "USR-OP-BOB"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RECORD_AD = b"kyc:KYC-0001:file"
DOCUMENT = b"%PDF-1.7 Alice's PAN card"


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("ENV", "development")
    monkeypatch.setenv("LOCAL_KMS_KEY_ID", "test-kms")
    monkeypatch.setenv("LOCAL_KMS_KEYS", f"1:{V1_B64}")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli.app, list(args))


@pytest.fixture
def migrated(runner: CliRunner, db_path: Path) -> Path:
    result = invoke(runner, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return db_path


def _database(path: Path) -> Database:
    return Database(create_engine(f"sqlite+aiosqlite:///{path}"))


async def _seed(path: Path, kms: KmsProvider) -> bytes:
    """Alice and Bob with data keys (made by `kms`), and one record encrypted with Alice's."""
    db = _database(path)
    try:
        async with db.transaction() as conn:
            for number, user_id in enumerate((ALICE, BOB)):
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
            alice = await DataKeys(kms).for_writing(conn, ALICE, now=NOW)
            await DataKeys(kms).for_writing(conn, BOB, now=NOW)
        return encrypt(alice, DOCUMENT, RECORD_AD)
    finally:
        await db.dispose()


async def _read_record(path: Path, kms: KmsProvider, blob: bytes) -> bytes:
    db = _database(path)
    try:
        async with db.read() as conn:
            return decrypt(await DataKeys(kms).for_reading(conn, ALICE), blob, RECORD_AD)
    finally:
        await db.dispose()


def read_record(path: Path, kms: KmsProvider, blob: bytes) -> bytes:
    return asyncio.run(_read_record(path, kms, blob))


def wrapped_keys(path: Path) -> dict[str, WrappedKey]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT user_id, wrapped_key FROM user_data_keys").fetchall()
    return {user_id: WrappedKey.parse(wrapped) for user_id, wrapped in rows}


def assert_no_key_material(output: str) -> None:
    for material in (V1, V2):
        for encoded in (base64.b64encode(material).decode(), material.hex()):
            assert encoded not in output


class TestLocalRotation:
    def test_rotate_rewraps_every_data_key_under_the_new_version(
        self, runner: CliRunner, migrated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        blob = asyncio.run(_seed(migrated, LocalKms("test-kms", {1: V1})))
        assert {w.version for w in wrapped_keys(migrated).values()} == {1}

        monkeypatch.setenv("LOCAL_KMS_KEYS", f"1:{V1_B64},2:{V2_B64}")
        result = invoke(runner, "kms", "rotate")
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == "rewrapped 2 data keys under test-kms v2"
        assert_no_key_material(result.output)

        rewrapped = wrapped_keys(migrated)
        assert sorted(rewrapped) == sorted([ALICE, BOB])
        assert {(w.key_id, w.version) for w in rewrapped.values()} == {("test-kms", 2)}
        assert read_record(migrated, LocalKms("test-kms", {1: V1, 2: V2}), blob) == DOCUMENT
        # v1 can now leave LOCAL_KMS_KEYS: the record still opens, proving the re-wrap.
        assert read_record(migrated, LocalKms("test-kms", {2: V2}), blob) == DOCUMENT

    def test_without_rotate_removing_v1_loses_the_data(self, runner: CliRunner, migrated: Path) -> None:
        blob = asyncio.run(_seed(migrated, LocalKms("test-kms", {1: V1})))
        assert read_record(migrated, LocalKms("test-kms", {1: V1, 2: V2}), blob) == DOCUMENT
        with pytest.raises(UnwrapError, match="version 1 is not configured"):
            read_record(migrated, LocalKms("test-kms", {2: V2}), blob)

    def test_rotate_again_is_harmless(
        self, runner: CliRunner, migrated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        blob = asyncio.run(_seed(migrated, LocalKms("test-kms", {1: V1})))
        monkeypatch.setenv("LOCAL_KMS_KEYS", f"1:{V1_B64},2:{V2_B64}")
        for _ in range(2):
            result = invoke(runner, "kms", "rotate", "--batch", "1")
            assert result.exit_code == 0, result.output
            assert "rewrapped 2 data keys" in result.stdout
        assert read_record(migrated, LocalKms("test-kms", {2: V2}), blob) == DOCUMENT

    def test_rotate_on_an_empty_database(self, runner: CliRunner, migrated: Path) -> None:
        result = invoke(runner, "kms", "rotate")
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == "rewrapped 0 data keys under test-kms v1"

    def test_a_failed_rotation_changes_nothing(
        self, runner: CliRunner, migrated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        blob = asyncio.run(_seed(migrated, LocalKms("test-kms", {1: V1})))
        before = wrapped_keys(migrated)
        monkeypatch.setenv("LOCAL_KMS_KEYS", f"2:{V2_B64}")  # v1 removed too early
        result = invoke(runner, "kms", "rotate")
        assert result.exit_code == 1
        assert "KMS error: master key version 1 is not configured" in result.output
        assert_no_key_material(result.output)
        assert wrapped_keys(migrated) == before
        assert read_record(migrated, LocalKms("test-kms", {1: V1}), blob) == DOCUMENT

    def test_an_unusable_kms_configuration_exits_2(
        self, runner: CliRunner, migrated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("KMS_PROVIDER", "vault")
        result = invoke(runner, "kms", "rotate")
        assert result.exit_code == 2
        assert "KMS configuration: KMS_PROVIDER='vault' is not available" in result.output


class TestLocalStatus:
    def test_status_before_and_after_rotation(
        self, runner: CliRunner, migrated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        asyncio.run(_seed(migrated, LocalKms("test-kms", {1: V1})))
        monkeypatch.setenv("LOCAL_KMS_KEYS", f"1:{V1_B64},2:{V2_B64}")

        result = invoke(runner, "kms", "status")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [
            "provider: local",
            "key id: test-kms",
            "current version: 2",
            "versions: 1, 2",
            "data keys: 2 live, 0 destroyed",
            "  wrapped under test-kms v1: 2",
        ]
        assert_no_key_material(result.output)

        assert invoke(runner, "kms", "rotate").exit_code == 0
        result = invoke(runner, "kms", "status")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[-2:] == [
            "data keys: 2 live, 0 destroyed",
            "  wrapped under test-kms v2: 2",
        ]

    def test_status_counts_destroyed_keys(self, runner: CliRunner, migrated: Path) -> None:
        asyncio.run(_seed(migrated, LocalKms("test-kms", {1: V1})))
        with sqlite3.connect(migrated) as conn:
            conn.execute("UPDATE user_data_keys SET wrapped_key = NULL WHERE user_id = ?", (BOB,))
        result = invoke(runner, "kms", "status")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[-2:] == [
            "data keys: 1 live, 1 destroyed",
            "  wrapped under test-kms v1: 1",
        ]

    def test_status_of_the_development_keys(
        self, runner: CliRunner, migrated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("LOCAL_KMS_KEYS")
        monkeypatch.delenv("LOCAL_KMS_KEY_ID")
        result = invoke(runner, "kms", "status")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[:3] == [
            "provider: local",
            "key id: local-dev",
            "current version: 1",
        ]
        dev_keys = (Path("var") / "dev-keys.json").read_text()
        material = dev_keys.split('"local_kms_keys": "1:')[1].split('"')[0]
        assert material not in result.output


@pytest.fixture
def aws_kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("kms", region_name="ap-south-1")


class TestAwsRotation:
    def test_rotate_moves_data_keys_to_the_new_kms_key(
        self, runner: CliRunner, migrated: Path, monkeypatch: pytest.MonkeyPatch, aws_kms: Any
    ) -> None:
        old = aws_kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
        new = aws_kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
        aws_kms.create_alias(AliasName="alias/rodistaa-kyc", TargetKeyId=new["KeyId"])
        signer = aws_kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
        blob = asyncio.run(_seed(migrated, AwsKms([old["KeyId"]], [signer["KeyId"]], client=aws_kms)))

        monkeypatch.setenv("KMS_PROVIDER", "aws")
        monkeypatch.setenv("AWS_REGION", "ap-south-1")
        monkeypatch.setenv("AWS_KMS_KEY_ID", f"alias/rodistaa-kyc,{old['Arn']}")
        monkeypatch.setenv("AWS_KMS_SIGNING_KEY_ID", signer["KeyId"])
        result = invoke(runner, "kms", "status")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [
            "provider: aws",
            "key id: alias/rodistaa-kyc",
            f"key arn: {new['Arn']}",
            f"retired key arn: {old['Arn']}",
            f"signing key: {signer['Arn']}",
            "data keys: 2 live, 0 destroyed",
            f"  wrapped under {old['Arn']}: 2",
        ]

        result = invoke(runner, "kms", "rotate")
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == "rewrapped 2 data keys under alias/rodistaa-kyc"
        assert {w.key_id for w in wrapped_keys(migrated).values()} == {new["Arn"]}
        retired = AwsKms([new["KeyId"]], [signer["KeyId"]], client=aws_kms)
        assert read_record(migrated, retired, blob) == DOCUMENT


class _EraseDuringRotation:
    """Local KMS that, while re-wrapping the first key, starts an erasure of Bob's key in
    another transaction and gives it time to commit before the rotation goes on."""

    def __init__(self, inner: LocalKms, db: Database) -> None:
        self.inner, self.db = inner, db
        self.erasure: asyncio.Task[bool] | None = None
        self.key_id = inner.key_id

    async def rewrap(self, wrapped: WrappedKey, context: bytes) -> WrappedKey:
        if self.erasure is None:
            self.erasure = asyncio.create_task(self._erase())
            await asyncio.sleep(0.3)
        return await self.inner.rewrap(wrapped, context)

    async def _erase(self) -> bool:
        async with self.db.transaction() as conn:
            return await DataKeys(self.inner).destroy(conn, BOB, now=NOW)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class TestRotateDataKeys:
    """`rotate_data_keys` (what `kms rotate` runs) on both databases."""

    async def test_an_erasure_during_rotation_stays_erased(self, clean_database: str) -> None:
        db = Database(create_engine(clean_database))
        try:
            async with db.transaction() as conn:
                for number, user_id in enumerate((ALICE, BOB)):
                    await conn.execute(
                        users.insert().values(
                            id=user_id, mobile=f"+9198765000{number:02d}", name=user_id, role="SHIPPER",
                            created_at=NOW, updated_at=NOW,
                        )
                    )  # fmt: skip
                for user_id in (ALICE, BOB):
                    await DataKeys(LocalKms("test-kms", {1: V1})).for_writing(conn, user_id, now=NOW)
            racing = _EraseDuringRotation(LocalKms("test-kms", {1: V1, 2: V2}), db)

            count = await rotate_data_keys(db, racing, now=NOW)  # type: ignore[arg-type]

            assert racing.erasure is not None
            assert await racing.erasure, "the erasure applied once the rotation committed"
            assert count == 2
            async with db.read() as conn:
                rows = dict(
                    (await conn.execute(select(user_data_keys.c.user_id, user_data_keys.c.wrapped_key))).all()
                )
            assert rows[BOB] is None
            assert WrappedKey.parse(rows[ALICE]).version == 2
        finally:
            await db.dispose()
