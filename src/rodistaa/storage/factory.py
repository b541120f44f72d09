"""The storage named by the settings."""

from __future__ import annotations

from rodistaa.settings import Settings
from rodistaa.storage.base import FileStorage, LocalStorage


def build_storage(settings: Settings) -> FileStorage:
    if settings.storage_backend == "local":
        return LocalStorage(settings.storage_local_dir)
    raise ValueError(f"STORAGE_BACKEND={settings.storage_backend!r} is not available")
