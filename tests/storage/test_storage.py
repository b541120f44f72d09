"""File storage: one suite run against the local directory and S3 (moto), then what is
particular to each (atomic local writes; S3 prefixes and errors) and the settings factory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import boto3
import pytest
from moto import mock_aws

from rodistaa.settings import Environment, Settings
from rodistaa.storage.base import FileStorage, LocalStorage, StorageError
from rodistaa.storage.factory import build_storage
from rodistaa.storage.s3 import S3Storage, StorageUnavailable

BUCKET = "rodistaa-test-documents"
REGION = "ap-south-1"
KEY = "kyc/USR-SH-01J0000000000000000000000/KYC-01J0000000000000000000000.bin"
BIG = os.urandom(3 * 1024 * 1024 + 17)


@pytest.fixture(scope="module")
def s3_client() -> Iterator[Any]:
    """moto's S3 with one bucket; fake credentials, so nothing can reach real AWS."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            client = boto3.client("s3", region_name=REGION)
            client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
            yield client


@pytest.fixture
def s3_prefix() -> str:
    """A prefix of its own per test, so tests sharing the bucket never see each other's files."""
    return f"tests/{uuid4().hex}"


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> FileStorage:
    if request.param == "local":
        return LocalStorage(tmp_path / "storage")
    client = request.getfixturevalue("s3_client")
    return S3Storage(BUCKET, client=client, prefix=request.getfixturevalue("s3_prefix"))


def _names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def _s3_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"env": Environment.TEST, "storage_backend": "s3", "s3_region": REGION}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class TestEveryBackend:
    async def test_put_then_get(self, storage: FileStorage) -> None:
        await storage.put(KEY, b"ciphertext")
        assert await storage.get(KEY) == b"ciphertext"

    async def test_large_and_binary_content(self, storage: FileStorage) -> None:
        await storage.put(KEY, BIG)
        assert await storage.get(KEY) == BIG

    async def test_empty_content(self, storage: FileStorage) -> None:
        await storage.put("empty.bin", b"")
        assert await storage.get("empty.bin") == b""

    async def test_overwrite_replaces_the_content(self, storage: FileStorage) -> None:
        await storage.put(KEY, b"first version, longer than the second")
        await storage.put(KEY, b"second")
        assert await storage.get(KEY) == b"second"

    async def test_keys_are_distinct(self, storage: FileStorage) -> None:
        await storage.put("a/one.bin", b"1")
        await storage.put("a/two.bin", b"2")
        await storage.put("b/one.bin", b"3")
        assert [await storage.get(k) for k in ("a/one.bin", "a/two.bin", "b/one.bin")] == [b"1", b"2", b"3"]

    async def test_delete(self, storage: FileStorage) -> None:
        await storage.put(KEY, b"ciphertext")
        await storage.put("other.bin", b"kept")
        await storage.delete(KEY)
        with pytest.raises(StorageError, match="no such stored file"):
            await storage.get(KEY)
        assert await storage.get("other.bin") == b"kept"

    async def test_deleting_a_missing_file_is_not_an_error(self, storage: FileStorage) -> None:
        await storage.delete("never/stored.bin")

    async def test_a_missing_file_is_a_storage_error(self, storage: FileStorage) -> None:
        with pytest.raises(StorageError, match="no such stored file"):
            await storage.get("never/stored.bin")

    @pytest.mark.parametrize(
        "key",
        [
            "",
            "../x",
            "a/../../x",
            "a/..",
            "/abs",
            "/etc/passwd",
            ".hidden",
            "a\\b",
            "a b",
            "a\x00b",
            "ключ",
            "k" * 257,
        ],
    )
    async def test_invalid_keys_are_refused(self, storage: FileStorage, key: str) -> None:
        for attempt in (storage.put(key, b"x"), storage.get(key), storage.delete(key)):
            with pytest.raises(StorageError, match="invalid storage key"):
                await attempt


