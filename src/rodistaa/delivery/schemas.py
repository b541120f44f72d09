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
from pydantic.config import JsonDict

from rodistaa.delivery.repo import PodRecord

# The contract's pattern; ASCII digits only (`\d` would accept other scripts' digits).
OTP_PATTERN = r"^[0-9]{6}$"
OtpCode = Annotated[str, StringConstraints(pattern=OTP_PATTERN), Field(examples=["482913"])]


def file_path(pod_id: str) -> str:
    return f"/v1/pods/{pod_id}/file"


_POD_EXAMPLE: JsonDict = {
    "id": "POD-01J9ZB2C4D6E8F0G2H4J6K8M0N",
    "shipmentId": "SH-01J9Z9D5F7H9K1M3P5R7T9V1X3",
    "fileUrl": "/v1/pods/POD-01J9ZB2C4D6E8F0G2H4J6K8M0N/file",
    "fileSha256": "9f2c6e0b3a7d4c1e8b5f2a9d6c3e0b7a4d1f8c5e2b9a6d3f0c7e4b1a8d5f2c9e",
    "sizeBytes": 245760,
    "contentType": "image/jpeg",
    "metadataTimestamp": "2024-01-18T16:42:00+05:30",
    "uploadedBy": "USR-DR-01J9Z8C4E6G8J0K2M4N6P8R0S2",
    "createdAt": "2024-01-18T11:13:05Z",
}


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"otp": "482913"}]})

    otp: OtpCode = Field(description="The 6-digit delivery OTP the shipper gave the driver")


class PodOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_POD_EXAMPLE]})

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

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_POD_EXAMPLE, "shipmentStatus": "COMPLETED", "completed": True}]}
    )

    shipmentStatus: str
    completed: bool


class CompletionOut(BaseModel):
    """`POST /shipments/{id}/complete`: the shipment's new state and the POD it completed on."""

    shipmentId: str
    shipmentStatus: str
    completed: bool
    completedAt: datetime | None
    podId: str
