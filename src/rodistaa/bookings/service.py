"""Booking use cases (PRODUCT §6 "Booking" and "Cancellation"): create, list, read, cancel
(which rejects the booking's ACTIVE bids in the same transaction, without refunding fees).

Creation prices the route (`bookings.pricing`), runs ACS `booking.create` first (RF01 refuses a
shipper whose KYC is not VERIFIED; ACS persists its own side effects in its own transaction),
then, in one transaction: claims the day's next booking number, inserts the booking, writes
the `booking.created` outbox event and appends the audit entry last.

Pickup dates are calendar dates in India: "not in the past" and "at most 365 days ahead" are
judged against today's date in IST (UTC+5:30, no daylight saving), the day the shipper is
living in. Judged in UTC, a shipper booking for today between 00:00 and 05:30 IST would be
told the date is in the future of "today" and one booking yesterday's date would pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.bids import repo as bids_repo
from rodistaa.bids.notices import BOOKING_CANCELLED, notify_rejected
from rodistaa.bookings import repo
from rodistaa.bookings.errors import BookingNotCancellable, CancelNotAllowed
from rodistaa.bookings.ids import booking_day, format_booking_id
from rodistaa.bookings.pricing import GeoPoint, quote
from rodistaa.bookings.repo import BookingRecord, BookingStatus, Place, readable
from rodistaa.bookings.schemas import BookingCreate
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound, ValidationFailed
from rodistaa.core.money import paise_to_rupees_number, rupees_to_paise
from rodistaa.core.roles import Role
from rodistaa.db.outbox import insert_outbox_event
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.kyc.status import kyc_status
from rodistaa.ops.metrics import BOOKINGS_CREATED

IST = timezone(timedelta(hours=5, minutes=30), "IST")
MAX_PICKUP_DAYS_AHEAD = 365
# A pickup and drop closer than this by road are one place (usually a client bug), not a haul.
MIN_DISTANCE_KM = Decimal(1)


@dataclass(frozen=True)
class BookingView:
    booking: BookingRecord
    with_expected_price: bool
    for_admin: bool = False  # admins also see why a booking was finalized by hand


def expected_price_visible(actor: Actor, booking: BookingRecord) -> bool:
    """PRODUCT §1: an operator never sees the expected price; its shipper and admins do."""
    return actor.role is Role.ADMIN or booking.shipper_id == actor.user_id


def india_today(now: datetime) -> date:
    return now.astimezone(IST).date()


def check_pickup_date(pickup_date: date | None, now: datetime) -> None:
    if pickup_date is None:
        return
    today = india_today(now)
    if pickup_date < today:
        raise ValidationFailed.for_field("pickupDate", "must not be in the past (dates are in IST)")
    if pickup_date > today + timedelta(days=MAX_PICKUP_DAYS_AHEAD):
        raise ValidationFailed.for_field(
            "pickupDate", f"must be at most {MAX_PICKUP_DAYS_AHEAD} days ahead (dates are in IST)"
        )


def _epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _acs_place(place: Place) -> dict[str, Any]:
    # The street address stays out: no rule reads it, and evaluated contexts are kept for
    # backtests, where a second copy of where people live does not belong.
    return {
        "city": place.city,
        "state": place.state,
        "pincode": place.pincode,
        "lat": place.lat,
        "lng": place.lng,
    }


def booking_names(draft: BookingRecord) -> dict[str, Any]:
    """`booking` as the context contract names it; money in paise, times in epoch ms. The id
    does not exist yet: it is claimed from the day's counter only once ACS has allowed it."""
    return {
        "id": None,
        "shipperId": draft.shipper_id,
        "status": draft.status.value,
        "tonnage": float(draft.tonnage),
        "distanceKm": float(draft.distance_km),
        "expectedPrice": draft.expected_price_paise,
        "priceRange": {"min": draft.price_min_paise, "max": draft.price_max_paise},
        "pickupDate": draft.pickup_date.isoformat() if draft.pickup_date else None,
        "autoFinalizeAt": _epoch_ms(draft.auto_finalize_at),
        "goods": {
            "type": draft.goods_type,
            "weight": float(draft.goods_weight) if draft.goods_weight is not None else None,
            "packaging": draft.goods_packaging,
        },
        "pickup": _acs_place(draft.pickup),
        "drop": _acs_place(draft.drop),
        "createdAt": _epoch_ms(draft.created_at),
    }


