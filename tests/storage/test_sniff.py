"""Content types come from the bytes: the three document formats, and nothing else."""

from __future__ import annotations

import io
import zipfile

import pytest

from rodistaa.storage.sniff import JPEG, PDF, PNG, sniff_content_type


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64, JPEG, id="jpeg-jfif"),
        pytest.param(b"\xff\xd8\xff\xe1\x00\x18Exif\x00\x00", JPEG, id="jpeg-exif"),
        pytest.param(b"\xff\xd8\xff", JPEG, id="jpeg-magic-only"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", PNG, id="png"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", PDF, id="pdf"),
        pytest.param(b"%PDF-", PDF, id="pdf-magic-only"),
        pytest.param(b"", None, id="empty"),
        pytest.param(b"hello, this is plain text\n", None, id="text"),
        pytest.param("नमस्ते".encode(), None, id="utf8-text"),
        pytest.param(_zip(), None, id="zip-docx"),
        pytest.param(b"GIF89a\x01\x00\x01\x00", None, id="gif"),
        pytest.param(b"<html><body>%PDF-</body></html>", None, id="pdf-magic-not-at-start"),
        pytest.param(b" %PDF-1.7", None, id="pdf-after-a-space"),
        pytest.param(b"%PDF", None, id="pdf-truncated-magic"),
        pytest.param(b"\xff\xd8", None, id="jpeg-truncated-magic"),
        pytest.param(b"\x89PNG\r\n", None, id="png-truncated-magic"),
        pytest.param(b"\x89PNG\n\x1a\n", None, id="png-newline-mangled"),
        pytest.param(b"MZ\x90\x00", None, id="windows-executable"),
    ],
)
def test_sniff_content_type(data: bytes, expected: str | None) -> None:
    assert sniff_content_type(data) == expected
