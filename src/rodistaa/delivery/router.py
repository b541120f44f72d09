"""HTTP for delivery: the driver's POD upload with the delivery OTP (`POST /pod/upload`), the
OTP retry on a stored POD (`POST /shipments/{id}/complete`), and reading PODs (the shipment's
parties and admins).

The upload is multipart. The file's type is decided by its bytes (PDF, JPEG or PNG; 400
VALIDATION_ERROR naming `file` otherwise) and its size is capped by `POD_MAX_BYTES` (413
PAYLOAD_TOO_LARGE), as for every other upload of the service. The OTP is checked against the
contract's `^[0-9]{6}$` before anything else is read (400).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile, status

from rodistaa.core.actor import Actor
from rodistaa.core.errors import ValidationFailed
from rodistaa.core.roles import Role
from rodistaa.core.timestamps import within_range
from rodistaa.delivery.schemas import OTP_PATTERN, CompleteRequest, CompletionOut, DeliveryOut, PodOut
from rodistaa.delivery.service import DeliveryResult, DeliveryService, PodUpload
from rodistaa.http.auth import require_role
from rodistaa.http.context import client_ip
from rodistaa.http.errors import ERROR_RESPONSES, ErrorBody
from rodistaa.http.services import Services, get_services
from rodistaa.http.uploads import read_upload
from rodistaa.storage.sniff import DOCUMENT_TYPES, JPEG, PDF, PNG

router = APIRouter(tags=["pod"])

DriverActor = Annotated[Actor, Depends(require_role(Role.DRIVER))]
# Who may read PODs at all; which ones each of them sees is `shipments.repo.readable`.
PodReaderActor = Annotated[Actor, Depends(require_role(Role.SHIPPER, Role.OPERATOR, Role.DRIVER, Role.ADMIN))]

_FILE_EXTENSIONS = {PDF: "pdf", JPEG: "jpg", PNG: "png"}
_UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: {
        "model": ErrorBody,
        "description": "OTP_REQUIRED (the POD is kept; details carry podId and attemptsRemaining), "
        "POD_DUPLICATE (RF07), POD_TIMESTAMP_MISMATCH (RF08), or not the driver's role",
    },
    404: {"model": ErrorBody, "description": "NOT_FOUND: no shipment with this id is assigned to the driver"},
    413: {"model": ErrorBody, "description": "The file is larger than POD_MAX_BYTES (25 MB)"},
}


async def get_delivery_service(services: Annotated[Services, Depends(get_services)]) -> DeliveryService:
    return DeliveryService(services)


DeliveryServiceDep = Annotated[DeliveryService, Depends(get_delivery_service)]


def delivery_out(result: DeliveryResult) -> DeliveryOut:
    return DeliveryOut(
        **PodOut.of(result.pod).model_dump(),
        shipmentStatus=result.shipment.status.value,
        completed=result.completed,
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed.for_field("metadataTimestamp", "must carry a time zone (e.g. Z or +05:30)")
    try:
        return within_range(value)
    except ValueError as exc:
        raise ValidationFailed.for_field("metadataTimestamp", str(exc)) from None


@router.post(
    "/pod/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=DeliveryOut,
    responses=_UPLOAD_RESPONSES,
)
async def upload_pod(
    actor: DriverActor,
    service: DeliveryServiceDep,
    request: Request,
    shipment_id: Annotated[
        str, Form(alias="shipmentId", min_length=1, max_length=64, examples=["SH-01J9Z9D5F7H9K1M3P5R7T9V1X3"])
    ],
    otp: Annotated[
        str, Form(pattern=OTP_PATTERN, description="The 6-digit delivery OTP", examples=["482913"])
    ],
    file: Annotated[UploadFile, File(description="PDF, JPEG or PNG, at most 25 MB")],
    metadata_timestamp: Annotated[
        datetime | None,
        Form(
            alias="metadataTimestamp",
            description="ISO date-time the photo was taken (EXIF), as the app read it",
        ),
    ] = None,
) -> DeliveryOut:
    """The assigned driver uploads the proof of delivery with the OTP the shipper gave them. A
    correct OTP completes the shipment (`completed: true`); a wrong one keeps the POD, moves
    the shipment to OTP_PENDING and answers `403 OTP_REQUIRED` (retry with
    `POST /v1/shipments/{id}/complete`)."""
    data, content_type = await read_upload(
        file, field="file", max_bytes=service.pod_max_bytes, allowed=DOCUMENT_TYPES
    )
    upload = PodUpload(shipment_id, data, content_type, otp, _aware(metadata_timestamp))
    return delivery_out(await service.upload_pod(actor, upload, ip=client_ip(request)))


@router.post(
    "/shipments/{shipmentId}/complete",
    response_model=CompletionOut,
    responses=ERROR_RESPONSES,
    tags=["shipments"],
)
async def complete_shipment(
    shipmentId: str, body: CompleteRequest, actor: DriverActor, service: DeliveryServiceDep, request: Request
) -> CompletionOut:
    """The assigned driver retries the OTP after a refused one, on the POD already uploaded
    (`409 POD_REQUIRED` without one). Same answers as the upload."""
    result = await service.complete(actor, shipmentId, body.otp, ip=client_ip(request))
    return CompletionOut(
        shipmentId=result.shipment.id,
        shipmentStatus=result.shipment.status.value,
        completed=result.completed,
        completedAt=result.shipment.completed_at,
        podId=result.pod.id,
    )


@router.get("/shipments/{shipmentId}/pods", response_model=list[PodOut], responses=ERROR_RESPONSES)
async def list_pods(shipmentId: str, actor: PodReaderActor, service: DeliveryServiceDep) -> list[PodOut]:
    """The shipment's PODs (metadata only), oldest first: its shipper, operator, driver, admins."""
    return [PodOut.of(pod) for pod in await service.list_pods(actor, shipmentId)]


@router.get(
    "/pods/{podId}/file",
    response_class=Response,
    responses={**ERROR_RESPONSES, 200: {"content": {t: {} for t in sorted(DOCUMENT_TYPES)}}},
)
async def download_pod(podId: str, actor: PodReaderActor, service: DeliveryServiceDep) -> Response:
    """The decrypted file with its stored content type, for the shipment's parties and admins."""
    pod, data = await service.read_file(actor, podId)
    filename = f"{pod.id}.{_FILE_EXTENSIONS.get(pod.content_type, 'bin')}"
    return Response(
        content=data,
        media_type=pod.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