class TestLocalStorage:
    async def test_files_land_under_the_root_only(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "root")
        await storage.put("a/b/c.bin", b"x")
        assert (tmp_path / "root/a/b/c.bin").read_bytes() == b"x"
        assert _names(tmp_path) == ["root"]

    async def test_no_temporary_files_remain(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path)
        for index in range(5):
            await storage.put(f"dir/file-{index}.bin", BIG[: index * 1000])
        await storage.put("dir/file-0.bin", b"overwritten")
        assert _names(tmp_path / "dir") == [f"file-{i}.bin" for i in range(5)]

    async def test_a_reader_sees_the_old_file_until_the_new_one_is_complete(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        storage = LocalStorage(tmp_path)
        await storage.put(KEY, b"old content")
        seen: list[tuple[bytes, bytes]] = []
        real_replace = os.replace

        def observing_replace(source: Any, target: Any) -> None:
            # The moment before the new file becomes visible: the old one is still whole, and
            # the new one is complete (written and flushed) under a temporary name.
            seen.append((Path(target).read_bytes(), Path(source).read_bytes()))
            real_replace(source, target)

        monkeypatch.setattr(os, "replace", observing_replace)
        await storage.put(KEY, BIG)
        assert seen == [(b"old content", BIG)]
        assert await storage.get(KEY) == BIG

    async def test_a_failed_write_leaves_the_old_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        storage = LocalStorage(tmp_path)
        await storage.put(KEY, b"old content")

        def disk_full(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space"):
            await storage.put(KEY, BIG)
        assert await storage.get(KEY) == b"old content"

    async def test_a_failed_write_leaves_no_temporary_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        storage = LocalStorage(tmp_path)

        def disk_full(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space"):
            await storage.put("file.bin", b"data")
        assert _names(tmp_path) == []


class TestS3Storage:
    @pytest.mark.parametrize(
        ("prefix", "expected"), [("", ""), ("docs", "docs/"), ("/docs/prod/", "docs/prod/")]
    )
    async def test_objects_are_named_under_the_prefix(
        self, s3_client: Any, prefix: str, expected: str
    ) -> None:
        key = f"{uuid4().hex}/file.bin"
        storage = S3Storage(BUCKET, client=s3_client, prefix=prefix)
        assert storage.object_key(key) == expected + key
        await storage.put(key, b"ciphertext")
        stored = s3_client.get_object(Bucket=BUCKET, Key=expected + key)
        assert stored["Body"].read() == b"ciphertext"
        assert stored["ContentType"] == "application/octet-stream"
        await storage.delete(key)
        assert s3_client.list_objects_v2(Bucket=BUCKET, Prefix=expected + key)["KeyCount"] == 0

    async def test_a_missing_bucket_is_unavailable_not_missing(self, s3_client: Any) -> None:
        storage = S3Storage("no-such-bucket-here", client=s3_client)
        with pytest.raises(StorageUnavailable, match=r"^S3 get_object failed \(NoSuchBucket\)$"):
            await storage.get("file.bin")
        with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
            await storage.put("file.bin", b"x")

    def test_a_bucket_is_required(self, s3_client: Any) -> None:
        with pytest.raises(ValueError, match="S3_BUCKET"):
            S3Storage("", client=s3_client)

    def test_repr_names_the_bucket_only(self, s3_client: Any) -> None:
        assert (
            repr(S3Storage(BUCKET, client=s3_client, prefix="p"))
            == f"S3Storage(bucket='{BUCKET}', prefix='p/')"
        )


class TestBuildStorage:
    def test_local_by_default(self, tmp_path: Path) -> None:
        settings = Settings(_env_file=None, env=Environment.TEST, storage_local_dir=str(tmp_path))  # type: ignore[call-arg]
        assert isinstance(build_storage(settings), LocalStorage)

    async def test_s3_from_settings(self, s3_client: Any, s3_prefix: str) -> None:
        storage = build_storage(_s3_settings(s3_bucket=BUCKET, s3_prefix=s3_prefix))
        assert isinstance(storage, S3Storage)
        await storage.put("from-settings.bin", b"x")
        assert (
            s3_client.get_object(Bucket=BUCKET, Key=f"{s3_prefix}/from-settings.bin")["Body"].read() == b"x"
        )

    def test_s3_with_a_custom_endpoint_is_path_style(self) -> None:
        storage = build_storage(_s3_settings(s3_bucket=BUCKET, s3_endpoint_url="http://127.0.0.1:9000"))
        assert isinstance(storage, S3Storage)
        client = storage._client
        assert client.meta.endpoint_url == "http://127.0.0.1:9000"
        assert client.meta.config.s3 == {"addressing_style": "path"}

    def test_s3_needs_a_bucket(self) -> None:
        with pytest.raises(ValueError, match="S3_BUCKET: required when STORAGE_BACKEND=s3"):
            build_storage(_s3_settings())

    def test_an_unknown_backend_is_refused(self) -> None:
        settings = _s3_settings().model_copy(update={"storage_backend": "ftp"})
        with pytest.raises(ValueError, match="'ftp'"):
            build_storage(settings)
