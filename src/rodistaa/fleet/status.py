"""The truck status machine (PRODUCT §5), as pure functions of what is known about a truck.

    PENDING_INSPECTION ──passed──▶ ACTIVE ◀──valid documents──▶ EXPIRED_DOCS
            │                        │
            └──failed: stays         └── last pass > 120 days, or a failed re-inspection ──▶ NEEDS_INSPECTION
    any (but INACTIVE) ── active block ──▶ BLOCKED   (left only through an override: `lift_block`)
    any (but BLOCKED) ── operator retires ──▶ INACTIVE (final)

Decisions where PRODUCT is silent:

* A *missing* required document counts as expired: a truck cannot legally haul without its RC,
  insurance, permit, fitness certificate or PUC, so a truck that passes inspection without all
  five on file is EXPIRED_DOCS until they are uploaded.
* The newest upload of a type is the one that counts, even if an older upload expires later.
* A document is valid through its expiry date. "Today" is the calendar date in India (IST,
  UTC+05:30, no daylight saving): the dates printed on Indian documents are Indian dates.
* NEEDS_INSPECTION and PENDING_INSPECTION are left only through a passed inspection; document
  changes do not move them. A failed inspection of a truck that had passed before makes it
  NEEDS_INSPECTION; a new truck that fails stays PENDING_INSPECTION.
* BLOCKED is sticky: once stored, a truck stays BLOCKED even after its block expires or is lifted,
  until the override that lifted it recomputes the status with `lift_block=True`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum


class TruckStatus(StrEnum):
    PENDING_INSPECTION = "PENDING_INSPECTION"
    ACTIVE = "ACTIVE"
    EXPIRED_DOCS = "EXPIRED_DOCS"
    NEEDS_INSPECTION = "NEEDS_INSPECTION"
    BLOCKED = "BLOCKED"
    INACTIVE = "INACTIVE"


class DocumentType(StrEnum):
    RC = "RC"
    INSURANCE = "INSURANCE"
    PERMIT = "PERMIT"
    FITNESS = "FITNESS"
    PUC = "PUC"


REQUIRED_DOCUMENTS: tuple[DocumentType, ...] = tuple(DocumentType)
INSPECTION_VALIDITY = timedelta(days=120)
INDIA = timezone(timedelta(hours=5, minutes=30), "IST")

MISSING, EXPIRED = "MISSING", "EXPIRED"


def business_date(now: datetime) -> date:
    """The calendar date in India at `now`: the day document expiry dates are compared with."""
    return now.astimezone(INDIA).date()


def document_problems(expiries: Mapping[str, date], today: date) -> dict[str, str]:
    """`{type: MISSING | EXPIRED}` for every required document that is not valid `today`.

    `expiries` holds the expiry date of the newest upload of each type."""
    problems: dict[str, str] = {}
    for doc_type in REQUIRED_DOCUMENTS:
        expiry = expiries.get(doc_type.value)
        if expiry is None:
            problems[doc_type.value] = MISSING
        elif expiry < today:
            problems[doc_type.value] = EXPIRED
    return problems


def inspection_overdue(last_passed_at: datetime | None, now: datetime) -> bool:
    """More than 120 days since the last passed inspection (never inspected is not "overdue":
    such a truck is still PENDING_INSPECTION)."""
    return last_passed_at is not None and now - last_passed_at > INSPECTION_VALIDITY


@dataclass(frozen=True)
class TruckFacts:
    """What the status depends on.

    `blocked`: an active block (ACS or admin) on the truck. `expiries`: expiry date of the newest
    document of each type. `last_passed_at`: the last passed inspection. `failed_since_pass`: an
    inspection failed after the last pass (only consulted when a block is lifted)."""

    status: TruckStatus
    blocked: bool = False
    expiries: Mapping[str, date] = field(default_factory=dict)
    last_passed_at: datetime | None = None
    failed_since_pass: bool = False


def effective_status(stored: TruckStatus, *, blocked: bool) -> TruckStatus:
    """The status callers see: an active block shows as BLOCKED at once, before any job or
    upload has stored it. A retired truck stays INACTIVE."""
    if stored is TruckStatus.INACTIVE:
        return stored
    return TruckStatus.BLOCKED if blocked else stored


def _working_status(facts: TruckFacts, now: datetime) -> TruckStatus:
    """ACTIVE, or why a truck that has passed an inspection cannot work."""
    if inspection_overdue(facts.last_passed_at, now):
        return TruckStatus.NEEDS_INSPECTION
    if document_problems(facts.expiries, business_date(now)):
        return TruckStatus.EXPIRED_DOCS
    return TruckStatus.ACTIVE


def recompute_status(facts: TruckFacts, *, now: datetime, lift_block: bool = False) -> TruckStatus:
    """The status after documents, time or blocks changed (uploads, the daily jobs, overrides).

    `lift_block=True` is for the override that lifted the truck's block: only then does a stored
    BLOCKED status move again."""
    current = facts.status
    if current is TruckStatus.INACTIVE:
        return current
    if facts.blocked:
        return TruckStatus.BLOCKED
    if current is TruckStatus.BLOCKED:
        if not lift_block:
            return current
        if facts.last_passed_at is None:
            return TruckStatus.PENDING_INSPECTION
        if facts.failed_since_pass:
            return TruckStatus.NEEDS_INSPECTION
        return _working_status(facts, now)
    if current in (TruckStatus.PENDING_INSPECTION, TruckStatus.NEEDS_INSPECTION):
        return current  # only a passed inspection moves these
    return _working_status(facts, now)


def status_after_inspection(facts: TruckFacts, *, passed: bool, now: datetime) -> TruckStatus:
    """The status once an inspection completes at `now` (`passed` or failed).

    A passed inspection restarts the 120-day validity; the truck is ACTIVE if its documents are
    valid, else EXPIRED_DOCS. A blocked or retired truck keeps its status."""
    current = facts.status
    if current is TruckStatus.INACTIVE:
        return current
    if facts.blocked or current is TruckStatus.BLOCKED:
        return TruckStatus.BLOCKED
    if not passed:
        if current is TruckStatus.PENDING_INSPECTION:
            return current
        return TruckStatus.NEEDS_INSPECTION
    if document_problems(facts.expiries, business_date(now)):
        return TruckStatus.EXPIRED_DOCS
    return TruckStatus.ACTIVE


def may_work(status: TruckStatus) -> bool:
    """Only ACTIVE trucks can be bid with or assigned (PRODUCT §5)."""
    return status is TruckStatus.ACTIVE
