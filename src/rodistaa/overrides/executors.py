"""What each override action applies to, whether it is critical, and its execution inside the
approving transaction.

Decisions:
* UNBLOCK lifts every block of the entity active at execution (a person's blocks under
  `user`, `operator` and `driver` alike: enforcement reads them together). A truck also leaves
  its sticky BLOCKED status (`fleet.lifecycle.sync_status(lift_block=True)`), which is why a
  truck whose block expired but is still stored BLOCKED can be unblocked too.
* UNFREEZE lifts every active freeze of a shipment; UNSUSPEND every active suspension of an
  account (`user`, `operator` or `driver` naming the account).
* LEDGER_ADJUSTMENT (entity `operator`) posts a signed ADJUSTMENT through `ledger.service.adjust`
  referencing the override; a debit larger than the balance answers the ledger's 422 and the
  override stays PENDING. The ledger description is fixed text: the request's reason is
  internal and the operator reads ledger descriptions.
* Critical: a restriction (block, freeze, suspension) of severity `critical`, or one created
  by a rule whose severity in the active bundle is `critical`; every LEDGER_ADJUSTMENT
  (money), presented to ACS as target severity `critical` so RF18 applies to it.
* FORCE_FINALIZE (entity `booking`, optional `params.bidId`): the booking must be OPEN or
  NEGOTIATION (409 otherwise); a given bid must be one of its bids (400 on `params.bidId`) and
  ACTIVE (409). At approval the finalizer's ACS part (`bid.finalize`, and `bid.evaluate` without
  a bid id) runs before the approving transaction and its commit inside it (`force_finalize`),
  method `admin`, finalized by the approving admin, `bookings.finalize_reason` = the override's
  reason. No valid candidate answers 409 NO_VALID_BIDS and nothing changes: the override
  finalizes or stays PENDING, it never cancels (an admin cancels a booking directly).
* REOPEN_INSPECTION (entity `inspection`): a FAILED or ACS-REJECTED inspection that is still its
  truck's latest goes back to PENDING (outcome and rejection code cleared; geotag, checklist and
  photos kept), so its unit can add photos and submit it again, through ACS again. A PASSED one
  is not reopened (undoing a pass would take a working truck out of work: block it instead), nor
  one a newer inspection superseded. The truck is not touched: a failed result already keeps it
  out of work until a passed submission.
* FORCE_FINALIZE and REOPEN_INSPECTION are not critical: the direct admin finalization needs
  no 2FA either, and neither lifts a restriction nor moves money.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import true
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.bundle import Bundle
from rodistaa.bids import repo as bids_repo
from rodistaa.bids.repo import BidStatus
from rodistaa.bookings import repo as bookings_repo
from rodistaa.bookings.repo import OPEN_STATUSES
from rodistaa.core.errors import ValidationFailed
from rodistaa.core.money import rupees_to_paise
from rodistaa.finalization.service import Finalized, Finalizer, Initiator, Win
from rodistaa.fleet.lifecycle import sync_status
from rodistaa.inspections import repo as inspections_repo
from rodistaa.ledger import service as ledger
from rodistaa.ledger.schemas import MAX_DEPOSIT_PAISE
from rodistaa.overrides import repo
from rodistaa.overrides.errors import TargetNotApplicable, TargetNotFound
from rodistaa.overrides.repo import OverrideAction, Restriction

CRITICAL = "critical"
_SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, CRITICAL: 4}

ENTITY_TYPES: dict[OverrideAction, tuple[str, ...]] = {
    OverrideAction.UNBLOCK: ("user", "operator", "driver", "truck", "device", "shipment"),
    OverrideAction.UNFREEZE: ("shipment",),
    OverrideAction.UNSUSPEND: ("user", "operator", "driver"),
    OverrideAction.LEDGER_ADJUSTMENT: ("operator",),
    OverrideAction.FORCE_FINALIZE: ("booking",),
    OverrideAction.REOPEN_INSPECTION: ("inspection",),
}
MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class Target:
    """The target as ACS `override.target` names it, and whether it is critical."""

    rule_id: str | None
    rule_severity: str | None
    severity: str | None
    restriction_ids: tuple[str, ...]

    @property
    def critical(self) -> bool:
        return CRITICAL in (self.rule_severity, self.severity)

    def names(self) -> dict[str, Any]:
        return {"ruleId": self.rule_id, "ruleSeverity": self.rule_severity, "severity": self.severity}


def check_request(action: OverrideAction, entity_type: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The stored params of a valid request; ValidationFailed (400) naming the field otherwise."""
    if entity_type not in ENTITY_TYPES[action]:
        allowed = ", ".join(ENTITY_TYPES[action])
        raise ValidationFailed.for_field("entityType", f"{action.value} applies to: {allowed}")
    if action is OverrideAction.LEDGER_ADJUSTMENT:
        return {"amountPaise": _adjustment_paise((params or {}).get("amount"))}
    if action is OverrideAction.FORCE_FINALIZE:
        return _finalize_params(params or {})
    if params:
        raise ValidationFailed.for_field("params", f"{action.value} takes no params")
    return {}


