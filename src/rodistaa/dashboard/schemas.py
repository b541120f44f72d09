"""API model of the admin dashboard: the contract's `AdminDashboard` fields first, extras after."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class FlaggedNumbers(BaseModel):
    acsMatchesToday: int = Field(description="ACS-evaluated events today that matched at least one rule")
    acsRejectionsToday: int = Field(description="Of those, the ones ACS rejected")
    openTickets: int = Field(description="Tickets OPEN or IN_PROGRESS")
    activeBlocks: int = Field(description="Blocks neither lifted nor expired, on any entity")


class RevenueNumbers(BaseModel):
    """Bidding fees charged, in rupees."""

    today: float
    thisMonth: float
    total: float


class AdminDashboardOut(BaseModel):
    dau: int = Field(description="Distinct users who logged in or refreshed a session today (IST)")
    bookings: int = Field(description="Bookings created today (IST)")
    bids: int = Field(description="Bids placed today (IST)")
    flaggedIncidents: int = Field(description="ACS rule matches today (IST)")
    totalRevenue: float = Field(description="Bidding fees charged this month (IST), rupees")
    day: str = Field(description='The IST calendar day "today" means, "YYYY-MM-DD"')
    period: str = Field(description='The IST calendar month "this month" means, "YYYY-MM"')
    asOf: datetime
    bookingsByStatus: dict[str, int] = Field(description="Every booking by its current status")
    flagged: FlaggedNumbers
    revenue: RevenueNumbers
