"""HTTP for KYC: the owner's upload and status, and the KYC admin's queue, review and audited
decryption. KYC admins alone act on documents (PRODUCT §1: an ADMIN may not decrypt)."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, status

from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.http.auth import require_role
from rodistaa.http.errors import ERROR_RESPONSES, ErrorBody
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services
from rodistaa.http.uploads import read_upload
from rodistaa.kyc.numbers import MAX_INPUT_LENGTH, DocumentType
from rodistaa.kyc.schemas import (
    DecryptedKycOut,
    DecryptRequest,
    KycRecordOut,
    KycStatusOut,
    RejectRequest,
)
from rodistaa.kyc.service import KycService
from rodistaa.storage.sniff import DOCUMENT_TYPES, MB

router = APIRouter(tags=["kyc"])

MAX_FILE_BYTES = 10 * MB

# People who hold KYC documents: self-registered shippers and operators, and drivers.
PersonActor = Annotated[Actor, Depends(require_role(Role.SHIPPER, Role.OPERATOR, Role.DRIVER))]
KycAdminActor = Annotated[Actor, Depends(require_role(Role.KYC_ADMIN))]


async def get_kyc_service(services: Annotated[Services, Depends(get_services)]) -> KycService:
    return KycService(services)


KycServiceDep = Annotated[KycService, Depends(get_kyc_service)]

_UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    413: {"model": ErrorBody, "description": "The file is larger than 10 MB"},
}
_DECRYPT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    404: {"model": ErrorBody, "description": "NOT_FOUND: no KYC document with the `kycId` given"},
    410: {"model": ErrorBody, "description": "DATA_ERASED: the owner's data key was destroyed"},
}
# A decrypted document must not survive in a browser, proxy or CDN cache.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post(
    "/kyc/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=KycRecordOut,
    responses=_UPLOAD_RESPONSES,
)
async def upload_document(
    actor: PersonActor,
    kyc: KycServiceDep,
    document_type: Annotated[DocumentType, Form(alias="documentType")],
    document_number: Annotated[str, Form(alias="documentNumber", min_length=1, max_length=MAX_INPUT_LENGTH)],
    file: Annotated[UploadFile, File(description="JPEG, PNG or PDF, at most 10 MB")],
) -> KycRecordOut:
    """Encrypts the file and the number with the caller's data key; the document is PENDING
    until a KYC admin reviews it. A newer upload of a type replaces the older one."""
    content, content_type = await read_upload(
        file, field="file", max_bytes=MAX_FILE_BYTES, allowed=DOCUMENT_TYPES
    )
    document = await kyc.upload(actor, document_type, document_number, content, content_type)
    return KycRecordOut.of(document)


@router.get("/kyc/status", response_model=KycStatusOut, responses=ERROR_RESPONSES)
async def get_own_status(actor: PersonActor, kyc: KycServiceDep) -> KycStatusOut:
    own = await kyc.own_status(actor)
    return KycStatusOut(
        status=own.status,
        requiredDocuments=list(own.required),
        documents=[KycRecordOut.of(doc, superseded=superseded) for doc, superseded in own.documents],
    )


@router.get("/admin/kyc/queue", response_model=Page[KycRecordOut], responses=ERROR_RESPONSES, tags=["admin"])
async def get_review_queue(
    actor: KycAdminActor,
    kyc: KycServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    document_type: Annotated[DocumentType | None, Query(alias="documentType")] = None,
) -> dict[str, Any]:
    """Documents awaiting review, oldest first (an upload since replaced is left out)."""
    documents, total = await kyc.review_queue(actor, document_type=document_type, page=page)
    return build_page([KycRecordOut.of(doc) for doc in documents], total, page)


@router.post(
    "/admin/kyc/decrypt",
    response_model=DecryptedKycOut,
    responses=_DECRYPT_RESPONSES,
    tags=["admin"],
)
async def decrypt_document(
    body: DecryptRequest, actor: KycAdminActor, kyc: KycServiceDep, response: Response
) -> DecryptedKycOut:
    """The document's number and file in clear, for a stated purpose. ACS `kyc.decrypt` may
    refuse it; every decryption is an audit entry (`kyc.decrypted`)."""
    opened = await kyc.decrypt(actor, body.kycId, body.purpose)
    response.headers.update(_NO_STORE)
    document = opened.document
    return DecryptedKycOut(
        id=document.id,
        userId=document.user_id,
        documentType=document.document_type,
        status=document.status,
        documentNumber=opened.number,
        contentType=document.content_type,
        fileBase64=base64.b64encode(opened.content).decode("ascii"),
        purpose=body.purpose,
        acsEventId=opened.acs_event_id,
    )


@router.post(
    "/admin/kyc/{kycId}/verify", response_model=KycRecordOut, responses=ERROR_RESPONSES, tags=["admin"]
)
async def verify_document(kycId: str, actor: KycAdminActor, kyc: KycServiceDep) -> KycRecordOut:
    return KycRecordOut.of(await kyc.verify(actor, kycId))


@router.post(
    "/admin/kyc/{kycId}/reject", response_model=KycRecordOut, responses=ERROR_RESPONSES, tags=["admin"]
)
async def reject_document(
    kycId: str,
    body: RejectRequest,
    actor: KycAdminActor,
    kyc: KycServiceDep,
) -> KycRecordOut:
    return KycRecordOut.of(await kyc.reject(actor, kycId, body.reason))
