"""API models of inspections: the contract's `Inspection {id, truckId, status, photos,
createdAt}` first, then what the franchise portal needs to review one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from rodistaa.inspections.repo import InspectionRecord, PhotoRecord


class InspectionStatus(StrEnum):
    PENDING = "PENDING"
    PASSED = "PASSED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"  # refused by ACS; kept as evidence, a new inspection is needed


class InspectionResult(StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"


class GeoIn(BaseModel):
    """Where the inspection took place. Only the coordinate ranges are checked here: whether
    the accuracy is good enough, or the point inside the unit's zone, is ACS policy (RF09,
    RF24), so such a geotag is accepted here and refused there with the rule's code."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    accuracy: float | None = Field(default=None, ge=0, le=1_000_000, description="metres")


class Checklist(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tyres: StrictBool
    lights: StrictBool
    brakes: StrictBool
    mirrors: StrictBool
    body: StrictBool
    numberPlate: StrictBool

    def all_passed(self) -> bool:
        return all(self.model_dump().values())


Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
EntityId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class InspectionCreate(BaseModel):
    """The contract requires only `truckId`; the geotag and checklist may also be given when
    the result is submitted (where both are required)."""

    model_config = ConfigDict(extra="forbid")

    truckId: EntityId
    geo: GeoIn | None = None
    checklist: Checklist | None = None
    notes: Notes | None = None


class InspectionSubmit(BaseModel):
    """`geo` and `checklist` given here replace those given at creation."""

    model_config = ConfigDict(extra="forbid")

    result: InspectionResult
    geo: GeoIn | None = None
    checklist: Checklist | None = None


class GeoOut(BaseModel):
    lat: float
    lng: float
    accuracy: float | None


class LocationOut(BaseModel):
    lat: float
    lng: float


class PhotoOut(BaseModel):
    id: str
    contentType: str
    sizeBytes: int
    sha256: str
    location: LocationOut | None = Field(description="Where the photo was taken, when the app sent it")
    createdAt: datetime

    @classmethod
    def of(cls, photo: PhotoRecord) -> PhotoOut:
        location = None
        if photo.taken_lat is not None and photo.taken_lng is not None:
            location = LocationOut(lat=photo.taken_lat, lng=photo.taken_lng)
        return cls(
            id=photo.id,
            contentType=photo.content_type,
            sizeBytes=photo.size_bytes,
            sha256=photo.sha256,
            location=location,
            createdAt=photo.created_at,
        )


class InspectionOut(BaseModel):
    id: str
    truckId: str
    status: InspectionStatus
    photos: list[str] = Field(description="Photo ids in upload order (details in photoDetails)")
    createdAt: datetime
    unitFranchiseId: str
    inspectorId: str
    geo: GeoOut | None
    checklist: Checklist | None
    notes: str | None
    rejectionCode: str | None = Field(description="The ACS code that refused the submission")
    submittedAt: datetime | None
    photoDetails: list[PhotoOut]

    @classmethod
    def of(cls, record: InspectionRecord) -> InspectionOut:
        geo = None
        if record.geo_lat is not None and record.geo_lng is not None:
            geo = GeoOut(lat=record.geo_lat, lng=record.geo_lng, accuracy=record.geo_accuracy_m)
        return cls(
            id=record.id,
            truckId=record.truck_id,
            status=InspectionStatus(record.status),
            photos=[p.id for p in record.photos],
            createdAt=record.created_at,
            unitFranchiseId=record.unit_franchise_id,
            inspectorId=record.inspector_id,
            geo=geo,
            checklist=Checklist(**record.checklist) if record.checklist else None,
            notes=record.notes,
            rejectionCode=record.rejection_code,
            submittedAt=record.submitted_at,
            photoDetails=[PhotoOut.of(p) for p in record.photos],
        )


class SubmittedInspectionOut(InspectionOut):
    truckStatus: str = Field(description="The truck's status once the result was applied")
