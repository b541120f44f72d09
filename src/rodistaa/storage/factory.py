"""The storage named by the settings."""

from __future__ import annotations

from typing import Any

from rodistaa.settings import Settings
from rodistaa.storage.base import FileStorage, LocalStorage
from rodistaa.storage.s3 import S3Storage, s3_client


def build_storage(settings: Settings, *, s3: Any = None) -> FileStorage:
    """`STORAGE_BACKEND=local` (a directory) or `s3` (`S3_BUCKET` required); `s3` replaces the
    boto3 client built from `S3_REGION` / `S3_ENDPOINT_URL` (tests)."""
    if settings.storage_backend == "local":
        return LocalStorage(settings.storage_local_dir)
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise ValueError("S3_BUCKET: required when STORAGE_BACKEND=s3")
        client = (
            s3
            if s3 is not None
            else s3_client(region=settings.s3_region, endpoint_url=settings.s3_endpoint_url)
        )
        return S3Storage(settings.s3_bucket, client=client, prefix=settings.s3_prefix)
    raise ValueError(f"STORAGE_BACKEND={settings.storage_backend!r} is not available")
