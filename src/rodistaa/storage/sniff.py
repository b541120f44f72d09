"""Content types are decided by the bytes, never by the file name or the client's header."""

from __future__ import annotations

JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
DOCUMENT_TYPES = frozenset({JPEG, PNG, PDF})
IMAGE_TYPES = frozenset({JPEG, PNG})
MB = 1024 * 1024


def sniff_content_type(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"%PDF-"):
        return PDF
    return None
