"""HTTP for the admin dashboard: `GET /v1/admin/dashboard` (ADMIN only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from rodistaa.core.money import paise_to_rupees_number
from rodistaa.dashboard.schemas import AdminDashboardOut, FlaggedNumbers, RevenueNumbers
from rodistaa.dashboard.service import AdminDashboardService
from rodistaa.http.auth import AdminActor
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.services import Services, get_services

router = APIRouter(tags=["admin"])


async def get_dashboard_service(
    services: Annotated[Services, Depends(get_services)],
) -> AdminDashboardService:
    return AdminDashboardService(services)


@router.get("/admin/dashboard", response_model=AdminDashboardOut, responses=ERROR_RESPONSES)
async def admin_dashboard(
    _actor: AdminActor, service: Annotated[AdminDashboardService, Depends(get_dashboard_service)]
) -> AdminDashboardOut:
    d = await service.snapshot()
    return AdminDashboardOut(
        dau=d.daily_active_users,
        bookings=d.bookings_today,
        bids=d.bids_today,
        flaggedIncidents=d.acs_matches_today,
        totalRevenue=paise_to_rupees_number(d.fees_this_month_paise),
        day=d.day,
        period=d.period,
        asOf=d.as_of,
        bookingsByStatus=d.bookings_by_status,
        flagged=FlaggedNumbers(
            acsMatchesToday=d.acs_matches_today,
            acsRejectionsToday=d.acs_rejections_today,
            openTickets=d.open_tickets,
            activeBlocks=d.active_blocks,
        ),
        revenue=RevenueNumbers(
            today=paise_to_rupees_number(d.fees_today_paise),
            thisMonth=paise_to_rupees_number(d.fees_this_month_paise),
            total=paise_to_rupees_number(d.fees_total_paise),
        ),
    )
