"""ACS facts for `bid.create` and `bid.modify`, per the context contract (`acs.contract`):
money in integer paise, times in epoch ms.

`rate.limitExceeded(userId, action, limit)` (RF20) is answered by counting the user's
evaluated ACS events of that type in the minute before this one (`acs_events`, which ACS
writes for every evaluation, allowed or not). Why this counter rather than the in-process
`limits` limiter:

* it is shared by every instance without Redis, and exact across restarts;
* it follows the service clock (the event's time), so the window is the one the rule means
  and tests can move through it;
* it honours the rule's `limit` argument as given by the bundle, with no second copy of the
  limit in the settings;
* refused attempts count too: a client that keeps hammering stays throttled until it has been
  quiet for a minute, which is what a flood throttle is for.

Concurrent modifications by one user can each see the same count, so a burst may pass the
limit by the number of requests in flight; the throttle is against automated gaming, not a
money invariant, and every attempt is still recorded and counted by the next request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from rodistaa.acs.facts import Answerer
from rodistaa.acs.tables import acs_events
from rodistaa.bids.repo import BidRecord
from rodistaa.bookings.repo import BookingRecord
from rodistaa.bookings.service import booking_names
from rodistaa.db.engine import Database
from rodistaa.fleet.facts import epoch_ms, fleet_answerers

RATE_WINDOW = timedelta(minutes=1)


def booking_fact(booking: BookingRecord) -> dict[str, Any]:
    """`booking` for bid events: the bookings domain's names, with the id it now has (RF21's
    ticket refers to it). The expected price is included: ACS may see it, operators never."""
    return {**booking_names(booking), "id": booking.id}


def bid_fact(bid: BidRecord) -> dict[str, Any]:
    """`bid` as the contract names it, for every bid event (create, modify, evaluate,
    finalize). Before insertion the id is None (it is the service's to assign once ACS has
    allowed the bid).

    `notes` stays out although the contract names it: evaluated contexts are stored in
    `acs_events.context` for backtests, and a refused note (a phone number, RF16's case) must
    not be kept there a second time. RF16 reads the typed text from the event's payload
    (`event.payload.text`); no rule reads `bid.notes`."""
    return {
        "id": bid.id or None,
        "bookingId": bid.booking_id,
        "operatorId": bid.operator_id,
        "truckId": bid.truck_id,
        "amount": bid.amount_paise,
        "status": bid.status.value,
        "createdAt": epoch_ms(bid.created_at),
    }


async def count_recent_events(db: Database, user_id: str, event_type: str, *, at: datetime) -> int:
    """How many `event_type` events ACS evaluated for `user_id` in the minute before `at`."""
    query = (
        select(func.count())
        .select_from(acs_events)
        .where(
            acs_events.c.event_type == event_type,
            acs_events.c.actor_id == user_id,
            acs_events.c.at > at - RATE_WINDOW,
            acs_events.c.at <= at,
        )
    )
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


def bid_answerers(db: Database, *, at: datetime) -> Mapping[str, Answerer]:
    """The fleet's answerers (RF22's maintenance window) plus RF20's rate counter, whose
    window ends at the event's time `at`."""

    async def limit_exceeded(args: tuple[Any, ...]) -> bool | None:
        if len(args) != 3:
            return None
        user_id, action, limit = args
        if not isinstance(user_id, str) or not isinstance(action, str):
            return None
        if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0:
            return None
        # This event is not stored yet: `limit` earlier ones make this one the one too many.
        return await count_recent_events(db, user_id, action, at=at) >= limit

    return {**fleet_answerers(db), "rate.limitExceeded": limit_exceeded}
