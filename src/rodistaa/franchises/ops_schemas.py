"""API models of franchise operations: dashboard, targets and reports.

Contract fields (`FranchiseDashboard`, `FranchiseTarget`, `FranchiseReport`) come first in each
model, the extras after them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.dashboard.periods import PERIOD_PATTERN
from rodistaa.franchises.schemas import EntityId

Period = Annotated[str, StringConstraints(pattern=PERIOD_PATTERN), Field(examples=["2024-01"])]
# No unit inspects or onboards a million trucks a month: a larger number is a typing slip.
MAX_TARGET = 1_000_000


class TargetType(StrEnum):
    MONTHLY_INSPECTIONS = "monthly_inspections"
    MONTHLY_TRUCKS_ONBOARDED = "monthly_trucks_onboarded"


class FranchiseTargetOut(BaseModel):
    type: TargetType
    target: int
    current: int = Field(description="The actual so far in the period")
    period: str
    unitId: str
    unitName: str
    setBy: str
    updatedAt: datetime


class TargetSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unitId: EntityId
    period: Period = Field(description='Calendar month in India, "YYYY-MM"')
    type: TargetType
    target: int = Field(ge=0, le=MAX_TARGET)


class InspectionNumbers(BaseModel):
    open: int = Field(description="Inspections opened and not yet submitted")
    awaitingInspection: int = Field(description="Trucks in PENDING_INSPECTION or NEEDS_INSPECTION")
    doneThisMonth: int
    passedThisMonth: int
    failedThisMonth: int
    doneToday: int


class UnitNumbers(BaseModel):
    unitId: str
    unitName: str
    inspections: InspectionNumbers
    trucksByStatus: dict[str, int]
    trucksOnboardedThisMonth: int


class FranchiseDashboardOut(BaseModel):
    dailyActivity: int = Field(description="Inspections completed (PASSED or FAILED) today, IST")
    inspectionsQueue: int = Field(description="Trucks waiting for an inspection")
    targets: list[FranchiseTargetOut] = Field(description="This month's targets with actuals")
    franchiseId: str
    kind: str
    period: str
    asOf: datetime
    inspections: InspectionNumbers
    trucksByStatus: dict[str, int]
    trucksOnboardedThisMonth: int
    units: list[UnitNumbers]


class UnitReport(BaseModel):
    unitId: str
    unitName: str
    inspections: int
    inspectionsPassed: int
    inspectionsFailed: int
    passRate: float | None = Field(description="passed / done, 4 decimals; null when none done")
    trucksOnboarded: int
    bookings: int
    revenue: float


class FranchiseReportOut(BaseModel):
    period: str = Field(description='"startDate/endDate", both inclusive IST dates')
    bookings: int = Field(description="Bookings created in range whose pickup lies in the zones")
    revenue: float = Field(description="Bidding fees (rupees) of bids placed in range on such bookings")
    inspections: int = Field(description="Inspections completed (PASSED or FAILED) in range")
    startDate: str
    endDate: str
    franchiseId: str
    kind: str
    inspectionsPassed: int
    inspectionsFailed: int
    passRate: float | None
    trucksOnboarded: int
    units: list[UnitReport]
