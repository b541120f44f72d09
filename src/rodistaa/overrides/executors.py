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
* FORCE_FINALIZE is not offered: the finalization service runs its own transactions (and its
  own ACS checks), so it cannot execute inside the override's approving transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.bundle import Bundle
from rodistaa.core.errors import ValidationFailed
from rodistaa.core.money import rupees_to_paise
from rodistaa.fleet.lifecycle import sync_status
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
}


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
    if action is not OverrideAction.LEDGER_ADJUSTMENT:
        if params:
            raise ValidationFailed.for_field("params", f"{action.value} takes no params")
        return {}
    return {"amountPaise": _adjustment_paise((params or {}).get("amount"))}


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
    *,
    now: datetime,
) -> Target:
    """The target as it is now. TargetNotFound (404) when the entity does not exist,
    TargetNotApplicable (409) when there is nothing for the action to lift."""
    if not await repo.entity_exists(conn, entity_type, entity_id):
        raise TargetNotFound()
    if action is OverrideAction.LEDGER_ADJUSTMENT:
        return Target(None, None, CRITICAL, ())
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
