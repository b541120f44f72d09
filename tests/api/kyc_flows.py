"""KYC through the API, for any test that needs a KYC-verified user (bookings, bids, shipment
start) or a document in a given state. Every step asserts its own status.

    await make_kyc_verified(h, shipper)                  # shipper: AADHAAR + PAN verified
    await make_kyc_verified(h, driver, role=Role.DRIVER) # + LICENSE

Numbers are generated valid (check digits included) and random, so two users in one test never
share a number by accident (which would raise the duplicate-document fraud signal).
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from rodistaa.core.roles import Role
from rodistaa.kyc.numbers import DocumentType, gstin_check_character, verhoeff_check_digit
from rodistaa.kyc.status import REQUIRED_DOCUMENTS
from rodistaa.users.errors import MobileTaken
from tests.api.flows import Session, create_user_directly, sign_in
from tests.conftest import Harness

KYC_ADMIN_MOBILE = "+919000000077"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


def _letters(count: int) -> str:
    return "".join(secrets.choice(_LETTERS) for _ in range(count))


def aadhaar_number() -> str:
    """A random 12-digit number UIDAI could issue (first digit 2-9, Verhoeff check digit)."""
    body = secrets.choice("23456789") + _digits(10)
    return body + verhoeff_check_digit(body)


def pan_number() -> str:
    return _letters(3) + "P" + _letters(1) + _digits(4) + _letters(1)


def gstin_number(pan: str | None = None) -> str:
    first14 = "27" + (pan or pan_number()) + "1Z"
    return first14 + gstin_check_character(first14)


def licence_number() -> str:
    return "MH12" + "2015" + _digits(7)


def document_number(document_type: DocumentType | str) -> str:
    return {
        DocumentType.AADHAAR: aadhaar_number,
        DocumentType.PAN: pan_number,
        DocumentType.GSTIN: gstin_number,
        DocumentType.LICENSE: licence_number,
    }[DocumentType(document_type)]()


def png_file(marker: bytes = b"") -> bytes:
    """Bytes that sniff as PNG; `marker` lets a test find (or not find) the file's content."""
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + marker + secrets.token_bytes(64)


def pdf_file(marker: bytes = b"") -> bytes:
    return b"%PDF-1.7\n" + marker + secrets.token_bytes(64) + b"\n%%EOF\n"


async def upload_document(
    h: Harness,
    session: Session,
    document_type: DocumentType | str,
    *,
    number: str | None = None,
    content: bytes | None = None,
    filename: str = "document.png",
) -> dict[str, Any]:
    """Upload one document; returns the KycRecord (201 asserted)."""
    response = await h.client.post(
        "/v1/kyc/upload",
        data={
            "documentType": str(DocumentType(document_type)),
            "documentNumber": number or document_number(document_type),
        },
        files={"file": (filename, content or png_file(), "application/octet-stream")},
        headers=session.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def kyc_admin_session(h: Harness, mobile: str = KYC_ADMIN_MOBILE) -> Session:
    """A KYC admin (created like staff, by the service an admin's request would use); signs in
    again when the test already made one with this phone."""
    with contextlib.suppress(MobileTaken):
        await create_user_directly(h, mobile, Role.KYC_ADMIN, "Identity Team")
    return await sign_in(h, mobile)


async def verify_document(h: Harness, kyc_admin: Session, kyc_id: str) -> dict[str, Any]:
    response = await h.client.post(f"/v1/admin/kyc/{kyc_id}/verify", headers=kyc_admin.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def reject_document(
    h: Harness, kyc_admin: Session, kyc_id: str, reason: str = "Photo is not readable"
) -> dict[str, Any]:
    response = await h.client.post(
        f"/v1/admin/kyc/{kyc_id}/reject", json={"reason": reason}, headers=kyc_admin.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def kyc_status(h: Harness, session: Session) -> dict[str, Any]:
    response = await h.client.get("/v1/kyc/status", headers=session.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def make_kyc_verified(
    h: Harness,
    session: Session,
    *,
    role: Role = Role.SHIPPER,
    kyc_admin: Session | None = None,
) -> list[str]:
    """Upload and verify every document `role` needs; returns the document ids. Without
    `kyc_admin` each call signs the KYC admin in again (a login code for one phone, limited to
    10 an hour): pass one session when verifying several users in a test."""
    admin = kyc_admin or await kyc_admin_session(h)
    ids = []
    for document_type in REQUIRED_DOCUMENTS[role]:
        record = await upload_document(h, session, document_type)
        await verify_document(h, admin, record["id"])
        ids.append(record["id"])
    status = await kyc_status(h, session)
    assert status["status"] == "VERIFIED", status
    return ids
