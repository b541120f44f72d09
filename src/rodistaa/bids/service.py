"""Bid use cases (PRODUCT §6 "Bidding"): place, modify, withdraw, read.

Placing a bid first validates what needs no rule (the bidding deadline, the amount against the
booking's range), then runs ACS `bid.create` (RF01 KYC, RF02 expired truck documents, RF13 fee
not covered, RF16 contact details in the notes, RF21 predatory amount, RF22 maintenance window;
ACS persists its own effects in its own transaction): a request that validation refuses anyway
never sets off a rule's side effects (an RF21 ticket, an RF13 announcement). Then in ONE
transaction:
locks the booking (still taking bids?), moves it OPEN → NEGOTIATION on the first bid, inserts the
bid (the unique partial index refuses a second ACTIVE bid of the operator: 409 DUPLICATE_BID;
the truck is checked against the operator's ACTIVE trucks there, so a late block counts),
debits the bidding fee, writes the `bid.created` outbox event and the shipper's notification,
and appends the audit entry last. A refusal anywhere rolls everything back: no fee is taken for
a bid that does not exist.

Decisions where the product is silent:

* Sealed bidding: an operator sees only its own bids; the booking's shipper and admins see all
  of them (`repo.readable`). The fee is shown to the bidding operator and admins only.
* The operator's identity is masked for the shipper (PRODUCT §1): a shipper's view of a bid has
  no `operatorId` and no `truckId` (truck ids embed the registration) but an `operatorAlias`,
  "Bidder " + 8 hex digits of HMAC-SHA256(hmac_key, "bid-alias|<booking>|<operator>"): stable
  for one operator on one booking, unlinkable across bookings and not reversible without the
  key. Operators (their own bids) and admins see the operator id.
* Bidding closes at `autoFinalizeAt`, even while the finalizer has not yet run and the booking
  still shows OPEN or NEGOTIATION: placing, modifying and withdrawing are then refused with 409
  BIDDING_CLOSED, so the set of bids the finalizer judges is the set at the deadline, whatever
  the scheduler's latency.
* Notes are written once, with the bid, and checked by RF16; PATCH takes only the amount.
* A withdrawn bid's fee is not refunded, and bidding again on the same booking is a new bid
  that pays a new fee (the fee buys a place in the auction, not a booking-long pass).
* Modifications are throttled by RF20 (see `facts` for the counter), pay no fee and keep the
  bid's `createdAt`, so a modified bid keeps its place in ties (amount, then createdAt).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import true
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.bids import repo
from rodistaa.bids.errors import (
    BiddingClosed,
    BidNotActive,
    BidOutOfRange,
    BookingNotTakingBids,
    DuplicateBid,
    TruckNotEligible,
)
from rodistaa.bids.facts import bid_answerers, bid_fact, booking_fact
from rodistaa.bids.fees import bidding_fee_paise
from rodistaa.bids.repo import ActiveBidExists, BidRecord, BidStatus, readable
from rodistaa.bids.schemas import BidCreate, BidModify
from rodistaa.bookings import repo as bookings_repo
from rodistaa.bookings.repo import BookingRecord
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound
from rodistaa.core.ids import new_id
from rodistaa.core.money import paise_to_rupees_number, rupees_to_paise
from rodistaa.core.roles import Role
from rodistaa.db.outbox import insert_outbox_event
from rodistaa.fleet import repo as fleet_repo
from rodistaa.fleet.facts import operator_names, truck_names
from rodistaa.fleet.repo import TruckRecord
from rodistaa.fleet.status import TruckStatus
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.kyc.status import kyc_status
from rodistaa.ledger import service as ledger
from rodistaa.ledger.repo import EntryType
from rodistaa.notifications.repo import notify
from rodistaa.ops.metrics import BIDDING_FEES_PAISE, BIDS_PLACED
from rodistaa.users import repo as users_repo

LEDGER_REFERENCE_BID = "BID"


@dataclass(frozen=True)
class BidView:
    """A bid as one caller may see it: the fee or not, the operator's id or (for the booking's
    shipper) its alias."""

    bid: BidRecord
    with_fee: bool
    operator_alias: str | None = None


def fee_visible(actor: Actor, bid: BidRecord) -> bool:
    """The fee is between the operator and the platform: its operator and admins see it."""
    return actor.role is Role.ADMIN or bid.operator_id == actor.user_id


def operator_alias(hmac_key: str, booking_id: str, operator_id: str) -> str:
    """What a shipper sees instead of the operator's id: "Bidder " + the first 8 hex digits of
    HMAC-SHA256(key, "bid-alias|<bookingId>|<operatorId>"). Keyed by the booking too, so one
    operator's bids on two bookings cannot be linked by their aliases."""
    message = f"bid-alias|{booking_id}|{operator_id}".encode()
    return "Bidder " + hmac.new(hmac_key.encode(), message, hashlib.sha256).hexdigest()[:8]