def _finalize_params(params: Mapping[str, Any]) -> dict[str, Any]:
    if set(params) - {"bidId"}:
        raise ValidationFailed.for_field("params", "FORCE_FINALIZE takes only bidId")
    bid_id = params.get("bidId")
    if bid_id is None:
        return {}
    if not isinstance(bid_id, str) or not 0 < len(bid_id.strip()) <= MAX_ID_LENGTH:
        raise ValidationFailed.for_field("params.bidId", "must be a bid id")
    return {"bidId": bid_id.strip()}


def _adjustment_paise(amount: object) -> int:
    field = "params.amount"
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ValidationFailed.for_field(field, "must be a number of rupees (signed)")
    try:
        paise = rupees_to_paise(amount)
    except ValueError as exc:
        raise ValidationFailed.for_field(field, str(exc)) from None
    if paise == 0:
        raise ValidationFailed.for_field(field, "must not be 0")
    if abs(paise) > MAX_DEPOSIT_PAISE:
        raise ValidationFailed.for_field(field, "is beyond the largest amount the ledger accepts at once")
    return paise


def _rank(severity: str | None) -> int:
    return _SEVERITY_RANK.get((severity or "").lower(), 0)


def _target_of(restrictions: list[Restriction], rule_severity: Callable[[str | None], str | None]) -> Target:
    """The most severe restriction (by its own severity or its rule's) stands for the target."""
    ids = tuple(sorted(r.id for r in restrictions))
    scored = [(max(_rank(r.severity), _rank(rule_severity(r.rule_id))), r) for r in restrictions]
    _, worst = max(scored, key=lambda pair: (pair[0], pair[1].id))
    severity = worst.severity.lower() if worst.severity else None
    return Target(worst.rule_id, rule_severity(worst.rule_id), severity, ids)


def _rule_severity_in(bundle: Bundle) -> Callable[[str | None], str | None]:
    def severity(rule_id: str | None) -> str | None:
        rule = bundle.get(rule_id) if rule_id else None
        return rule.severity.lower() if rule is not None else None

    return severity


async def inspect_target(
    conn: AsyncConnection,
    bundle: Bundle,
    action: OverrideAction,
    entity_type: str,
    entity_id: str,
    params: Mapping[str, Any],
    *,
    now: datetime,
) -> Target:
    """The target as it is now. TargetNotFound (404) when the entity does not exist,
    TargetNotApplicable (409) when there is nothing for the action to lift (or the booking or
    inspection is not in a state the action applies to)."""
    if not await repo.entity_exists(conn, entity_type, entity_id):
        raise TargetNotFound()
    if action is OverrideAction.LEDGER_ADJUSTMENT:
        return Target(None, None, CRITICAL, ())
    if action is OverrideAction.FORCE_FINALIZE:
        await _check_finalizable(conn, entity_id, params.get("bidId"))
        return Target(None, None, None, ())
    if action is OverrideAction.REOPEN_INSPECTION:
        await _check_reopenable(conn, entity_id)
        return Target(None, None, None, ())
    restrictions = await _restrictions(conn, action, entity_type, entity_id, now=now)
    if restrictions:
        return _target_of(restrictions, _rule_severity_in(bundle))
    if (
        action is OverrideAction.UNBLOCK
        and entity_type == "truck"
        and await repo.truck_stored_blocked(conn, entity_id)
    ):
        return Target(None, None, None, ())  # the block is gone; only the sticky status is left
    raise TargetNotApplicable()


async def _check_finalizable(conn: AsyncConnection, booking_id: str, bid_id: str | None) -> None:
    booking = await bookings_repo.get_booking(conn, booking_id, visible=true())
    if booking is None or booking.status not in OPEN_STATUSES:
        raise TargetNotApplicable(details={"reason": "the booking is not taking bids"})
    if bid_id is None:
        return
    bid = await bids_repo.get_bid(conn, bid_id, visible=true())
    if bid is None or bid.booking_id != booking_id:
        raise ValidationFailed.for_field("params.bidId", "is not a bid of this booking")
    if bid.status is not BidStatus.ACTIVE:
        raise TargetNotApplicable(details={"reason": "the bid is not ACTIVE"})


