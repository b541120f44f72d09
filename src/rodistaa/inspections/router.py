"""HTTP for inspections. Franchise unit staff inspect the trucks of their unit (they find them
through the trucks API, which lists the trucks of the caller's unit); the district above the
unit, admins and the truck's operator read them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile, status

from rodistaa.core.actor import Actor
from rodistaa.core.errors import ValidationFailed
from rodistaa.core.roles import Role
from rodistaa.http.auth import require_role
from rodistaa.http.errors import ERROR_RESPONSES, documented_error
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services
from rodistaa.inspections.repo import Geo
from rodistaa.inspections.schemas import (
    GeoIn,
    InspectionCreate,
    InspectionOut,
    InspectionStatus,
    InspectionSubmit,
    SubmittedInspectionOut,
)
from rodistaa.inspections.service import InspectionService, Location

router = APIRouter(tags=["inspections"])

UnitStaffActor = Annotated[Actor, Depends(require_role(Role.FRANCHISE_UNIT))]
InspectionReader = Annotated[
    Actor,
    Depends(require_role(Role.FRANCHISE_UNIT, Role.FRANCHISE_DISTRICT, Role.ADMIN, Role.OPERATOR)),
]


async def get_inspection_service(services: Annotated[Services, Depends(get_services)]) -> InspectionService:
    return InspectionService(services)


ServiceDep = Annotated[InspectionService, Depends(get_inspection_service)]


def _geo(geo: GeoIn | None) -> Geo | None:
    return Geo(geo.lat, geo.lng, geo.accuracy) if geo else None


@router.post(
    "/inspections",
    status_code=status.HTTP_201_CREATED,
    response_model=InspectionOut,
    responses=ERROR_RESPONSES
    | documented_error(
        404, "NOT_FOUND: the truck is not in the caller's franchise unit (details name truckId)"
    ),
)
async def create_inspection(
    body: InspectionCreate, actor: UnitStaffActor, service: ServiceDep
) -> InspectionOut:
    """Opens a PENDING inspection of a truck in the caller's unit (another unit's truck: 404)."""
    inspection = await service.create(
        actor,
        truck_id=body.truckId,
        geo=_geo(body.geo),
        checklist=body.checklist.model_dump() if body.checklist else None,
        notes=body.notes or None,
    )
    return InspectionOut.of(inspection)


@router.post("/inspections/{inspectionId}/photos", response_model=InspectionOut, responses=ERROR_RESPONSES)
async def upload_photos(
    inspectionId: str,
    actor: UnitStaffActor,
    service: ServiceDep,
    files: Annotated[list[UploadFile] | None, File(description="JPEG or PNG, at most 10 MB each")] = None,
    file: Annotated[UploadFile | None, File(description="A single photo (same rules as files)")] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90, description="Where the photos were taken")] = None,
    lng: Annotated[float | None, Form(ge=-180, le=180)] = None,
) -> InspectionOut:
    """Adds photos (multipart `files`, as in the contract, or `file`) to a PENDING inspection;
    all are stored or none. The content type is decided by the bytes."""
    uploads = [("files", f) for f in files or []] + ([("file", file)] if file else [])
    if not uploads:
        raise ValidationFailed.for_field("files", "at least one photo is required")
    if (lat is None) != (lng is None):
        raise ValidationFailed.for_field("lng" if lng is None else "lat", "lat and lng go together")
    location = Location(lat, lng) if lat is not None and lng is not None else None
    return InspectionOut.of(await service.add_photos(actor, inspectionId, uploads, location))


@router.post(
    "/inspections/{inspectionId}/submit", response_model=SubmittedInspectionOut, responses=ERROR_RESPONSES
)
async def submit_inspection(
    inspectionId: str, body: InspectionSubmit, actor: UnitStaffActor, service: ServiceDep
) -> SubmittedInspectionOut:
    """Records PASSED or FAILED after ACS `inspection.uploaded` allows it (RF09 INVALID_GEO,
    RF10 INSPECTION_DUPLICATE_PHOTO, RF24 OUT_OF_ZONE_INSPECTION refuse it and mark the
    inspection REJECTED). Moves the truck: passed → ACTIVE (EXPIRED_DOCS with a missing or
    expired document); failed → out of work."""
    inspection, truck_status = await service.submit(
        actor,
        inspectionId,
        result=body.result.value,
        geo=_geo(body.geo),
        checklist=body.checklist.model_dump() if body.checklist else None,
    )
    return SubmittedInspectionOut(**InspectionOut.of(inspection).model_dump(), truckStatus=truck_status)


@router.get("/inspections/{inspectionId}", response_model=InspectionOut, responses=ERROR_RESPONSES)
async def get_inspection(inspectionId: str, actor: InspectionReader, service: ServiceDep) -> InspectionOut:
    return InspectionOut.of(await service.get(actor, inspectionId))


@router.get("/inspections", response_model=Page[InspectionOut], responses=ERROR_RESPONSES)
async def list_inspections(
    actor: InspectionReader,
    service: ServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    truck_id: Annotated[str | None, Query(alias="truckId", max_length=64)] = None,
    inspection_status: Annotated[InspectionStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    """Newest first; only the inspections the caller may see (unit, district, operator, admin)."""
    records, total = await service.list_visible(
        actor,
        truck_id=truck_id,
        status=inspection_status.value if inspection_status else None,
        page=page,
    )
    return build_page([InspectionOut.of(r) for r in records], total, page)
