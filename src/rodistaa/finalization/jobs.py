"""`auto-finalize`: finalize every booking whose bidding deadline (`auto_finalize_at`) has
passed and which is still OPEN or in NEGOTIATION, oldest deadline first, in batches.

* Each booking is finalized on its own (`Finalizer.finalize_by_candidates`, method `auto`,
  status AUTO_FINALIZED): one booking failing is logged and counted and the run goes on.
* A booking without any valid candidate, an OPEN one that never got a bid included, is
  CANCELLED with reason NO_VALID_BIDS.
* Every state change is a conditional claim, so two overlapping runs (or a run racing a
  shipper's accept) still give one winner per booking; the loser counts the booking as
  `alreadyDone`. A per-booking lock (`repo.evaluation_lock`: an advisory lock on PostgreSQL,
  a per-process guard on SQLite) also keeps two runs from evaluating one booking at once: the
  second skips it (`alreadyDone`) instead of asking ACS about the same candidates again (a
  second RF14 ticket, a second RF15 record).
* A candidate whose amount changed between the read and the claim (a modification committing
  at the deadline) fails the booking for this run (`failed`); it stays due and the next run
  evaluates the bids as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import structlog

from rodistaa.bids.errors import BookingNotTakingBids
from rodistaa.finalization import repo
from rodistaa.finalization.errors import BidChanged
from rodistaa.finalization.repo import DueBooking
from rodistaa.finalization.service import Finalized, Finalizer, Initiator
from rodistaa.http.services import Services
from rodistaa.jobs.spec import ServiceJobSpec

log = structlog.get_logger("rodistaa.finalization")

BATCH = 100


@dataclass
class AutoFinalizeResult:
    examined: int = 0
    finalized: int = 0
    cancelled_no_bids: int = 0
    skipped_candidates: int = 0
    already_done: int = 0
    failed: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "examined": self.examined,
            "finalized": self.finalized,
            "cancelledNoBids": self.cancelled_no_bids,
            "skippedCandidates": self.skipped_candidates,
            "alreadyDone": self.already_done,
            "failed": self.failed,
        }


async def auto_finalize(services: Services, *, batch: int = BATCH) -> AutoFinalizeResult:
    result = AutoFinalizeResult()
    finalizer = Finalizer(services)
    now = services.clock.now()  # one cut-off for the run: bookings falling due meanwhile wait
    cursor: DueBooking | None = None
    while True:
        async with services.db.read() as conn:
            page = await repo.due_bookings(conn, now=now, after=cursor, limit=batch)
        for due in page:
            await _finalize_one(finalizer, due.id, result)
        if len(page) < batch:
            return result
        cursor = page[-1]


async def _finalize_one(finalizer: Finalizer, booking_id: str, result: AutoFinalizeResult) -> None:
    result.examined += 1
    try:
        outcome = await finalizer.finalize_by_candidates(Initiator.job(), booking_id)
    except BookingNotTakingBids:  # finalized, cancelled, or being evaluated by another run
        result.already_done += 1
        return
    except BidChanged:
        log.warning("auto_finalize_bid_changed", booking_id=booking_id)
        result.failed += 1
        return
    except Exception:
        # One booking's failure (a database error, an ACS outage) must not stop the others;
        # it stays due and the next run retries it.
        log.exception("auto_finalize_failed", booking_id=booking_id)
        result.failed += 1
        return
    result.skipped_candidates += len(outcome.skipped_bid_ids)
    if isinstance(outcome, Finalized):
        result.finalized += 1
    else:
        result.cancelled_no_bids += 1


JOBS: Mapping[str, ServiceJobSpec] = MappingProxyType(
    {
        "auto-finalize": ServiceJobSpec(
            "auto-finalize",
            "Finalize bookings past their bidding deadline (or cancel them with NO_VALID_BIDS).",
            auto_finalize,
        )
    }
)
