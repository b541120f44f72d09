"""`S3Storage`: files in an S3 (or S3-compatible: MinIO, LocalStack) bucket.

Objects are named ``<S3_PREFIX>/<key>``; keys pass `check_key` exactly as on local disk. boto3
is blocking, so each call runs in a worker thread (the client itself is thread-safe). What is
stored is ciphertext already (callers encrypt first); errors name the operation and the AWS error
code, never the key's contents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final, TypeVar

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from rodistaa.storage.base import StorageError, check_key

_MISSING: Final = frozenset({"NoSuchKey", "404", "NotFound"})
T = TypeVar("T")


class StorageUnavailable(StorageError):
    """The bucket could not be reached or refused the request (not: the object is missing)."""


class S3Storage:
    def __init__(self, bucket: str, *, client: Any, prefix: str = "") -> None:
        if not bucket:
            raise ValueError("S3_BUCKET: required when STORAGE_BACKEND=s3")
        self._bucket = bucket
        self._client = client
        prefix = prefix.strip("/")
        self._prefix = f"{prefix}/" if prefix else ""

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self._bucket!r}, prefix={self._prefix!r})"

    def object_key(self, key: str) -> str:
        """The S3 object key of a storage key (validated)."""
        return self._prefix + check_key(key)

    async def put(self, key: str, data: bytes) -> None:
        # A PUT is atomic in S3: readers see the old object or the new one, never a part.
        object_key = self.object_key(key)
        await self._in_thread(
            "put_object",
            lambda: self._client.put_object(
                Bucket=self._bucket, Key=object_key, Body=data, ContentType="application/octet-stream"
            ),
        )

    async def get(self, key: str) -> bytes:
        object_key = self.object_key(key)
        return await self._in_thread("get_object", lambda: self._read(object_key))

    def _read(self, object_key: str) -> bytes:
        body = self._client.get_object(Bucket=self._bucket, Key=object_key)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        # Like LocalStorage, deleting a missing object is not an error (S3 answers 204 anyway).
        object_key = self.object_key(key)
        await self._in_thread(
            "delete_object", lambda: self._client.delete_object(Bucket=self._bucket, Key=object_key)
        )

    @staticmethod
    async def _in_thread(operation: str, work: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(work)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code in _MISSING:
                raise StorageError("no such stored file") from None
            raise StorageUnavailable(f"S3 {operation} failed ({code})") from None
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 {operation} failed ({type(exc).__name__})") from None


def s3_client(*, region: str, endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client: credentials from the default chain (environment, instance or task
    role). A custom endpoint (MinIO, LocalStack) is addressed path-style."""
    # Imported here: boto3 takes ~150 ms to import and only the s3 backend needs it.
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=30,
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.session.Session().client("s3", region_name=region, endpoint_url=endpoint_url, config=config)
