"""Finalization (PRODUCT §6): a booking taking bids becomes FINALIZED (the shipper accepted a
bid, or an admin chose) or AUTO_FINALIZED (the bidding deadline passed), and its shipment is
created; or, with no valid candidate, it is CANCELLED with reason NO_VALID_BIDS.

Decisions:
* Choosing by candidate order (admin without a bid, the job): ACTIVE bids ordered by
  (amount, createdAt, operatorId). ACS `bid.evaluate` runs once per attempt over all candidates
  (RF15 records the tie-breaker when the lowest amount is shared); then, candidate by
  candidate, ACS `bid.finalize` re-checks the operator (RF14: KYC VERIFIED, account ACTIVE and
  neither blocked nor suspended, ledger not negative). A rejected candidate is skipped (RF14
  raises the ticket); the first allowed one wins. A candidate whose bid stops being ACTIVE
  between the check and the claim (withdrawn concurrently) is skipped too.
* An explicit choice (shipper accept, admin with a bid id) runs only `bid.finalize` for that
  bid, through `enforce`: an ineligible operator answers RF14's 409 WINNER_INELIGIBLE and
  nothing changes. `bid.evaluate` is not raised there: no tie-breaker decides anything, and
  RF15 would record one as used.
* The winning transaction is one transaction: claim the booking (conditional UPDATE from
  OPEN/NEGOTIATION), claim the winning bid (conditional UPDATE from ACTIVE at the amount read:
  if that fails the booking claim rolls back), re-check the winner's standing (RF14's condition,
  read inside the transaction: an operator blocked or whose KYC was rejected after ACS allowed
  it does not win; the next candidate does, or an explicit choice answers 409
  WINNER_INELIGIBLE), reject every other ACTIVE bid, insert the shipment, write the
  `booking.finalized` and `shipment.created` outbox events and the notifications, and append
  the audit entry last. Fees are never refunded: the ledger is not touched.
* The accepted price is the price read: the bid claim is conditional on the amount the
  finalizer read, so an operator's modification committing between the shipper's read and the
  accept answers 409 BID_CHANGED instead of changing the agreed price unseen. The shipper may
  also send the amount they saw (`expectedAmount`); a different current amount is the same 409.
  In the candidate order a modification racing the evaluation answers BID_CHANGED too (the
  admin retries; the job counts the booking failed and the next run retries it).
* Only one evaluation by candidate order runs per booking at a time (`repo.evaluation_lock`):
  an overlapping job run skips the booking (`alreadyDone`), an admin gets 409 INVALID_STATE.
* No candidate at all (an OPEN booking without bids included) cancels the booking with
  `cancel_reason = NO_VALID_BIDS`, rejects whatever ACTIVE bid is left (the ineligible ones)
  and tells the shipper. This applies to the job and to an admin finalizing without a bid id.
* The ACS part (`choose`: `bid.evaluate`, `bid.finalize`) and the commit part (`commit`, on
  the caller's connection) are separate, so an approved FORCE_FINALIZE override commits inside
  its approving transaction; the use cases here compose them, each commit in its own
  transaction.
* Outbox payloads carry ids and statuses only, no amounts: webhook partners may be other
  operators' systems, and a winning price is the two parties' business.
* The admin's reason is stored in `bookings.finalize_reason` by the finalizing (or, with no
  valid candidate, cancelling) transaction. The `bid.finalize` ACS payload (kept for
  backtests) and the audit entry say only `reasonGiven: true`: free text stays out of both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import true
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.engine import Decision
from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.acs.service import PolicyRejected
from rodistaa.bids import repo as bids_repo
from rodistaa.bids.errors import BidNotActive, BookingNotTakingBids
from rodistaa.bids.facts import bid_fact, booking_fact
from rodistaa.bids.notices import NOT_SELECTED, notify_rejected
from rodistaa.bids.repo import BidRecord, BidStatus
from rodistaa.bids.service import operator_alias
from rodistaa.bookings import repo as bookings_repo
from rodistaa.bookings.repo import OPEN_STATUSES, BookingRecord, BookingStatus
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound
from rodistaa.core.roles import Role
from rodistaa.db.outbox import insert_outbox_event
from rodistaa.finalization import repo
from rodistaa.finalization.errors import (
    BidChanged,
    FinalizationInProgress,
    WinnerIneligible,
    unknown_bid_field,
)
from rodistaa.finalization.repo import OperatorStanding
from rodistaa.fleet.facts import epoch_ms
from rodistaa.http.services import Services
from rodistaa.kyc.status import kyc_status
from rodistaa.notifications.repo import notify
from rodistaa.shipments.repo import ShipmentRecord

log = structlog.get_logger("rodistaa.finalization")

AUTO_FINALIZE_ACTOR = "system:auto-finalize"
NO_VALID_BIDS = "NO_VALID_BIDS"


class Method(StrEnum):
    ACCEPT = "accept"
    ADMIN = "admin"
    AUTO = "auto"

    @property
    def target(self) -> BookingStatus:
        return BookingStatus.AUTO_FINALIZED if self is Method.AUTO else BookingStatus.FINALIZED


@dataclass(frozen=True)
class Initiator:
    """Who finalizes: a shipper or an admin (their user id and ACS ctx), or the job."""

    actor_id: str
    role: str  # SHIPPER, ADMIN or SYSTEM, for the audit entry
    ctx: Mapping[str, Any]
    method: Method
    reason: str | None = None
    override_id: str | None = None  # an admin finalizing by approving a FORCE_FINALIZE override

    @classmethod
    def job(cls) -> Initiator:
        ctx = {
            "userId": AUTO_FINALIZE_ACTOR,
            "userRole": "system",
            "userKycStatus": None,
            "operatorId": None,
            "deviceId": None,
            "ip": None,
        }
        return cls(AUTO_FINALIZE_ACTOR, "SYSTEM", ctx, Method.AUTO)


@dataclass(frozen=True)
class Finalized:
    booking: BookingRecord
    bid: BidRecord
    shipment: ShipmentRecord
    skipped_bid_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class CancelledNoValidBids:
    booking: BookingRecord
    skipped_bid_ids: tuple[str, ...]


Outcome = Finalized | CancelledNoValidBids


@dataclass(frozen=True)
class Win:
    """ACS allowed `bid` to win; `skipped` are the candidates refused before it."""

    bid: BidRecord
    skipped: tuple[str, ...]
    acs_event_id: str


@dataclass(frozen=True)
class NoValidBids:
    skipped: tuple[str, ...]


Choice = Win | NoValidBids


# --- ACS names (context contract: money in paise, times in epoch ms) --------------------------


def acs_operator(operator_id: str, standing: OperatorStanding) -> dict[str, Any]:
    # activeTrucks: no finalization rule reads the fleet size.
    return {
        "id": operator_id,
        "status": standing.status,
        "kycStatus": standing.kyc_status,
        "ledgerBalance": standing.ledger_balance_paise,
        "activeTrucks": None,
    }


def acs_winner(bid: BidRecord, standing: OperatorStanding) -> dict[str, Any]:
    return {
        "bidId": bid.id,
        "operatorId": bid.operator_id,
        "amount": bid.amount_paise,
        "bidFee": bid.fee_paise,
        "ledgerBalance": standing.ledger_balance_paise,
        "kycStatus": standing.kyc_status,
        "status": standing.status,
    }


def acs_bids(candidates: list[BidRecord]) -> dict[str, Any]:
    """`bids`: the candidates in order; `haveIdenticalAmount` when at least two share the
    lowest amount (RF15's trigger)."""
    lowest = candidates[0].amount_paise if candidates else None
    return {
        "count": len(candidates),
        "haveIdenticalAmount": sum(1 for c in candidates if c.amount_paise == lowest) >= 2,
        "lowestAmount": lowest,
        "candidates": [
            {
                "bidId": c.id,
                "operatorId": c.operator_id,
                "amount": c.amount_paise,
                "createdAt": epoch_ms(c.created_at),
            }
            for c in candidates
        ],
    }


# --- messages and payloads -----------------------------------------------------------------------


def _who(method: Method) -> str:
    return "automatically at the bidding deadline" if method is Method.AUTO else "by an admin"


def finalized_payload(result: Finalized, method: Method) -> dict[str, Any]:
    return {
        "bookingId": result.booking.id,
        "status": result.booking.status.value,
        "bidId": result.bid.id,
        "operatorId": result.bid.operator_id,
        "shipmentId": result.shipment.id,
        "method": method.value,
    }


def shipment_created_payload(shipment: ShipmentRecord) -> dict[str, Any]:
    return {
        "shipmentId": shipment.id,
        "bookingId": shipment.booking_id,
        "bidId": shipment.bid_id,
        "shipperId": shipment.shipper_id,
        "operatorId": shipment.operator_id,
        "status": shipment.status.value,
    }


class Finalizer:
    """The finalization engine shared by the HTTP use cases and the auto-finalize job."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.db
        self._clock = services.clock

    # --- composed use cases (each commit in its own transaction) -------------------------------

    async def finalize_chosen(
        self, initiator: Initiator, booking: BookingRecord, bid: BidRecord
    ) -> Finalized:
        """Finalize `booking` with `bid` at the amount `bid` carries (the one read). Raises
        BidNotActive / BookingNotTakingBids (409 INVALID_STATE), BidChanged (409, the amount
        changed), PolicyRejected (RF14's 409 WINNER_INELIGIBLE) and WinnerIneligible (409, the
        standing changed after RF14); nothing changes then."""
        win = await self._choose_bid(initiator, booking, bid)
        async with self._db.transaction() as conn:
            return await self._win(conn, initiator, booking.id, win, now=self._clock.now())

    async def finalize_by_candidates(self, initiator: Initiator, booking_id: str) -> Outcome:
        """Finalize with the first eligible candidate, or cancel with NO_VALID_BIDS. Raises
        NotFound for an unknown booking, BookingNotTakingBids when it is no longer taking bids
        (finalized or cancelled before or during this attempt), FinalizationInProgress when
        another evaluation of it is running, BidChanged when a candidate's amount changed
        between the read and its claim."""
        async with self.exclusive(booking_id):
            # Read under the lock: a run that waited behind another sees its outcome.
            async with self._db.read() as conn:
                booking = await bookings_repo.get_booking(conn, booking_id, visible=true())
                candidates = await repo.active_candidates(conn, booking_id)
            if booking is None:
                raise NotFound()
            if booking.status not in OPEN_STATUSES:
                raise BookingNotTakingBids()
            return await self._first_eligible(initiator, booking, candidates)

    @asynccontextmanager
    async def exclusive(self, booking_id: str) -> AsyncIterator[None]:
        """The only evaluation of the booking's candidates running now (`repo.evaluation_lock`);
        FinalizationInProgress (409) while another runs."""
        async with repo.evaluation_lock(self._db, booking_id) as acquired:
            if not acquired:
                raise FinalizationInProgress()
            yield

    async def _first_eligible(
        self, initiator: Initiator, booking: BookingRecord, candidates: list[BidRecord]
    ) -> Outcome:
        """The candidate order with its fallback: a chosen bid that vanishes or whose operator
        loses its standing before its claim is skipped and the next allowed candidate tried."""
        standings = await self._evaluate(initiator, booking, candidates)
        choice = await self._next_allowed(initiator, booking, candidates, standings, skipped=())
        while isinstance(choice, Win):
            try:
                return await self._commit_alone(initiator, booking.id, choice)
            except (BidNotActive, WinnerIneligible) as exc:
                event = (
                    "finalization_candidate_vanished"
                    if isinstance(exc, BidNotActive)
                    else "finalization_candidate_lost_standing"
                )
                log.info(event, booking_id=booking.id, bid_id=choice.bid.id)
            rest = candidates[candidates.index(choice.bid) + 1 :]
            skipped = (*choice.skipped, choice.bid.id)
            choice = await self._next_allowed(initiator, booking, rest, standings, skipped=skipped)
        return await self._commit_alone(initiator, booking.id, choice)

    # --- the ACS part --------------------------------------------------------------------------

    async def choose(self, initiator: Initiator, booking: BookingRecord, bid: BidRecord | None) -> Choice:
        """The ACS checks, before any business transaction. With `bid`: that bid wins or this
        raises BidNotActive / BookingNotTakingBids (409) or PolicyRejected (RF14). Without: the
        first candidate ACS allows, or NoValidBids. Callers choosing by candidates hold
        `exclusive(booking.id)`."""
        if bid is not None:
            return await self._choose_bid(initiator, booking, bid)
        if booking.status not in OPEN_STATUSES:
            raise BookingNotTakingBids()
        async with self._db.read() as conn:
            candidates = await repo.active_candidates(conn, booking.id)
        standings = await self._evaluate(initiator, booking, candidates)
        return await self._next_allowed(initiator, booking, candidates, standings, skipped=())

    async def _choose_bid(self, initiator: Initiator, booking: BookingRecord, bid: BidRecord) -> Win:
        if bid.status is not BidStatus.ACTIVE:
            raise BidNotActive()
        if booking.status not in OPEN_STATUSES:
            raise BookingNotTakingBids()
        decision = await self._check_winner(initiator, booking, bid, await self._standing(bid.operator_id))
        if not decision.allowed:
            raise PolicyRejected(decision)
        return Win(bid, (), decision.event_id)

    async def _evaluate(
        self, initiator: Initiator, booking: BookingRecord, candidates: list[BidRecord]
    ) -> dict[str, OperatorStanding]:
        """ACS `bid.evaluate` once over all candidates (none: nothing to evaluate); returns the
        standings read for it."""
        standings: dict[str, OperatorStanding] = {}
        if candidates:
            standings[candidates[0].operator_id] = await self._standing(candidates[0].operator_id)
            await self._evaluate_candidates(initiator, booking, candidates, standings)
        return standings

    async def _next_allowed(
        self,
        initiator: Initiator,
        booking: BookingRecord,
        candidates: list[BidRecord],
        standings: Mapping[str, OperatorStanding],
        *,
        skipped: tuple[str, ...],
    ) -> Choice:
        """ACS `bid.finalize` candidate by candidate; the first allowed one wins."""
        refused = list(skipped)
        for bid in candidates:
            standing = standings.get(bid.operator_id) or await self._standing(bid.operator_id)
            decision = await self._check_winner(initiator, booking, bid, standing)
            if decision.allowed:
                return Win(bid, tuple(refused), decision.event_id)
            log.info(
                "finalization_candidate_skipped", booking_id=booking.id, bid_id=bid.id, code=decision.code
            )
            refused.append(bid.id)
        return NoValidBids(tuple(refused))

    async def _evaluate_candidates(
        self,
        initiator: Initiator,
        booking: BookingRecord,
        candidates: list[BidRecord],
        standings: Mapping[str, OperatorStanding],
    ) -> Decision:
        """ACS `bid.evaluate`: observes the field (RF15 records a tie-breaker); the order itself
        is the repository's, so a decision here changes nothing."""
        first = candidates[0]
        names = {
            "booking": booking_fact(booking),
            "bid": bid_fact(first),
            "operator": acs_operator(first.operator_id, standings[first.operator_id]),
            "bids": acs_bids(candidates),
        }
        event = new_event(
            "bid.evaluate", initiator.ctx, at=self._clock.now(), payload={"method": initiator.method.value}
        )
        return await self._services.acs.evaluate(event, ProvidedFacts(names=names))

    async def _check_winner(
        self, initiator: Initiator, booking: BookingRecord, bid: BidRecord, standing: OperatorStanding
    ) -> Decision:
        """ACS `bid.finalize` for one would-be winner; the caller obeys the decision. The admin's
        reason is free text: the stored context says only that one was given."""
        names = {"booking": booking_fact(booking), "bid": bid_fact(bid), "winner": acs_winner(bid, standing)}
        payload: dict[str, Any] = {"method": initiator.method.value}
        if initiator.reason is not None:
            payload["reasonGiven"] = True
        event = new_event("bid.finalize", initiator.ctx, at=self._clock.now(), payload=payload)
        return await self._services.acs.evaluate(event, ProvidedFacts(names=names))

    async def _standing(self, operator_id: str) -> OperatorStanding:
        async with self._db.read() as conn:
            return await repo.operator_standing(conn, operator_id, now=self._clock.now())

    # --- the commit part ----------------------------------------------------------------------

    async def _commit_alone(self, initiator: Initiator, booking_id: str, choice: Choice) -> Outcome:
        async with self._db.transaction() as conn:
            return await self.commit(conn, initiator, booking_id, choice, now=self._clock.now())

    async def commit(
        self, conn: AsyncConnection, initiator: Initiator, booking_id: str, choice: Choice, *, now: datetime
    ) -> Outcome:
        """Apply `choice` inside the caller's transaction `conn` (the caller rolls back on an
        error): the winning writes for a Win, the NO_VALID_BIDS cancellation otherwise."""
        if isinstance(choice, Win):
            return await self._win(conn, initiator, booking_id, choice, now=now)
        return await self._no_valid_bids(conn, initiator, booking_id, skipped=choice.skipped, now=now)

    async def _win(
        self, conn: AsyncConnection, initiator: Initiator, booking_id: str, choice: Win, *, now: datetime
    ) -> Finalized:
        """The winning writes (see the module docstring). Raises BookingNotTakingBids when
        another finalization or a cancellation got the booking first, BidNotActive when the bid
        stopped being ACTIVE, BidChanged when its amount is no longer the one read,
        WinnerIneligible when its operator lost its standing; the caller's transaction then
        rolls back and nothing changed."""
        bid, skipped, acs_event_id = choice.bid, choice.skipped, choice.acs_event_id
        booking = await repo.claim_booking_for_finalization(
            conn, booking_id, target=initiator.method.target, finalize_reason=initiator.reason, now=now
        )
        if booking is None:
            raise BookingNotTakingBids()
        winner = await self._claim_winner(conn, bid, now=now)
        # RF14 judged the standing before this transaction; it may have changed since.
        if not (await repo.operator_standing(conn, winner.operator_id, now=now)).may_win:
            raise WinnerIneligible(details={"bidId": winner.id})
        losers = await bids_repo.reject_active_for_booking(conn, booking_id, now=now)
        shipment = await repo.insert_shipment(conn, booking, winner, now=now)
        result = Finalized(booking, winner, shipment, skipped)
        await insert_outbox_event(
            conn, name="booking.finalized", payload=finalized_payload(result, initiator.method), now=now
        )
        await insert_outbox_event(
            conn, name="shipment.created", payload=shipment_created_payload(shipment), now=now
        )
        await self._notify_win(conn, initiator, result, losers, now=now)
        data = {
            "bidId": winner.id,
            "operatorId": winner.operator_id,
            "amountPaise": winner.amount_paise,
            "shipmentId": shipment.id,
            "method": initiator.method.value,
            "finalizedByRole": initiator.role,
            "skippedBidIds": list(skipped),
            "rejectedBidIds": [b.id for b in losers],
            "acsEventId": acs_event_id,
        }
        if initiator.method is Method.ADMIN:
            data["reasonGiven"] = True
        if initiator.override_id is not None:
            data["overrideId"] = initiator.override_id
        await append(
            conn,
            AuditEntryDraft(initiator.actor_id, "booking.finalized", "booking", booking.id, data),
            now=now,
        )
        return result

    @staticmethod
    async def _claim_winner(conn: AsyncConnection, bid: BidRecord, *, now: datetime) -> BidRecord:
        """ACTIVE -> ACCEPTED at the amount read; tells a bid that left ACTIVE (BidNotActive)
        from one whose amount its operator changed (BidChanged)."""
        winner = await repo.claim_winning_bid(
            conn, bid.id, booking_id=bid.booking_id, amount_paise=bid.amount_paise, now=now
        )
        if winner is not None:
            return winner
        current = await bids_repo.get_bid(conn, bid.id, visible=true())
        if current is not None and current.status is BidStatus.ACTIVE:
            raise BidChanged()
        raise BidNotActive()

    async def _notify_win(
        self,
        conn: AsyncConnection,
        initiator: Initiator,
        result: Finalized,
        losers: list[BidRecord],
        *,
        now: datetime,
    ) -> None:
        booking, bid, shipment = result.booking, result.bid, result.shipment
        await notify(
            conn,
            user_id=bid.operator_id,
            role=Role.OPERATOR,
            message=(
                f"Your bid {bid.id} on booking {booking.id} was accepted; shipment {shipment.id} "
                "awaits truck and driver assignment."
            ),
            now=now,
        )
        await notify_rejected(conn, losers, NOT_SELECTED, now=now)
        if initiator.method is not Method.ACCEPT:  # the accepting shipper knows already
            await notify(
                conn,
                user_id=booking.shipper_id,
                role=Role.SHIPPER,
                message=(
                    f"Booking {booking.id} was finalized {_who(initiator.method)}: bid {bid.id} won; "
                    f"shipment {shipment.id} was created."
                ),
                now=now,
            )

    async def _no_valid_bids(
        self,
        conn: AsyncConnection,
        initiator: Initiator,
        booking_id: str,
        *,
        skipped: tuple[str, ...],
        now: datetime,
    ) -> CancelledNoValidBids:
        """CANCELLED with NO_VALID_BIDS (and the admin's reason, if an admin asked); the bids
        left ACTIVE (ineligible ones) are REJECTED. Raises BookingNotTakingBids when the booking
        left OPEN/NEGOTIATION meanwhile."""
        booking = await bookings_repo.claim_cancellation(
            conn, booking_id, reason=NO_VALID_BIDS, cancelled_by=initiator.actor_id, now=now
        )
        if booking is None:
            raise BookingNotTakingBids()
        if initiator.reason is not None:
            await repo.record_finalize_reason(conn, booking_id, initiator.reason)
        rejected = await bids_repo.reject_active_for_booking(conn, booking_id, now=now)
        await notify(
            conn,
            user_id=booking.shipper_id,
            role=Role.SHIPPER,
            message=f"Booking {booking.id} was cancelled {_who(initiator.method)}: no valid bids.",
            now=now,
        )
        await notify_rejected(conn, rejected, NOT_SELECTED, now=now)
        data: dict[str, Any] = {
            "to": booking.status.value,
            "shipperId": booking.shipper_id,
            "cancelledByRole": initiator.role,
            "reasonCode": NO_VALID_BIDS,
            "method": initiator.method.value,
            "skippedBidIds": list(skipped),
            "rejectedBidIds": [b.id for b in rejected],
        }
        if initiator.method is Method.ADMIN:
            data["reasonGiven"] = True
        await append(
            conn,
            AuditEntryDraft(initiator.actor_id, "booking.cancelled", "booking", booking.id, data),
            now=now,
        )
        return CancelledNoValidBids(booking, skipped)


class FinalizationService:
    """The HTTP use cases: a shipper accepts a bid; an admin finalizes a booking."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.db
        self._hmac_key = services.settings.hmac_key
        self._finalizer = Finalizer(services)

    async def accept(
        self,
        actor: Actor,
        bid_id: str,
        *,
        expected_amount_paise: int | None = None,
        ip: str | None = None,
    ) -> Finalized:
        """The shipper owning the bid's booking accepts that ACTIVE bid at the amount read now
        (or, with `expected_amount_paise`, only at that amount). 404 when the bid is not on one
        of their bookings; 409 BID_CHANGED when the amount is not the expected one or changes
        before the claim; 409 INVALID_STATE when the bid is not ACTIVE or the booking no longer
        takes bids; 409 WINNER_INELIGIBLE (RF14) when the operator may not win."""
        async with self._db.read() as conn:
            bid = await bids_repo.get_bid(conn, bid_id, visible=bids_repo.readable(actor))
            booking = await bookings_repo.get_booking(conn, bid.booking_id, visible=true()) if bid else None
            kyc = await kyc_status(conn, actor.user_id, actor.role)
        if bid is None or booking is None:
            raise NotFound()
        if expected_amount_paise is not None and expected_amount_paise != bid.amount_paise:
            raise BidChanged()
        initiator = Initiator(
            actor.user_id, actor.role.value, actor_ctx(actor, kyc_status=kyc, ip=ip), Method.ACCEPT
        )
        return await self._finalizer.finalize_chosen(initiator, booking, bid)

    def shipper_alias(self, bid: BidRecord) -> str:
        """The winning operator as the accepting shipper sees it in the response's `bid`."""
        return operator_alias(self._hmac_key, bid.booking_id, bid.operator_id)

    async def admin_finalize(
        self, actor: Actor, booking_id: str, *, bid_id: str | None, reason: str, ip: str | None = None
    ) -> Outcome:
        """With `bid_id`: that bid (400 on `bidId` if it is not a bid of this booking, then as
        `accept`). Without: the candidate order, or NO_VALID_BIDS cancellation. 404 for an
        unknown booking, 409 INVALID_STATE when it no longer takes bids (or another evaluation
        of it is running)."""
        async with self._db.read() as conn:
            booking = await bookings_repo.get_booking(conn, booking_id, visible=true())
            bid = await bids_repo.get_bid(conn, bid_id, visible=true()) if bid_id is not None else None
            kyc = await kyc_status(conn, actor.user_id, actor.role)
        if booking is None:
            raise NotFound()
        ctx = actor_ctx(actor, kyc_status=kyc, ip=ip)
        initiator = Initiator(actor.user_id, actor.role.value, ctx, Method.ADMIN, reason=reason)
        if bid_id is None:
            return await self._finalizer.finalize_by_candidates(initiator, booking.id)
        if bid is None or bid.booking_id != booking.id:
            raise unknown_bid_field("bidId")
        return await self._finalizer.finalize_chosen(initiator, booking, bid)
