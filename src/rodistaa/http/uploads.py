"""Reading multipart uploads: bounded size, content type sniffed from the bytes."""

from __future__ import annotations

from fastapi import UploadFile

from rodistaa.core.errors import AppError, ValidationFailed
from rodistaa.storage.sniff import sniff_content_type


class PayloadTooLarge(AppError):
    status, code, message = 413, "PAYLOAD_TOO_LARGE", "The file is too large"


async def read_upload(
    upload: UploadFile, *, field: str, max_bytes: int, allowed: frozenset[str]
) -> tuple[bytes, str]:
    """The file's bytes and sniffed content type; 413 above `max_bytes`, 400 when empty or of
    a type not in `allowed` (decided by the bytes, not by the name or the client's header)."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(details={"field": field, "maxBytes": max_bytes})
    if not data:
        raise ValidationFailed.for_field(field, "the file is empty")
    content_type = sniff_content_type(data)
    if content_type not in allowed:
        raise ValidationFailed.for_field(field, "must be one of: " + ", ".join(sorted(allowed)))
    return data, content_type
