"""API models of delivery (contract: `Pod`; the multipart `POST /pod/upload` form is read in
the router).

`fileUrl` is kept from the contract but is never a public link: it is the authenticated API
path that streams the file (`GET /v1/pods/{id}/file`) to the shipment's parties and admins.
The file is identified by its SHA-256, size and sniffed content type.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.delivery.repo import PodRecord

# The contract's pattern; ASCII digits only (`\d` would accept other scripts' digits).
OTP_PATTERN = r"^[0-9]{6}$"
OtpCode = Annotated[str, StringConstraints(pattern=OTP_PATTERN)]


def file_path(pod_id: str) -> str:
    return f"/v1/pods/{pod_id}/file"


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    otp: OtpCode = Field(description="The 6-digit delivery OTP the shipper gave the driver")


class PodOut(BaseModel):
    id: str
    shipmentId: str
    fileUrl: str = Field(description="Authenticated API path of the file (not a public URL)")
    fileSha256: str
    sizeBytes: int
    contentType: str
    metadataTimestamp: datetime | None = Field(description="Capture time the app read from the file")
    uploadedBy: str
    createdAt: datetime

    @classmethod
    def of(cls, pod: PodRecord) -> PodOut:
        return cls(
            id=pod.id,
            shipmentId=pod.shipment_id,
            fileUrl=file_path(pod.id),
            fileSha256=pod.file_sha256,
            sizeBytes=pod.size_bytes,
            contentType=pod.content_type,
            metadataTimestamp=pod.metadata_timestamp,
            uploadedBy=pod.uploaded_by,
            createdAt=pod.created_at,
        )


class DeliveryOut(PodOut):
    """The upload's answer: the stored POD and what it did to the shipment."""

    shipmentStatus: str
    completed: bool


class CompletionOut(BaseModel):
    """`POST /shipments/{id}/complete`: the shipment's new state and the POD it completed on."""

    shipmentId: str
    shipmentStatus: str
    completed: bool
    completedAt: datetime | None
    podId: str
