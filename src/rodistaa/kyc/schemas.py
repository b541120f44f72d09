"""API models of KYC. Document numbers leave the service masked; only the audited decryption by
a KYC admin returns the number and the file in clear."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.kyc.numbers import DocumentType
from rodistaa.kyc.repo import KycDocument

ReviewReason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=256)]
Purpose = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=500)]


class KycRecordOut(BaseModel):
    """The contract's KycRecord, plus the masked number and the review outcome."""

    id: str
    userId: str
    documentType: DocumentType
    status: str
    fileUrl: str | None = Field(
        description="Always null: a KYC file is only ever returned by the audited decryption"
    )
    numberMasked: str
    contentType: str
    sizeBytes: int
    rejectionReason: str | None
    reviewedAt: datetime | None
    superseded: bool = Field(description="A newer upload of the same type replaces this one")
    createdAt: datetime

    @classmethod
    def of(cls, document: KycDocument, *, superseded: bool = False) -> KycRecordOut:
        return cls(
            id=document.id,
            userId=document.user_id,
            documentType=document.document_type,
            status=document.status,
            fileUrl=None,
            numberMasked=document.number_masked,
            contentType=document.content_type,
            sizeBytes=document.size_bytes,
            rejectionReason=document.rejection_reason,
            reviewedAt=document.reviewed_at,
            superseded=superseded,
            createdAt=document.created_at,
        )


class KycStatusOut(BaseModel):
    status: str = Field(description="NOT_SUBMITTED, PENDING, VERIFIED or REJECTED")
    requiredDocuments: list[DocumentType]
    documents: list[KycRecordOut] = Field(description="Every upload, newest first")


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ReviewReason = Field(description="Shown to the document's owner")


class DecryptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kycId: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    purpose: Purpose = Field(description="Why the document is opened; checked by ACS and audited")


class DecryptedKycOut(BaseModel):
    id: str
    userId: str
    documentType: DocumentType
    status: str
    documentNumber: str
    contentType: str
    fileBase64: str
    purpose: str
    acsEventId: str = Field(description="The ACS event (and audit reference) of this decryption")
