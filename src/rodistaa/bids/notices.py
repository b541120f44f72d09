"""The "your bid was rejected" notification, one wording for every path that rejects bids in
bulk: a booking's cancellation (`bookings.service`), a finalization's losing bids and a
cancellation for lack of valid bids (`finalization.service`).

A module of its own, not `bids.service`: the bookings service imports it, and `bids.service`
imports the bookings service (through `bids.facts`), which would make an import cycle."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.bids.repo import BidRecord
from rodistaa.core.roles import Role
from rodistaa.notifications.repo import notify

NOT_SELECTED = "not selected"
BOOKING_CANCELLED = "rejected: the booking was cancelled (fee not refunded)"


async def notify_rejected(
    conn: AsyncConnection, rejected: Iterable[BidRecord], reason: str, *, now: datetime
) -> None:
    """Tell each operator of a just-REJECTED bid, inside the rejecting transaction. `reason`
    ends the sentence "Your bid <id> on booking <id> was ...": ids and a fixed phrase only."""
    for bid in rejected:
        await notify(
            conn,
            user_id=bid.operator_id,
            role=Role.OPERATOR,
            message=f"Your bid {bid.id} on booking {bid.booking_id} was {reason}.",
            now=now,
        )
