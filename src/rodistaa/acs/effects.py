"""Persisting a decision: the evaluated event, the side effects of matched enforce rules and
their audit entries, in one transaction of their own (a rejected business change rolls back
without taking the fraud signals with it).

Each effect is idempotent per (event id, rule id, action, target): the key is claimed with an
insert that a primary key makes unique, and only the claimant applies the effect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs import actions as acts
from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.engine import AcsEvent, Decision, Effect
from rodistaa.acs.queues import flag_watchlist
from rodistaa.acs.tables import (
    acs_blocks,
    acs_effect_keys,
    acs_events,
    acs_shipment_freezes,
    acs_suspensions,
    notifications,
    outbox_events,
    tickets,
)
from rodistaa.core.ids import new_id

log = structlog.get_logger("rodistaa.acs")

DEFAULT_SUSPENSION_DAYS = 30
ACS_ACTOR = "system:acs"

# notifyRole addresses the users of a role *tied to the event*: these context paths name them.
_ROLE_RECIPIENT_PATHS: Mapping[str, tuple[str, ...]] = {
    "operator": (
        "shipment.operatorId",
        "operator.id",
        "bid.operatorId",
        "truck.operatorId",
        "ctx.operatorId",
    ),
    "shipper": ("shipment.shipperId", "booking.shipperId"),
    "driver": ("shipment.driverId", "driver.id"),
}


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _insert(conn: AsyncConnection):  # type: ignore[no-untyped-def]
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


async def record_decisions(
    conn: AsyncConnection,
    decided: Sequence[tuple[AcsEvent, Mapping[str, Any], Mapping[str, Any], Decision]],
) -> set[str]:
    """Store each evaluated event once, all in one statement; returns the ids stored now (an
    event id evaluated before is ignored: its effects exist already)."""
    if not decided:
        return set()
    rows = [
        {
            "event_id": event.id,
            "event_type": event.type,
            "at": event.at,
            "actor_id": event.ctx.get("userId"),
            "event": _json(event.as_context()),
            "context": _json({k: v for k, v in context.items() if k != "event"}),
            "facts": _json(dict(facts)),
            "outcome": decision.outcome.value,
            "code": decision.code,
            "rule_id": decision.rule_id,
            "matched": _json([m.rule_id for m in decision.matched]),
            "revision": decision.revision,
        }
        for event, context, facts, decision in decided
    ]
    # The rows go as parameters (one cached statement, still one multi-row INSERT on the wire).
    stmt = (
        _insert(conn)(acs_events)
        .on_conflict_do_nothing(index_elements=[acs_events.c.event_id])
        .returning(acs_events.c.event_id)
    )
    return set((await conn.execute(stmt, rows)).scalars())


async def apply_effects(
    conn: AsyncConnection, event: AcsEvent, context: Mapping[str, Any], decision: Decision, *, now: datetime
) -> list[str]:
    """Apply every side effect once; returns problems (unusable parameters) for the log."""
    problems: list[str] = []
    for effect in decision.effects:
        try:
            await _APPLIERS[effect.action](conn, event, context, effect, now)
        except _BadEffect as exc:
            problems.append(f"{effect.rule_id}.{effect.action}: {exc}")
    return problems


async def append_rule_audits(
    conn: AsyncConnection, event: AcsEvent, decision: Decision, *, now: datetime
) -> None:
    """One audit entry per matched rule with `audit: true` (shadow matches included, marked).
    Appended last in the transaction so the chain's append lock is held only briefly."""
    for match in (*decision.matched, *decision.shadow_matched):
        if not match.audit:
            continue
        await append(
            conn,
            AuditEntryDraft(
                actor=ACS_ACTOR,
                action="acs.rule_matched" if not match.shadow else "acs.rule_matched_shadow",
                entity_type="event",
                entity_id=event.id,
                rule_id=match.rule_id,
                rule_version=match.rule_version,
                bundle_revision=decision.revision,
                data={
                    "eventType": event.type,
                    "outcome": decision.outcome.value,
                    "decisiveRule": decision.rule_id == match.rule_id,
                    "actions": [name for name, _ in match.actions],
                    "actionErrors": len(match.action_errors),
                    # Paths and function names only: values (and call arguments) may be personal.
                    "reasonPaths": sorted({key.split("(", 1)[0] for key in match.reasons}),
                },
            ),
            now=now,
        )


class _BadEffect(Exception):
    pass


async def _claim(conn: AsyncConnection, event: AcsEvent, effect: Effect, target: str, now: datetime) -> bool:
    stmt = _insert(conn)(acs_effect_keys).values(
        event_id=event.id, rule_id=effect.rule_id, action=effect.action, target=target[:256], applied_at=now
    )
    return (await conn.execute(stmt.on_conflict_do_nothing())).rowcount == 1


def _text(effect: Effect, key: str) -> str:
    value = effect.params.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise _BadEffect(f"{key} must be a non-empty string")
    return str(value)


def _ids(effect: Effect, key: str) -> list[str]:
    """One id or a list of ids; an empty list means there is nothing to act on."""
    value = effect.params.get(key)
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v for v in values):
        raise _BadEffect(f"{key} must be an id or a list of ids")
    return list(dict.fromkeys(values))