def created_event_payload(booking: BookingRecord) -> dict[str, Any]:
    """The `booking.created` webhook payload: ids and numbers only (rupees, like the API). No
    expected price: partners may be operators' systems, and operators never see it."""
    return {
        "bookingId": booking.id,
        "shipperId": booking.shipper_id,
        "status": booking.status.value,
        "tonnage": float(booking.tonnage),
        "distanceKm": float(booking.distance_km),
        "priceRange": {
            "min": paise_to_rupees_number(booking.price_min_paise),
            "max": paise_to_rupees_number(booking.price_max_paise),
        },
    }


def created_audit_data(booking: BookingRecord, acs_event_id: str) -> dict[str, Any]:
    """Ids and numbers. Amounts are rupee numbers as in the API: an amount of paise with ten
    digits starting 6-9 has a phone number's shape and the audit log would refuse it."""
    return {
        "shipperId": booking.shipper_id,
        "tonnage": float(booking.tonnage),
        "distanceKm": float(booking.distance_km),
        "expectedPrice": paise_to_rupees_number(booking.expected_price_paise),
        "priceRange": {
            "min": paise_to_rupees_number(booking.price_min_paise),
            "max": paise_to_rupees_number(booking.price_max_paise),
        },
        "acsEventId": acs_event_id,
    }


async def reject_bids(conn: AsyncConnection, booking_id: str, *, now: datetime) -> int:
    """Reject the cancelled booking's ACTIVE bids and notify each bidding operator; returns how
    many were rejected."""
    rejected = await bids_repo.reject_active_for_booking(conn, booking_id, now=now)
    await notify_rejected(conn, rejected, BOOKING_CANCELLED, now=now)
    return len(rejected)


