"""API models of franchises: the HQ → DISTRICT → UNIT tree, unit zones, staff assignments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.franchises.repo import FranchiseRecord

FranchiseName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
EntityId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# A unit's zone is a town or a district's worth of road, never a whole state.
MAX_ZONE_RADIUS_M = 200_000


class FranchiseKind(StrEnum):
    HQ = "HQ"
    DISTRICT = "DISTRICT"
    UNIT = "UNIT"


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class Zone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    centre: Point
    radiusMeters: int = Field(ge=1, le=MAX_ZONE_RADIUS_M)


class FranchiseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: FranchiseName
    kind: FranchiseKind
    parentId: EntityId | None = Field(
        default=None, description="The HQ for a DISTRICT, a DISTRICT for a UNIT"
    )
    zone: Zone | None = Field(default=None, description="Required for a UNIT, refused otherwise")


class FranchiseOut(BaseModel):
    id: str
    name: str
    kind: FranchiseKind
    parentId: str | None
    zone: Zone | None
    createdAt: datetime

    @classmethod
    def of(cls, record: FranchiseRecord) -> FranchiseOut:
        zone = None
        if record.centre_lat is not None and record.centre_lng is not None and record.radius_m is not None:
            zone = Zone(
                centre=Point(lat=record.centre_lat, lng=record.centre_lng), radiusMeters=record.radius_m
            )
        return cls(
            id=record.id,
            name=record.name,
            kind=FranchiseKind(record.kind),
            parentId=record.parent_id,
            zone=zone,
            createdAt=record.created_at,
        )


class MyFranchiseOut(FranchiseOut):
    """The caller's franchise; for a district, the units it supervises."""

    units: list[FranchiseOut]


class StaffAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    userId: EntityId


class StaffAssignmentOut(BaseModel):
    userId: str
    role: str
    franchiseId: str
    previousFranchiseId: str | None
