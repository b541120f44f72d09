"""API models of trucks, truck documents and maintenance windows (contract field names:
`id, registrationNumber, operatorId, status, documents[{type, fileUrl, expiryDate}]`, plus extras).

The chassis number never leaves the service in clear: its owner sees the last four characters
(`chassisNumberMasked`), everyone else sees null."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.core.timestamps import ApiDatetime
from rodistaa.fleet.repo import DocumentRecord, TruckRecord
from rodistaa.fleet.status import DocumentType, TruckStatus
from rodistaa.franchises.schemas import EntityId, Point

REGISTRATION_RE = re.compile(r"[A-Z]{2}[0-9]{1,2}[A-Z]{1,3}[0-9]{4}")
CHASSIS_RE = re.compile(r"[A-Z0-9]{6,25}")
_SEPARATORS = re.compile(r"[\s-]+")


def normalise_registration(value: str) -> str:
    """`mh-12 ab 1234` → `MH12AB1234`; ValueError unless it matches PRODUCT §2's pattern."""
    normalised = _SEPARATORS.sub("", value).upper()
    if not REGISTRATION_RE.fullmatch(normalised):
        raise ValueError("must be an Indian registration number such as MH12AB1234")
    return normalised


def normalise_chassis(value: str) -> str:
    """Upper case without spaces or dashes; 6 to 25 letters and digits (VINs have 17)."""
    normalised = _SEPARATORS.sub("", value).upper()
    if not CHASSIS_RE.fullmatch(normalised):
        raise ValueError("must be 6 to 25 letters and digits")
    return normalised


Registration = Annotated[str, StringConstraints(max_length=32), AfterValidator(normalise_registration)]
ChassisNumber = Annotated[str, StringConstraints(max_length=40), AfterValidator(normalise_chassis)]


class VehicleType(StrEnum):
    """Goods vehicle classes of the Motor Vehicles Act; marketplace work needs an HGV."""

    LGV = "LGV"
    MGV = "MGV"
    HGV = "HGV"


class BodyType(StrEnum):
    OPEN = "OPEN"
    CONTAINER = "CONTAINER"
    FLATBED = "FLATBED"
    LOWBED = "LOWBED"
    TRAILER = "TRAILER"


class EmissionNorm(StrEnum):
    """Bharat Stage norms (India skipped BS5); marketplace work needs BS4 or BS6."""

    BS2 = "BS2"
    BS3 = "BS3"
    BS4 = "BS4"
    BS6 = "BS6"


class PermitType(StrEnum):
    """Goods-carriage permits; marketplace work needs a national permit."""

    NATIONAL = "NATIONAL"
    STATE = "STATE"
    TEMPORARY = "TEMPORARY"


Tyres = Literal[6, 10, 12, 14, 16, 18, 20, 22]


class TruckCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registrationNumber: Registration
    vehicleType: VehicleType
    bodyType: BodyType
    tyres: Tyres
    capacityTonnes: Decimal = Field(gt=0, le=100, decimal_places=2)
    modelYear: int = Field(ge=1950, le=2100)
    emission: EmissionNorm
    permitType: PermitType
    chassisNumber: ChassisNumber
    baseLocation: Point


class TruckDocumentOut(BaseModel):
    id: str
    type: DocumentType
    expiryDate: date
    fileUrl: str
    contentType: str
    sizeBytes: int
    fileSha256: str
    uploadedAt: datetime

    @classmethod
    def of(cls, doc: DocumentRecord) -> TruckDocumentOut:
        return cls(
            id=doc.id,
            type=DocumentType(doc.doc_type),
            expiryDate=doc.expiry_date,
            fileUrl=document_file_url(doc.truck_id, doc.id),
            contentType=doc.content_type,
            sizeBytes=doc.size_bytes,
            fileSha256=doc.file_sha256,
            uploadedAt=doc.created_at,
        )


class DocumentUploadOut(TruckDocumentOut):
    truckId: str
    truckStatus: TruckStatus


class TruckOut(BaseModel):
    id: str
    registrationNumber: str
    operatorId: str
    status: TruckStatus
    documents: list[TruckDocumentOut] = Field(description="The newest document of each type")
    vehicleType: str
    bodyType: str
    tyres: int
    capacityTonnes: float
    modelYear: int
    emission: str
    permitType: str
    chassisNumberMasked: str | None = Field(description="Last 4 characters, to the owner only")
    baseLocation: Point
    franchiseUnitId: str | None
    lastInspectedAt: datetime | None
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def of(cls, truck: TruckRecord, documents: list[DocumentRecord], chassis_masked: str | None) -> TruckOut:
        return cls(
            id=truck.id,
            registrationNumber=truck.registration_number,
            operatorId=truck.operator_id,
            status=truck.effective_status,
            documents=[TruckDocumentOut.of(d) for d in documents],
            vehicleType=truck.vehicle_type,
            bodyType=truck.body_type,
            tyres=truck.tyres,
            capacityTonnes=float(truck.capacity_tonnes),
            modelYear=truck.model_year,
            emission=truck.emission,
            permitType=truck.permit_type,
            chassisNumberMasked=chassis_masked,
            baseLocation=Point(lat=truck.base_lat, lng=truck.base_lng),
            franchiseUnitId=truck.franchise_unit_id,
            lastInspectedAt=truck.last_inspected_at,
            createdAt=truck.created_at,
            updatedAt=truck.updated_at,
        )


def document_file_url(truck_id: str, doc_id: str) -> str:
    return f"/v1/trucks/{truck_id}/documents/{doc_id}/file"


def mask_chassis(chassis: str) -> str:
    return "*" * max(len(chassis) - 4, 0) + chassis[-4:]


class MaintenanceWindowCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operatorId: EntityId | None = Field(default=None, description="Omit for a platform-wide window")
    startsAt: ApiDatetime
    endsAt: ApiDatetime
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class MaintenanceWindowOut(BaseModel):
    id: str
    operatorId: str | None
    startsAt: datetime
    endsAt: datetime
    reason: str
    createdBy: str
    createdAt: datetime