class BookingService:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.db
        self._clock = services.clock

    async def create_booking(
        self, actor: Actor, body: BookingCreate, *, ip: str | None = None
    ) -> BookingView:
        """Raises ValidationFailed (pickup date, a route under 1 km) and PolicyRejected (ACS:
        KYC_REQUIRED from RF01, or whatever else the active bundle rejects)."""
        now = self._clock.now()
        check_pickup_date(body.pickupDate, now)
        draft = self._draft(actor, body, now)
        async with self._db.read() as conn:
            kyc = await kyc_status(conn, actor.user_id, actor.role)
        event = new_event("booking.create", actor_ctx(actor, kyc_status=kyc, ip=ip), at=now)
        await self._services.acs.enforce(event, ProvidedFacts(names={"booking": booking_names(draft)}))
        booking = await self._insert(actor, draft, acs_event_id=event.id, now=now)
        BOOKINGS_CREATED.inc()  # committed: a rolled-back booking is never counted
        return BookingView(booking, with_expected_price=True)

    def _draft(self, actor: Actor, body: BookingCreate, now: datetime) -> BookingRecord:
        """The booking as it will be stored, except its id (claimed in the transaction)."""
        pickup, drop = body.pickup.to_place(), body.drop.to_place()
        priced = quote(
            GeoPoint(pickup.lat, pickup.lng),
            GeoPoint(drop.lat, drop.lng),
            tonnage=body.tonnage,
            rate_per_tonne_km=self._services.settings.freight_rate_per_tonne_km,
        )
        if priced.distance_km < MIN_DISTANCE_KM:
            raise ValidationFailed.for_field(
                "drop.coordinates", f"must be at least {MIN_DISTANCE_KM} km by road from the pickup"
            )
        if body.priceRange is None:
            price_min, price_max = priced.proposed_min_paise, priced.proposed_max_paise
        else:
            price_min, price_max = rupees_to_paise(body.priceRange.min), rupees_to_paise(body.priceRange.max)
        return BookingRecord(
            id="",
            shipper_id=actor.user_id,
            pickup=pickup,
            drop=drop,
            goods_type=body.goods.type,
            goods_weight=body.goods.weight,
            goods_packaging=body.goods.packaging,
            tonnage=body.tonnage,
            distance_km=priced.distance_km,
            expected_price_paise=priced.expected_price_paise,
            price_min_paise=price_min,
            price_max_paise=price_max,
            pickup_date=body.pickupDate,
            status=BookingStatus.OPEN,
            auto_finalize_at=now + timedelta(seconds=self._services.settings.bid_window_s),
            cancel_reason=None,
            cancelled_by=None,
            finalized_at=None,
            created_at=now,
            updated_at=now,
        )

    async def _insert(
        self, actor: Actor, draft: BookingRecord, *, acs_event_id: str, now: datetime
    ) -> BookingRecord:
        # The number is claimed in a transaction of its own: the day's counter row is locked for
        # that one upsert, not for the booking's whole transaction, which serialised every
        # booking of the day (docs/performance.md). A booking that then fails leaves a gap.
        async with self._db.transaction() as conn:
            number = await repo.next_day_number(conn, booking_day(now))
        async with self._db.transaction() as conn:
            booking = replace(draft, id=format_booking_id(booking_day(now), number))
            await repo.insert_booking(conn, booking)
            await insert_outbox_event(
                conn, name="booking.created", payload=created_event_payload(booking), now=now
            )
            data = created_audit_data(booking, acs_event_id)
            await append(
                conn, AuditEntryDraft(actor.user_id, "booking.created", "booking", booking.id, data), now=now
            )
        return booking

    async def list_bookings(
        self, actor: Actor, *, status: BookingStatus | None, page: PageRequest
    ) -> tuple[list[BookingView], int]:
        """Newest first, through `readable(actor)`: a status filter narrows what the caller may
        see, it never widens it (an operator asking for CANCELLED gets nothing)."""
        async with self._db.read() as conn:
            records, total = await repo.list_bookings(
                conn, visible=readable(actor), status=status, offset=page.offset, limit=page.limit
            )
        admin = actor.role is Role.ADMIN
        return [BookingView(b, expected_price_visible(actor, b), admin) for b in records], total

    async def get_booking(self, actor: Actor, booking_id: str) -> BookingView:
        """404 unless the caller may see the booking (see `repo.readable`)."""
        async with self._db.read() as conn:
            booking = await repo.get_booking(conn, booking_id, visible=readable(actor))
        if booking is None:
            raise NotFound()
        return BookingView(booking, expected_price_visible(actor, booking), actor.role is Role.ADMIN)

    async def cancel_booking(self, actor: Actor, booking_id: str, *, reason: str | None) -> BookingView:
        """The owning shipper (reason optional) or an admin (reason required) cancels a booking
        that is still OPEN or in NEGOTIATION. 404 if not visible, 403 for anyone else who can see
        it (operators), 400 for an admin without a reason, 409 INVALID_STATE otherwise.

        In the same transaction every ACTIVE bid becomes REJECTED (no fee is refunded) and its
        operator is told. The booking row is locked first, as placing a bid does, so a bid
        racing the cancellation either commits before it (and is rejected here) or finds the
        booking cancelled (and is refused)."""
        now = self._clock.now()
        reason = reason or None  # an empty or blank reason (stripped by the schema) is none
        async with self._db.transaction() as conn:
            # The row lock makes the status recorded in the audit entry the one cancelled.
            booking = await repo.get_booking(conn, booking_id, visible=readable(actor), for_update=True)
            if booking is None:
                raise NotFound()
            if not (actor.role is Role.ADMIN or booking.shipper_id == actor.user_id):
                raise CancelNotAllowed()
            if actor.role is Role.ADMIN and reason is None:
                raise ValidationFailed.for_field("reason", "an admin must give a reason to cancel a booking")
            cancelled = await repo.claim_cancellation(
                conn, booking.id, reason=reason, cancelled_by=actor.user_id, now=now
            )
            if cancelled is None:
                raise BookingNotCancellable()
            rejected = await reject_bids(conn, booking.id, now=now)
            data: dict[str, Any] = {
                "from": booking.status.value,
                "to": cancelled.status.value,
                "shipperId": booking.shipper_id,
                "cancelledByRole": actor.role.value,
                "reasonGiven": reason is not None,
            }
            if rejected:
                # Present only when bids were rejected: a booking cancelled before any bid keeps
                # the entry it always had.
                data["rejectedBids"] = rejected
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "booking.cancelled", "booking", booking.id, data),
                now=now,
            )
        return BookingView(cancelled, with_expected_price=True, for_admin=actor.role is Role.ADMIN)