async def _check_reopenable(conn: AsyncConnection, inspection_id: str) -> None:
    status, latest = await inspections_repo.status_if_latest(conn, inspection_id)
    if status not in inspections_repo.REOPENABLE:
        raise TargetNotApplicable(details={"reason": "only a FAILED or REJECTED inspection is reopened"})
    if not latest:
        raise TargetNotApplicable(details={"reason": "a newer inspection of the truck exists"})


async def _restrictions(
    conn: AsyncConnection, action: OverrideAction, entity_type: str, entity_id: str, *, now: datetime
) -> list[Restriction]:
    if action is OverrideAction.UNBLOCK:
        return await repo.active_blocks(conn, entity_type, entity_id, now)
    if action is OverrideAction.UNFREEZE:
        return await repo.active_freezes(conn, entity_id)
    return await repo.active_suspensions(conn, entity_id, now)


async def execute(
    conn: AsyncConnection,
    action: OverrideAction,
    entity_type: str,
    entity_id: str,
    params: dict[str, Any],
    *,
    override_id: str,
    approver_id: str,
    now: datetime,
) -> dict[str, Any]:
    """Apply the action inside the approving transaction; returns what it did, for the audit
    entry (ids and numbers only). The caller has re-inspected the target in this transaction."""
    if action is OverrideAction.UNBLOCK:
        lifted = await repo.lift_blocks(conn, entity_type, entity_id, lifted_by=approver_id, now=now)
        done: dict[str, Any] = {"liftedBlockIds": lifted}
        if entity_type == "truck":
            change = await sync_status(conn, entity_id, now=now, lift_block=True)
            if change is not None:
                done["truckStatusFrom"], done["truckStatusTo"] = change.before.value, change.after.value
        return done
    if action is OverrideAction.UNFREEZE:
        return {"liftedFreezeIds": await repo.lift_freezes(conn, entity_id, lifted_by=approver_id, now=now)}
    if action is OverrideAction.UNSUSPEND:
        return {
            "liftedSuspensionIds": await repo.lift_suspensions(
                conn, entity_id, lifted_by=approver_id, now=now
            )
        }
    if action is OverrideAction.REOPEN_INSPECTION:
        return await _reopen_inspection(conn, entity_id)
    if action is OverrideAction.FORCE_FINALIZE:
        raise ValueError("FORCE_FINALIZE executes through force_finalize, with its finalization choice")
    entry = await ledger.adjust(
        conn,
        entity_id,
        int(params["amountPaise"]),
        override_id=override_id,
        description=f"Adjustment approved under override {override_id}",
        created_by=approver_id,
        now=now,
    )
    return {"ledgerEntryId": entry.id, "amountPaise": entry.amount_paise}


async def _reopen_inspection(conn: AsyncConnection, inspection_id: str) -> dict[str, Any]:
    status, _ = await inspections_repo.status_if_latest(conn, inspection_id)
    if status is None or not await inspections_repo.reopen(conn, inspection_id, from_status=status):
        raise TargetNotApplicable()  # re-inspected in this transaction: unreachable but for a bug
    return {"inspectionStatusFrom": status, "inspectionStatusTo": inspections_repo.PENDING}


@dataclass(frozen=True)
class FinalizationPlan:
    """What ACS chose for a FORCE_FINALIZE before the approving transaction."""

    finalizer: Finalizer
    initiator: Initiator
    choice: Win


async def force_finalize(
    conn: AsyncConnection, plan: FinalizationPlan, booking_id: str, *, now: datetime
) -> dict[str, Any]:
    """The finalization's commit inside the approving transaction; its errors (the booking
    finalized or cancelled meanwhile, the bid withdrawn or changed, the winner's standing lost)
    roll the approval back."""
    result = await plan.finalizer.commit(conn, plan.initiator, booking_id, plan.choice, now=now)
    if not isinstance(result, Finalized):
        raise ValueError("a Win commits a finalization")
    return {
        "bookingStatus": result.booking.status.value,
        "bidId": result.bid.id,
        "operatorId": result.bid.operator_id,
        "shipmentId": result.shipment.id,
        "skippedBidIds": list(result.skipped_bid_ids),
    }