def view_for(actor: Actor, bid: BidRecord, *, hmac_key: str) -> BidView:
    """The bid as `actor` may see it (see the module docstring: fee and operator masking)."""
    alias = operator_alias(hmac_key, bid.booking_id, bid.operator_id) if actor.role is Role.SHIPPER else None
    return BidView(bid, fee_visible(actor, bid), alias)


def ensure_bidding_open(booking: BookingRecord, now: datetime) -> None:
    if now >= booking.auto_finalize_at:
        raise BiddingClosed()


def ensure_in_range(booking: BookingRecord, amount_paise: int) -> None:
    if not booking.price_min_paise <= amount_paise <= booking.price_max_paise:
        raise BidOutOfRange(
            min_rupees=paise_to_rupees_number(booking.price_min_paise),
            max_rupees=paise_to_rupees_number(booking.price_max_paise),
        )


@dataclass(frozen=True)
class _BidderFacts:
    """What ACS needs to know about the bidding operator, read in one connection."""

    kyc: str
    operator: dict[str, Any]
    truck: TruckRecord | None


class BidService:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.db
        self._clock = services.clock
        self._settings = services.settings

    # --- place -------------------------------------------------------------------------------

    async def create_bid(self, actor: Actor, body: BidCreate, *, ip: str | None = None) -> BidView:
        """Raises NotFound (booking not visible to operators), BiddingClosed (409, deadline
        passed), BidOutOfRange (422, before ACS), PolicyRejected (ACS), TruckNotEligible (422),
        BookingNotTakingBids (409, closed meanwhile), DuplicateBid (409) and
        InsufficientBalance (422, a concurrent debit spent the balance ACS saw)."""
        now = self._clock.now()
        async with self._db.read() as conn:
            booking = await bookings_repo.get_booking(
                conn, body.bookingId, visible=bookings_repo.readable(actor)
            )
            if booking is None:
                raise NotFound()
            ensure_bidding_open(booking, now)
            bidder = await self._bidder_facts(conn, actor, body.truckId, now)
        draft = BidRecord(
            id="",
            booking_id=booking.id,
            operator_id=actor.user_id,
            truck_id=body.truckId,
            amount_paise=rupees_to_paise(body.amount),
            fee_paise=self._fee(booking),
            notes=body.notes or None,
            status=BidStatus.ACTIVE,
            modification_count=0,
            created_at=now,
            updated_at=now,
        )
        # Pure validation before ACS: an out-of-range amount sets off no rule's side effects.
        ensure_in_range(booking, draft.amount_paise)
        event_id = await self._enforce_create(actor, draft, booking, bidder, ip=ip, now=now)
        bid = replace(draft, id=new_id("BK"))
        await self._insert(actor, bid, booking, acs_event_id=event_id, now=now)
        # Committed: a bid rolled back (InsufficientBalance, DuplicateBid) counts nothing.
        BIDS_PLACED.inc()
        BIDDING_FEES_PAISE.inc(bid.fee_paise)
        return BidView(bid, with_fee=True)

    def _fee(self, booking: BookingRecord) -> int:
        return bidding_fee_paise(
            booking.tonnage,
            booking.distance_km,
            per_tonne=self._settings.bid_fee_per_tonne,
            per_km=self._settings.bid_fee_per_km,
        )

    @staticmethod
    async def _bidder_facts(
        conn: AsyncConnection, actor: Actor, truck_id: str | None, now: datetime
    ) -> _BidderFacts:
        kyc = await kyc_status(conn, actor.user_id, actor.role)
        user = await users_repo.get_by_id(conn, actor.user_id)
        assert user is not None  # authenticated just now
        counted = await fleet_repo.count_counted_trucks(conn, actor.user_id)
        operator = operator_names(
            actor.user_id, status=user.status.value, kyc_status=kyc, active_trucks=counted
        )
        operator["ledgerBalance"] = await ledger.balance_paise(conn, actor.user_id)
        truck = None
        if truck_id is not None:
            found = await fleet_repo.get_truck(conn, truck_id, now=now)
            # Another operator's truck is not described to ACS (nor to the caller).
            truck = found if found is not None and found.operator_id == actor.user_id else None
        return _BidderFacts(kyc, operator, truck)

    async def _enforce_create(
        self,
        actor: Actor,
        draft: BidRecord,
        booking: BookingRecord,
        bidder: _BidderFacts,
        *,
        ip: str | None,
        now: datetime,
    ) -> str:
        names = {
            "bid": bid_fact(draft),
            "booking": booking_fact(booking),
            "truck": truck_names(bidder.truck) if bidder.truck is not None else None,
            "operator": bidder.operator,
            "computedFees": {"bidFee": draft.fee_paise},
        }
        # RF16 reads the typed text from the event's payload.
        payload = {"text": draft.notes, "bookingId": booking.id, "truckId": draft.truck_id}
        event = new_event(
            "bid.create", actor_ctx(actor, kyc_status=bidder.kyc, ip=ip), at=now, payload=payload
        )
        facts = ProvidedFacts(names=names, answerers=bid_answerers(self._db, at=now))
        await self._services.acs.enforce(event, facts)
        return event.id

    async def _insert(
        self, actor: Actor, bid: BidRecord, booking: BookingRecord, *, acs_event_id: str, now: datetime
    ) -> None:
        async with self._db.transaction() as conn:
            await self._lock_open_booking(conn, booking.id, now)
            if bid.truck_id is not None:
                await self._ensure_active_own_truck(conn, actor, bid.truck_id, now)
            await repo.claim_negotiation(conn, booking.id, now=now)
            try:
                await repo.insert_bid(conn, bid)
            except ActiveBidExists:
                raise DuplicateBid() from None
            entry_id = await self._debit_fee(conn, actor, bid, now)
            await insert_outbox_event(conn, name="bid.created", payload=_created_payload(bid), now=now)
            await notify(
                conn,
                user_id=booking.shipper_id,
                role=Role.SHIPPER,
                message=f"New bid on booking {booking.id} (bid {bid.id})",
                now=now,
            )
            data = {
                "bookingId": bid.booking_id,
                "operatorId": bid.operator_id,
                "truckId": bid.truck_id,
                "amountPaise": bid.amount_paise,
                "feePaise": bid.fee_paise,
                "ledgerEntryId": entry_id,
                "acsEventId": acs_event_id,
            }
            await append(conn, AuditEntryDraft(actor.user_id, "bid.created", "bid", bid.id, data), now=now)

    @staticmethod
    async def _lock_open_booking(conn: AsyncConnection, booking_id: str, now: datetime) -> BookingRecord:
        booking = await repo.lock_booking_taking_bids(conn, booking_id)
        if booking is None:
            raise BookingNotTakingBids()
        ensure_bidding_open(booking, now)
        return booking

    @staticmethod
    async def _ensure_active_own_truck(
        conn: AsyncConnection, actor: Actor, truck_id: str, now: datetime
    ) -> None:
        """Checked inside the transaction, so a truck blocked or retired after ACS ran is still
        refused. Its effective status counts: a blocked truck is not ACTIVE."""
        truck = await fleet_repo.get_truck(conn, truck_id, now=now)
        if (
            truck is None
            or truck.operator_id != actor.user_id
            or truck.effective_status is not TruckStatus.ACTIVE
        ):
            raise TruckNotEligible()

    @staticmethod
    async def _debit_fee(conn: AsyncConnection, actor: Actor, bid: BidRecord, now: datetime) -> str | None:
        """Debit the fee in the bid's transaction (InsufficientBalance rolls the bid back). A
        fee configured to zero posts no entry: the ledger has no zero-amount entries."""
        if bid.fee_paise == 0:
            return None
        entry = await ledger.debit(
            conn,
            actor.user_id,
            bid.fee_paise,
            EntryType.BIDDING_FEE,
            f"Bidding fee for bid {bid.id} on booking {bid.booking_id}",
            LEDGER_REFERENCE_BID,
            bid.id,
            created_by=actor.user_id,
            now=now,
        )
        return entry.id

    # --- modify and withdraw -----------------------------------------------------------------

    async def modify_bid(
        self, actor: Actor, bid_id: str, body: BidModify, *, ip: str | None = None
    ) -> BidView:
        """The operator's own ACTIVE bid gets a new amount inside the range; no new fee.
        Raises NotFound (not its bid), BidNotActive / BookingNotTakingBids (409),
        BiddingClosed (409), BidOutOfRange (422, before ACS), PolicyRejected (ACS: RF01, RF20
        429, RF22)."""
        now = self._clock.now()
        amount_paise = rupees_to_paise(body.amount)
        async with self._db.read() as conn:
            bid, booking = await self._own_active_bid(conn, actor, bid_id)
            kyc = await kyc_status(conn, actor.user_id, actor.role)
        ensure_bidding_open(booking, now)
        ensure_in_range(booking, amount_paise)  # before ACS, as for a new bid
        names = {
            "bid": {**bid_fact(bid), "amount": amount_paise, "previousAmount": bid.amount_paise},
            "booking": booking_fact(booking),
        }
        event = new_event(
            "bid.modify", actor_ctx(actor, kyc_status=kyc, ip=ip), at=now, payload={"bidId": bid.id}
        )
        await self._services.acs.enforce(
            event, ProvidedFacts(names=names, answerers=bid_answerers(self._db, at=now))
        )
        async with self._db.transaction() as conn:
            await self._lock_open_booking(conn, booking.id, now)
            modified = await repo.claim_modification(
                conn, bid.id, actor.user_id, amount_paise=amount_paise, now=now
            )
            if modified is None:
                raise BidNotActive()
            data = {
                "bookingId": bid.booking_id,
                "previousAmountPaise": bid.amount_paise,
                "amountPaise": modified.amount_paise,
                "modificationCount": modified.modification_count,
                "acsEventId": event.id,
            }
            await append(conn, AuditEntryDraft(actor.user_id, "bid.modified", "bid", bid.id, data), now=now)
        return BidView(modified, with_fee=True)

    async def withdraw_bid(self, actor: Actor, bid_id: str) -> BidView:
        """The operator's own ACTIVE bid → WITHDRAWN. The fee is not refunded. Raises NotFound,
        BidNotActive / BookingNotTakingBids (409), BiddingClosed (409)."""
        now = self._clock.now()
        async with self._db.read() as conn:
            bid, booking = await self._own_active_bid(conn, actor, bid_id)
        ensure_bidding_open(booking, now)
        async with self._db.transaction() as conn:
            await self._lock_open_booking(conn, booking.id, now)
            withdrawn = await repo.claim_withdrawal(conn, bid.id, actor.user_id, now=now)
            if withdrawn is None:
                raise BidNotActive()
            data = {
                "bookingId": bid.booking_id,
                "from": BidStatus.ACTIVE.value,
                "to": BidStatus.WITHDRAWN.value,
                "feePaise": bid.fee_paise,
                "refundedPaise": 0,
            }
            await append(conn, AuditEntryDraft(actor.user_id, "bid.withdrawn", "bid", bid.id, data), now=now)
        return BidView(withdrawn, with_fee=True)

    @staticmethod
    async def _own_active_bid(
        conn: AsyncConnection, actor: Actor, bid_id: str
    ) -> tuple[BidRecord, BookingRecord]:
        """The caller's bid (another operator's: 404) and its booking; 409 unless ACTIVE."""
        bid = await repo.get_bid(conn, bid_id, visible=readable(actor))
        if bid is None or bid.operator_id != actor.user_id:
            raise NotFound()
        if bid.status is not BidStatus.ACTIVE:
            raise BidNotActive()
        booking = await bookings_repo.get_booking(conn, bid.booking_id, visible=true())
        assert booking is not None  # foreign key
        return bid, booking

    # --- read --------------------------------------------------------------------------------

    async def get_bid(self, actor: Actor, bid_id: str) -> BidView:
        """404 unless the caller may see the bid (see `repo.readable`)."""
        async with self._db.read() as conn:
            bid = await repo.get_bid(conn, bid_id, visible=readable(actor))
        if bid is None:
            raise NotFound()
        return self._view(actor, bid)

    async def list_for_booking(
        self, actor: Actor, booking_id: str, *, status: BidStatus | None
    ) -> list[BidView]:
        """404 unless the caller may see the booking; then the bids it may see, cheapest first."""
        async with self._db.read() as conn:
            booking = await bookings_repo.get_booking(conn, booking_id, visible=bookings_repo.readable(actor))
            if booking is None:
                raise NotFound()
            found = await repo.list_for_booking(conn, booking.id, visible=readable(actor), status=status)
        return [self._view(actor, b) for b in found]

    async def list_bids(
        self, actor: Actor, *, status: BidStatus | None, page: PageRequest
    ) -> tuple[list[BidView], int]:
        """Newest first: an operator's own, or (admin) everyone's."""
        async with self._db.read() as conn:
            found, total = await repo.list_bids(
                conn, visible=readable(actor), status=status, offset=page.offset, limit=page.limit
            )
        return [self._view(actor, b) for b in found], total

    def _view(self, actor: Actor, bid: BidRecord) -> BidView:
        return view_for(actor, bid, hmac_key=self._settings.hmac_key)


def _created_payload(bid: BidRecord) -> dict[str, Any]:
    """The `bid.created` outbox payload: ids only. No amount: bids are sealed, and partners'
    systems may be other operators'."""
    return {
        "bidId": bid.id,
        "bookingId": bid.booking_id,
        "operatorId": bid.operator_id,
        "status": bid.status.value,
        "createdAt": bid.created_at.isoformat(),
    }
