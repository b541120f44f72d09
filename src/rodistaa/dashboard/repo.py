"""All SQL of the admin dashboard: platform-wide counts over half-open time windows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.tables import acs_blocks, acs_events, tickets
from rodistaa.bids.tables import bids
from rodistaa.bookings.tables import bookings
from rodistaa.dashboard.periods import Window
from rodistaa.db.tables import refresh_token_families, refresh_tokens
from rodistaa.ledger.tables import ledger_entries

# `acs_events.matched` is the JSON list of matched rule ids, written compactly: "[]" is none.
NO_MATCH = "[]"
UNRESOLVED_TICKET_STATUSES = ("OPEN", "IN_PROGRESS")
BIDDING_FEE = "BIDDING_FEE"


async def active_users(conn: AsyncConnection, window: Window) -> int:
    """Distinct users issued a refresh token inside the window: every login starts a session
    with one, and every refresh rotates to a new one."""
    query = (
        select(func.count(func.distinct(refresh_token_families.c.user_id)))
        .select_from(refresh_tokens.join(refresh_token_families))
        .where(refresh_tokens.c.created_at >= window.start, refresh_tokens.c.created_at < window.end)
    )
    return int((await conn.execute(query)).scalar_one())


async def bookings_by_status(conn: AsyncConnection) -> dict[str, int]:
    query = select(bookings.c.status, func.count()).group_by(bookings.c.status)
    return {status: int(n) for status, n in (await conn.execute(query)).all()}


async def bookings_created(conn: AsyncConnection, window: Window) -> int:
    query = (
        select(func.count())
        .select_from(bookings)
        .where(bookings.c.created_at >= window.start, bookings.c.created_at < window.end)
    )
    return int((await conn.execute(query)).scalar_one())


async def bids_placed(conn: AsyncConnection, window: Window) -> int:
    query = (
        select(func.count())
        .select_from(bids)
        .where(bids.c.created_at >= window.start, bids.c.created_at < window.end)
    )
    return int((await conn.execute(query)).scalar_one())


async def acs_matches(conn: AsyncConnection, window: Window) -> tuple[int, int]:
    """(events that matched at least one rule, of which rejected) evaluated inside the window."""
    matched = acs_events.c.matched != NO_MATCH
    query = select(
        func.count(),
        func.coalesce(func.sum(case((acs_events.c.outcome == "REJECT", 1), else_=0)), 0),
    ).where(matched, acs_events.c.at >= window.start, acs_events.c.at < window.end)
    total, rejected = (await conn.execute(query)).one()
    return int(total), int(rejected)


async def unresolved_tickets(conn: AsyncConnection) -> int:
    query = select(func.count()).select_from(tickets).where(tickets.c.status.in_(UNRESOLVED_TICKET_STATUSES))
    return int((await conn.execute(query)).scalar_one())


async def active_blocks(conn: AsyncConnection, now: datetime) -> int:
    """Blocks not lifted and not expired at `now` (the clause enforcement uses, on any entity)."""
    query = (
        select(func.count())
        .select_from(acs_blocks)
        .where(
            acs_blocks.c.lifted_at.is_(None),
            or_(acs_blocks.c.expires_at.is_(None), acs_blocks.c.expires_at > now),
        )
    )
    return int((await conn.execute(query)).scalar_one())


async def bidding_fees_paise(conn: AsyncConnection, window: Window | None) -> int:
    """Bidding fees charged (ledger BIDDING_FEE debits, stored negative) inside the window, or
    ever when `window` is None, as a positive number of paise."""
    query = select(func.coalesce(func.sum(ledger_entries.c.amount_paise), 0)).where(
        ledger_entries.c.type == BIDDING_FEE
    )
    if window is not None:
        query = query.where(
            ledger_entries.c.created_at >= window.start, ledger_entries.c.created_at < window.end
        )
    return -int((await conn.execute(query)).scalar_one())
