"""`read_upload`: a bounded read, then the type decided by the bytes (not by the file name or
the client's content-type header)."""

from __future__ import annotations

import io

import pytest
from starlette.datastructures import Headers, UploadFile

from rodistaa.core.errors import ValidationFailed
from rodistaa.http.uploads import PayloadTooLarge, read_upload
from rodistaa.storage.sniff import DOCUMENT_TYPES, IMAGE_TYPES, JPEG, PDF, PNG

PDF_BYTES = b"%PDF-1.7\n" + b"0" * 200
JPEG_BYTES = b"\xff\xd8\xff\xe0" + b"1" * 200
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"2" * 200
LIMIT = 1024


def upload(
    data: bytes, *, filename: str = "document.pdf", content_type: str = "application/pdf"
) -> UploadFile:
    return UploadFile(
        file=io.BytesIO(data), filename=filename, headers=Headers({"content-type": content_type})
    )


async def read(data: bytes, *, allowed: frozenset[str] = DOCUMENT_TYPES, **kwargs: str) -> tuple[bytes, str]:
    return await read_upload(upload(data, **kwargs), field="file", max_bytes=LIMIT, allowed=allowed)


@pytest.mark.parametrize(("data", "expected"), [(PDF_BYTES, PDF), (JPEG_BYTES, JPEG), (PNG_BYTES, PNG)])
async def test_a_good_file_gives_its_bytes_and_sniffed_type(data: bytes, expected: str) -> None:
    assert await read(data) == (data, expected)


async def test_the_type_comes_from_the_bytes_not_the_name_or_header() -> None:
    assert await read(PNG_BYTES, filename="scan.pdf", content_type="application/pdf") == (PNG_BYTES, PNG)


async def test_exactly_the_limit_is_accepted() -> None:
    data = PDF_BYTES + b"0" * (LIMIT - len(PDF_BYTES))
    assert await read(data) == (data, PDF)


@pytest.mark.parametrize("size", [LIMIT + 1, 10 * LIMIT])
async def test_too_large_is_413(size: int) -> None:
    data = PDF_BYTES + b"0" * (size - len(PDF_BYTES))
    with pytest.raises(PayloadTooLarge) as excinfo:
        await read(data)
    error = excinfo.value
    assert (error.status, error.code) == (413, "PAYLOAD_TOO_LARGE")
    assert error.details == {"field": "file", "maxBytes": LIMIT}


async def test_empty_is_400_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        await read(b"")
    error = excinfo.value
    assert (error.status, error.code) == (400, "VALIDATION_ERROR")
    assert error.details is not None
    assert (error.details["field"], error.details["error"]) == ("file", "the file is empty")


@pytest.mark.parametrize(
    ("data", "filename", "content_type"),
    [
        (b"just some text", "scan.pdf", "application/pdf"),
        (b"PK\x03\x04" + b"\x00" * 40, "scan.jpg", "image/jpeg"),
        (b"GIF89a" + b"\x00" * 40, "scan.png", "image/png"),
    ],
)
async def test_a_wrong_type_is_400_naming_the_field_and_the_allowed_types(
    data: bytes, filename: str, content_type: str
) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        await read(data, filename=filename, content_type=content_type)
    error = excinfo.value
    assert error.status == 400
    assert error.details is not None
    assert error.details["field"] == "file"
    assert error.details["error"] == "must be one of: application/pdf, image/jpeg, image/png"
    assert error.details["fields"] == [{"field": "file", "error": error.details["error"]}]


async def test_a_type_outside_the_allowed_set_is_refused() -> None:
    assert await read(JPEG_BYTES, allowed=IMAGE_TYPES) == (JPEG_BYTES, JPEG)
    with pytest.raises(ValidationFailed) as excinfo:
        await read(PDF_BYTES, allowed=IMAGE_TYPES)
    assert excinfo.value.details is not None
    assert excinfo.value.details["error"] == "must be one of: image/jpeg, image/png"


async def test_the_field_name_is_the_callers() -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        await read_upload(upload(b"text"), field="rcFile", max_bytes=LIMIT, allowed=DOCUMENT_TYPES)
    assert excinfo.value.details is not None
    assert excinfo.value.details["field"] == "rcFile"