async def _block(
    conn: AsyncConnection, event: AcsEvent, context: Mapping[str, Any], effect: Effect, now: datetime
) -> None:
    entity_type = _text(effect, "entityType")
    if entity_type not in acts.BLOCKABLE_ENTITY_TYPES:
        raise _BadEffect(f"entityType '{entity_type}' cannot be blocked")
    expires_s = acts.duration_seconds(effect.params["expiresIn"]) if "expiresIn" in effect.params else None
    for entity_id in _ids(effect, "entityId"):
        if not await _claim(conn, event, effect, f"{entity_type}:{entity_id}", now):
            continue
        await conn.execute(
            acs_blocks.insert().values(
                id=new_id("BLK"),
                entity_type=entity_type,
                entity_id=entity_id,
                reason=_text(effect, "reason"),
                severity=_text(effect, "severity").lower(),
                source="ACS",
                rule_id=effect.rule_id,
                event_id=event.id,
                created_at=now,
                expires_at=now + timedelta(seconds=expires_s) if expires_s else None,
            )
        )
        await _outbox(
            conn,
            "acs.block",
            {"entityType": entity_type, "entityId": entity_id, "reason": _text(effect, "reason")},
            event,
            effect,
            now,
        )


async def _freeze(
    conn: AsyncConnection, event: AcsEvent, context: Mapping[str, Any], effect: Effect, now: datetime
) -> None:
    shipment_id = _text(effect, "shipmentId")
    if await _claim(conn, event, effect, shipment_id, now):
        await conn.execute(
            acs_shipment_freezes.insert().values(
                id=new_id("FRZ"),
                shipment_id=shipment_id,
                reason=_text(effect, "reason"),
                rule_id=effect.rule_id,
                event_id=event.id,
                created_at=now,
            )
        )


async def _suspend(
    conn: AsyncConnection, event: AcsEvent, context: Mapping[str, Any], effect: Effect, now: datetime
) -> None:
    account_id = _text(effect, "accountId")
    days = effect.params.get("days", DEFAULT_SUSPENSION_DAYS)
    if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
        raise _BadEffect("days must be a positive integer")
    if await _claim(conn, event, effect, account_id, now):
        await conn.execute(
            acs_suspensions.insert().values(
                id=new_id("SUS"),
                account_id=account_id,
                reason=_text(effect, "reason"),
                severity=_text(effect, "severity").lower(),
                rule_id=effect.rule_id,
                event_id=event.id,
                created_at=now,
                until=now + timedelta(days=days),
            )
        )


async def _watchlist(
    conn: AsyncConnection, event: AcsEvent, context: Mapping[str, Any], effect: Effect, now: datetime
) -> None:
    entity_type, reason = _text(effect, "entityType"), _text(effect, "reason")
    for entity_id in _ids(effect, "entityId"):
        if not await _claim(conn, event, effect, f"{entity_type}:{entity_id}", now):
            continue
        await flag_watchlist(conn, entity_type=entity_type, entity_id=entity_id, reason=reason, now=now)


async def _ticket(
    conn: AsyncConnection, event: AcsEvent, context: Mapping[str, Any], effect: Effect, now: datetime
) -> None:
    refs = effect.params.get("refs", [])
    if not isinstance(refs, list):
        refs = [refs]
    target = f"{_text(effect, 'team')}:{_text(effect, 'summary')[:200]}"
    if await _claim(conn, event, effect, target, now):
        await conn.execute(
            tickets.insert().values(
                id=new_id("TKT"),
                team=_text(effect, "team"),
                kind="MANUAL_REVIEW" if effect.action == "requireManualReview" else "TICKET",
                summary=_text(effect, "summary")[:512],
                refs=_json([str(r) for r in refs]),
                status="OPEN",
                rule_id=effect.rule_id,
                event_id=event.id,
                created_at=now,
                updated_at=now,
            )
        )


async def _emit(
    conn: AsyncConnection, event: AcsEvent, context: Mapping[str, Any], effect: Effect, now: datetime
) -> None:
    name = _text(effect, "name")
    if await _claim(conn, event, effect, name, now):
        payload = effect.params.get("payload", {})
        await _outbox(
            conn, name, payload if isinstance(payload, dict) else {"value": payload}, event, effect, now
        )


async def _outbox(
    conn: AsyncConnection,
    name: str,
    payload: Mapping[str, Any],
    event: AcsEvent,
    effect: Effect,
    now: datetime,
) -> None:
    await conn.execute(
        outbox_events.insert().values(
            id=new_id("OBX"),
            name=name,
            payload=_json(dict(payload)),
            source_event_id=event.id,
            rule_id=effect.rule_id,
            created_at=now,
        )
    )


async def _notify(
    conn: AsyncConnection, event: AcsEvent, context: Mapping[str, Any], effect: Effect, now: datetime
) -> None:
    role = _text(effect, "role").lower()
    # No owner tied to the event: one notification addressed to every user of the role.
    recipients: list[str | None] = list(recipients_for_role(role, context)) or [None]
    for user_id in recipients:
        if not await _claim(conn, event, effect, f"{role}:{user_id or '*'}", now):
            continue
        await conn.execute(
            notifications.insert().values(
                id=new_id("NTF"),
                user_id=user_id,
                role=role.upper(),
                message=_text(effect, "message")[:1024],
                event_id=event.id,
                rule_id=effect.rule_id,
                created_at=now,
            )
        )


def recipients_for_role(role: str, context: Mapping[str, Any]) -> list[str]:
    """Users of `role` tied to the event; an empty list addresses everyone with the role
    (staff roles such as admin have no per-event owner)."""
    found: list[str] = []
    for path in _ROLE_RECIPIENT_PATHS.get(role, ()):
        value: Any = context
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value and value not in found:
            found.append(value)
            break  # the most specific owner wins: the shipment's operator over the caller
    return found


_APPLIERS = {
    "blockEntity": _block,
    "freezeShipment": _freeze,
    "suspendAccount": _suspend,
    "flagWatchlist": _watchlist,
    "createTicket": _ticket,
    "requireManualReview": _ticket,
    "emitEvent": _emit,
    "notifyRole": _notify,
}
