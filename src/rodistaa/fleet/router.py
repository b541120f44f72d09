"""HTTP for trucks, truck documents and maintenance windows."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile, status

from rodistaa.core.actor import Actor
from rodistaa.core.errors import ValidationFailed
from rodistaa.core.roles import Role
from rodistaa.fleet.documents import DocumentUpload, TruckDocumentService
from rodistaa.fleet.maintenance import MaintenanceService
from rodistaa.fleet.policy import TRUCK_READERS
from rodistaa.fleet.repo import WindowRecord
from rodistaa.fleet.schemas import (
    DocumentUploadOut,
    MaintenanceWindowCreate,
    MaintenanceWindowOut,
    TruckCreate,
    TruckDocumentOut,
    TruckOut,
    normalise_chassis,
)
from rodistaa.fleet.service import FleetService, TruckView
from rodistaa.fleet.status import DocumentType, TruckStatus
from rodistaa.franchises.schemas import EntityId
from rodistaa.http.auth import AdminActor, require_role
from rodistaa.http.context import client_ip
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services
from rodistaa.http.uploads import read_upload
from rodistaa.storage.sniff import DOCUMENT_TYPES, MB

router = APIRouter(tags=["fleet"])
ServicesDep = Annotated[Services, Depends(get_services)]
OperatorActor = Annotated[Actor, Depends(require_role(Role.OPERATOR))]
TruckReaderActor = Annotated[Actor, Depends(require_role(*TRUCK_READERS))]
MAX_DOCUMENT_BYTES = 10 * MB
_FILE_EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


async def get_fleet_service(services: ServicesDep) -> FleetService:
    return FleetService(services)


async def get_document_service(services: ServicesDep) -> TruckDocumentService:
    return TruckDocumentService(services)


async def get_maintenance_service(services: ServicesDep) -> MaintenanceService:
    return MaintenanceService(services)


FleetServiceDep = Annotated[FleetService, Depends(get_fleet_service)]
DocumentServiceDep = Annotated[TruckDocumentService, Depends(get_document_service)]
MaintenanceServiceDep = Annotated[MaintenanceService, Depends(get_maintenance_service)]


def truck_out(view: TruckView) -> TruckOut:
    return TruckOut.of(view.truck, view.documents, view.chassis_masked)


# --- trucks ------------------------------------------------------------------------------------


@router.post(
    "/trucks", status_code=status.HTTP_201_CREATED, response_model=TruckOut, responses=ERROR_RESPONSES
)
async def register_truck(
    body: TruckCreate, actor: OperatorActor, service: FleetServiceDep, request: Request
) -> TruckOut:
    """Operators only. The truck starts PENDING_INSPECTION in the franchise unit whose zone
    contains its base location (none outside every zone)."""
    return truck_out(await service.create_truck(actor, body, ip=client_ip(request)))


@router.get("/trucks", response_model=Page[TruckOut], responses=ERROR_RESPONSES)
async def list_trucks(
    actor: TruckReaderActor,
    service: FleetServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    status_filter: Annotated[TruckStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    """Operators: their own; admins: all; franchise staff: their unit's or district's. Newest first."""
    views, total = await service.list_trucks(actor, status=status_filter, page=page)
    return build_page([truck_out(v) for v in views], total, page)


@router.get("/trucks/{truckId}", response_model=TruckOut, responses=ERROR_RESPONSES)
async def get_truck(truckId: str, actor: TruckReaderActor, service: FleetServiceDep) -> TruckOut:
    return truck_out(await service.get_truck(actor, truckId))


@router.post("/trucks/{truckId}/retire", response_model=TruckOut, responses=ERROR_RESPONSES)
async def retire_truck(truckId: str, actor: TruckReaderActor, service: FleetServiceDep) -> TruckOut:
    """The owner retires the truck (INACTIVE, final); a blocked truck cannot be retired."""
    return truck_out(await service.retire_truck(actor, truckId))


# --- documents ---------------------------------------------------------------------------------


def _document_type(document_type: DocumentType | None, legacy_type: DocumentType | None) -> DocumentType:
    """The contract names the field `documentType`; `type` (the name the API returns) is
    accepted too. One of them is required; if both are sent they must agree."""
    if document_type is None and legacy_type is None:
        raise ValidationFailed.for_field("documentType", "Field required")
    if document_type is not None and legacy_type is not None and document_type is not legacy_type:
        raise ValidationFailed.for_field("documentType", "documentType and type disagree")
    chosen = document_type or legacy_type
    assert chosen is not None
    return chosen


def _ocr_chassis(doc_type: DocumentType, chassis_number: str | None) -> str | None:
    if doc_type is not DocumentType.RC:
        if chassis_number is not None:
            raise ValidationFailed.for_field("chassisNumber", "only sent with an RC")
        return None
    if chassis_number is None:
        raise ValidationFailed.for_field("chassisNumber", "required with an RC: the number printed on it")
    try:
        return normalise_chassis(chassis_number)
    except ValueError as exc:
        raise ValidationFailed.for_field("chassisNumber", str(exc)) from exc


@router.post(
    "/trucks/{truckId}/documents",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentUploadOut,
    responses=ERROR_RESPONSES,
)
async def upload_document(
    truckId: str,
    actor: TruckReaderActor,
    service: DocumentServiceDep,
    request: Request,
    file: Annotated[UploadFile, File(description="PDF, JPEG or PNG, at most 10 MB")],
    expiryDate: Annotated[date, Form()],
    documentType: Annotated[DocumentType | None, Form()] = None,
    legacy_type: Annotated[DocumentType | None, Form(alias="type")] = None,
    chassisNumber: Annotated[str | None, Form(max_length=40)] = None,
) -> DocumentUploadOut:
    """The truck's operator only. An RC also carries `chassisNumber` as read from it (checked
    against the vehicle registry by ACS RF11)."""
    doc_type = _document_type(documentType, legacy_type)
    ocr_chassis = _ocr_chassis(doc_type, chassisNumber)
    data, content_type = await read_upload(
        file, field="file", max_bytes=MAX_DOCUMENT_BYTES, allowed=DOCUMENT_TYPES
    )
    upload = DocumentUpload(doc_type, expiryDate, data, content_type, ocr_chassis)
    result = await service.upload(actor, truckId, upload, ip=client_ip(request))
    return DocumentUploadOut(
        **TruckDocumentOut.of(result.document).model_dump(),
        truckId=result.document.truck_id,
        truckStatus=result.truck_status,
    )


@router.get(
    "/trucks/{truckId}/documents/{documentId}/file",
    response_class=Response,
    responses={**ERROR_RESPONSES, 200: {"content": {t: {} for t in sorted(DOCUMENT_TYPES)}}},
)
async def download_document(
    truckId: str, documentId: str, actor: TruckReaderActor, service: DocumentServiceDep
) -> Response:
    """The decrypted file, for the truck's operator, admins and the staff of its franchise."""
    doc, data = await service.read_file(actor, truckId, documentId)
    filename = f"{doc.id}.{_FILE_EXTENSIONS.get(doc.content_type, 'bin')}"
    return Response(
        content=data,
        media_type=doc.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- maintenance windows -----------------------------------------------------------------------


def window_out(window: WindowRecord) -> MaintenanceWindowOut:
    return MaintenanceWindowOut(
        id=window.id,
        operatorId=window.operator_id,
        startsAt=window.starts_at,
        endsAt=window.ends_at,
        reason=window.reason,
        createdBy=window.created_by,
        createdAt=window.created_at,
    )


@router.post(
    "/admin/maintenance-windows",
    status_code=status.HTTP_201_CREATED,
    response_model=MaintenanceWindowOut,
    responses=ERROR_RESPONSES,
    tags=["admin"],
)
async def create_maintenance_window(
    body: MaintenanceWindowCreate, actor: AdminActor, service: MaintenanceServiceDep
) -> MaintenanceWindowOut:
    """A window for one operator, or (no `operatorId`) for every operator."""
    return window_out(await service.create(actor, body))


@router.get(
    "/admin/maintenance-windows",
    response_model=Page[MaintenanceWindowOut],
    responses=ERROR_RESPONSES,
    tags=["admin"],
)
async def list_maintenance_windows(
    _actor: AdminActor,
    service: MaintenanceServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    operator_id: Annotated[EntityId | None, Query(alias="operatorId")] = None,
) -> dict[str, Any]:
    """Latest start first."""
    windows, total = await service.list_windows(operator_id=operator_id, page=page)
    return build_page([window_out(w) for w in windows], total, page)
