"""The admin dashboard (PRODUCT §8): platform-wide numbers read from live data in one snapshot.

Definitions (PRODUCT and the contract give only the names):

* "Today" and "this month" are the IST calendar day and month (`dashboard.periods`).
* `dau`: distinct users issued a refresh token today, i.e. who logged in (a login starts a
  session with a refresh token) or refreshed a session; an access token used without refreshing
  leaves no trace, so a user active only on a token from yesterday is not counted.
* `bookings` / `bids`: created today. `bookingsByStatus`: every booking by current status.
* `flaggedIncidents`: ACS-evaluated events today whose decision matched at least one rule
  (shadow matches are not incidents). Extras: rejections among them, tickets not yet RESOLVED,
  active blocks (not lifted, not expired) on any entity.
* Revenue is the bidding fees charged (ledger BIDDING_FEE entries; fees are never refunded):
  `totalRevenue` is this month's, `revenue.today`, `revenue.thisMonth` and `revenue.total`
  (since launch) the breakdown, all in rupees. Deposits are operators' money, not revenue;
  admin adjustments are corrections of balances, not fee reversals, and are not netted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rodistaa.bookings.tables import BOOKING_STATUSES
from rodistaa.dashboard import repo
from rodistaa.dashboard.periods import day_window, india_date, month_window, period_of
from rodistaa.http.services import Services


@dataclass(frozen=True)
class AdminDashboard:
    day: str
    period: str
    as_of: datetime
    daily_active_users: int
    bookings_today: int
    bids_today: int
    bookings_by_status: dict[str, int]
    acs_matches_today: int
    acs_rejections_today: int
    open_tickets: int
    active_blocks: int
    fees_today_paise: int
    fees_this_month_paise: int
    fees_total_paise: int


class AdminDashboardService:
    def __init__(self, services: Services) -> None:
        self._db = services.db
        self._clock = services.clock

    async def snapshot(self) -> AdminDashboard:
        now = self._clock.now()
        today = india_date(now)
        period = period_of(now)
        day, month = day_window(today), month_window(period)
        async with self._db.read() as conn:
            by_status = await repo.bookings_by_status(conn)
            matches, rejections = await repo.acs_matches(conn, day)
            return AdminDashboard(
                day=today.isoformat(),
                period=period,
                as_of=now,
                daily_active_users=await repo.active_users(conn, day),
                bookings_today=await repo.bookings_created(conn, day),
                bids_today=await repo.bids_placed(conn, day),
                bookings_by_status={s: by_status.get(s, 0) for s in BOOKING_STATUSES},
                acs_matches_today=matches,
                acs_rejections_today=rejections,
                open_tickets=await repo.unresolved_tickets(conn),
                active_blocks=await repo.active_blocks(conn, now),
                fees_today_paise=await repo.bidding_fees_paise(conn, day),
                fees_this_month_paise=await repo.bidding_fees_paise(conn, month),
                fees_total_paise=await repo.bidding_fees_paise(conn, None),
            )
