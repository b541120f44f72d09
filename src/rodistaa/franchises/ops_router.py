"""HTTP for franchise operations: the staff dashboard, targets and reports (PRODUCT §9).

Mounted under `/v1`. Unit and district staff read their own scope; only district staff set
targets. Everyone else gets 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.core.timestamps import ApiDate
from rodistaa.franchises.ops_schemas import (
    FranchiseDashboardOut,
    FranchiseReportOut,
    FranchiseTargetOut,
    InspectionNumbers,
    Period,
    TargetSet,
    TargetType,
    UnitNumbers,
    UnitReport,
)
from rodistaa.franchises.ops_service import (
    Dashboard,
    FranchiseOpsService,
    Report,
    TargetView,
    UnitDashboard,
    pass_rate,
    report_period,
    rupees,
)
from rodistaa.http.auth import require_role
from rodistaa.http.errors import ERROR_RESPONSES, documented_error
from rodistaa.http.services import Services, get_services

router = APIRouter(tags=["franchise"])
StaffActor = Annotated[Actor, Depends(require_role(Role.FRANCHISE_UNIT, Role.FRANCHISE_DISTRICT))]
DistrictActor = Annotated[Actor, Depends(require_role(Role.FRANCHISE_DISTRICT))]


async def get_ops_service(services: Annotated[Services, Depends(get_services)]) -> FranchiseOpsService:
    return FranchiseOpsService(services)


OpsServiceDep = Annotated[FranchiseOpsService, Depends(get_ops_service)]


@router.get("/franchise/dashboard", response_model=FranchiseDashboardOut, responses=ERROR_RESPONSES)
async def franchise_dashboard(actor: StaffActor, service: OpsServiceDep) -> FranchiseDashboardOut:
    return _dashboard_out(await service.dashboard(actor))


@router.get("/franchise/targets", response_model=list[FranchiseTargetOut], responses=ERROR_RESPONSES)
async def list_targets(
    actor: StaffActor,
    service: OpsServiceDep,
    period: Annotated[Period | None, Query(description='"YYYY-MM"; the current IST month by default')] = None,
) -> list[FranchiseTargetOut]:
    _period, views = await service.list_targets(actor, period)
    return [_target_out(v) for v in views]


@router.put(
    "/franchise/targets",
    response_model=FranchiseTargetOut,
    responses=ERROR_RESPONSES
    | documented_error(404, "NOT_FOUND: no franchise unit of the caller's with this unitId"),
)
async def set_target(body: TargetSet, actor: DistrictActor, service: OpsServiceDep) -> FranchiseTargetOut:
    """Create or replace the target of (unitId, period, type) for one of the caller's units."""
    return _target_out(await service.set_target(actor, body))


@router.get("/franchise/reports", response_model=FranchiseReportOut, responses=ERROR_RESPONSES)
async def franchise_report(
    actor: StaffActor,
    service: OpsServiceDep,
    start_date: Annotated[ApiDate, Query(alias="startDate", description="First IST day, inclusive")],
    end_date: Annotated[ApiDate, Query(alias="endDate", description="Last IST day, inclusive")],
) -> FranchiseReportOut:
    return _report_out(await service.report(actor, start_date, end_date))


# --- mapping -----------------------------------------------------------------------------------


def _target_out(view: TargetView) -> FranchiseTargetOut:
    record = view.record
    return FranchiseTargetOut(
        type=TargetType(record.target_type),
        target=record.target,
        current=view.current,
        period=record.period,
        unitId=record.unit_id,
        unitName=view.unit_name,
        setBy=record.set_by,
        updatedAt=record.updated_at,
    )


def _inspections(units: list[UnitDashboard]) -> InspectionNumbers:
    return InspectionNumbers(
        open=sum(u.open_inspections for u in units),
        awaitingInspection=sum(u.awaiting_inspection for u in units),
        doneThisMonth=sum(u.done_this_month.done for u in units),
        passedThisMonth=sum(u.done_this_month.passed for u in units),
        failedThisMonth=sum(u.done_this_month.failed for u in units),
        doneToday=sum(u.done_today for u in units),
    )


def _dashboard_out(dashboard: Dashboard) -> FranchiseDashboardOut:
    totals = _inspections(dashboard.units)
    return FranchiseDashboardOut(
        dailyActivity=totals.doneToday,
        inspectionsQueue=totals.awaitingInspection,
        targets=[_target_out(v) for v in dashboard.targets],
        franchiseId=dashboard.scope.franchise.id,
        kind=dashboard.scope.franchise.kind,
        period=dashboard.period,
        asOf=dashboard.as_of,
        inspections=totals,
        trucksByStatus=dashboard.trucks_by_status,
        trucksOnboardedThisMonth=dashboard.total("onboarded_this_month"),
        units=[
            UnitNumbers(
                unitId=u.unit.id,
                unitName=u.unit.name,
                inspections=_inspections([u]),
                trucksByStatus=u.trucks_by_status,
                trucksOnboardedThisMonth=u.onboarded_this_month,
            )
            for u in dashboard.units
        ],
    )


def _report_out(report: Report) -> FranchiseReportOut:
    completed = report.completed
    units = [
        UnitReport(
            unitId=u.unit.id,
            unitName=u.unit.name,
            inspections=u.completed.done,
            inspectionsPassed=u.completed.passed,
            inspectionsFailed=u.completed.failed,
            passRate=pass_rate(u.completed),
            trucksOnboarded=u.onboarded,
            bookings=u.bookings,
            revenue=rupees(u.fees_paise),
        )
        for u in report.units
    ]
    return FranchiseReportOut(
        period=report_period(report.first, report.last),
        bookings=report.total("bookings"),
        revenue=rupees(report.total("fees_paise")),
        inspections=completed.done,
        startDate=report.first.isoformat(),
        endDate=report.last.isoformat(),
        franchiseId=report.scope.franchise.id,
        kind=report.scope.franchise.kind,
        inspectionsPassed=completed.passed,
        inspectionsFailed=completed.failed,
        passRate=pass_rate(completed),
        trucksOnboarded=report.total("onboarded"),
        units=units,
    )
