"""Override and admin-TOTP use cases (PRODUCT §8, RF18), one transaction each, audit last.

Decisions:
* Four eyes: the requester can neither approve nor reject their own override (403
  OWN_OVERRIDE; the table's CHECK refuses it too). A requester who changed their mind asks
  another admin to reject it.
* Whether an override is critical is stored at request time (from the target then) and judged
  again at approval from the target as it is then; either makes it critical for RF18.
* ACS `admin.override.request` is evaluated at approval, when the approver's TOTP is known:
  RF18 rejects a critical override without a justification or a verified code (403
  OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION). Requiring 2FA is the bundle's decision.
* A TOTP code given at approval is consumed (never accepted again) before ACS runs, even if
  the approval then fails: codes come every 30 seconds. A wrong, replayed or unconfirmed
  enrolment's code is simply not verified; for a critical override RF18 then refuses.
* Approval is one transaction: claim PENDING -> EXECUTED (conditional: of two concurrent
  approvals one executes, the other gets 409), re-read the target (409 and nothing changes if
  there is nothing left to lift, or if it became critical after ACS judged it), execute, tell
  the requester, audit `override.executed` last. An execution error rolls everything back and
  the override stays PENDING.
* FORCE_FINALIZE: the finalizer's ACS checks run after the override's own and before the
  approving transaction, its commit inside it, under the booking's evaluation lock: the
  override is EXECUTED exactly when the booking is FINALIZED (see `executors`).
* The optional `reason` of a decision reaches the requester in their notification only; audit
  entries hold ids, the action, `critical`, numbers and `reasonGiven`, never free text, and a
  device target appears as the SHA-256 of its id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import true
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.bids import repo as bids_repo
from rodistaa.bookings import repo as bookings_repo
from rodistaa.core.actor import Actor
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.finalization.service import Finalizer, Initiator, Method, NoValidBids
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.kyc.status import kyc_status
from rodistaa.notifications.repo import notify
from rodistaa.overrides import executors, repo, totp
from rodistaa.overrides.errors import (
    InvalidTotpCode,
    NoValidCandidate,
    OverrideAlreadyDecided,
    OverrideNotFound,
    OwnOverride,
    TargetNotApplicable,
    TargetNotFound,
    TotpAlreadyConfirmed,
    TotpAlreadyEnrolled,
    TotpNotEnrolled,
)
from rodistaa.overrides.executors import Target
from rodistaa.overrides.repo import OverrideAction, OverrideRecord, OverrideStatus
from rodistaa.overrides.schemas import OverrideCreate

log = structlog.get_logger("rodistaa.overrides")


def _audited_entity_id(entity_type: str, entity_id: str) -> str:
    """Device ids are chosen by clients and may carry anything; the audit log keeps a hash."""
    return hashlib.sha256(entity_id.encode()).hexdigest() if entity_type == "device" else entity_id


def _target_data(record: OverrideRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "action": record.action.value,
        "entityType": record.entity_type,
        "entityId": _audited_entity_id(record.entity_type, record.entity_id),
        "critical": record.critical,
        "requestedBy": record.requested_by,
    }
    if "amountPaise" in record.params:
        data["amountPaise"] = int(record.params["amountPaise"])
    return data


@dataclass(frozen=True)
class _Decision:
    """The approval as judged before its transaction."""

    two_fa: bool
    note: str | None
    acs_event_id: str


def _decision_message(record: OverrideRecord, outcome: str, note: str | None) -> str:
    message = (
        f"Override {record.id} ({record.action.value} {record.entity_type} {record.entity_id}) was {outcome}."
    )
    return f"{message} Note: {note}" if note else message


class OverrideService:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.db
        self._clock = services.clock
        self._data_keys = services.data_keys

    # --- TOTP ----------------------------------------------------------------------------------

    async def enrol_totp(self, actor: Actor) -> totp.Enrolment:
        """A new secret for the admin (replacing an unconfirmed one); 409 once confirmed."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            state = await totp.get_state(conn, actor.user_id)
            if state is not None and state.confirmed:
                raise TotpAlreadyEnrolled()
            enrolment = await totp.store_new_secret(
                conn, self._data_keys, actor.user_id, label=actor.user_id, now=now
            )
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "admin.totp_enrolled", "user", actor.user_id, {}),
                now=now,
            )
        return enrolment

    async def confirm_totp(self, actor: Actor, code: str) -> None:
        """The first valid code confirms the enrolment. 409 TOTP_NOT_ENROLLED / TOTP_ALREADY_CONFIRMED,
        400 INVALID_TOTP_CODE for a wrong, expired or replayed code."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            state = await totp.get_state(conn, actor.user_id)
            if state is None:
                raise TotpNotEnrolled()
            if state.confirmed:
                raise TotpAlreadyConfirmed()
            if not await totp.consume_code(conn, self._data_keys, state, code, now=now):
                raise InvalidTotpCode()
            if not await totp.mark_confirmed(conn, actor.user_id, now=now):
                raise TotpAlreadyConfirmed()  # a concurrent confirmation won
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "admin.totp_confirmed", "user", actor.user_id, {}),
                now=now,
            )

    async def totp_status(self, actor: Actor) -> tuple[bool, bool]:
        async with self._db.read() as conn:
            state = await totp.get_state(conn, actor.user_id)
        return state is not None, state is not None and state.confirmed

    async def _verified_code(self, actor: Actor, code: str) -> bool:
        """True when `code` is the admin's valid, unused code under a confirmed enrolment; the
        code is consumed in its own transaction."""
        async with self._db.transaction() as conn:
            state = await totp.get_state(conn, actor.user_id)
            if state is None or not state.confirmed:
                return False
            verified = await totp.consume_code(conn, self._data_keys, state, code, now=self._clock.now())
        if not verified:
            log.info("override_totp_not_verified", user_id=actor.user_id)
        return verified

    # --- requests ------------------------------------------------------------------------------

    async def request(self, actor: Actor, body: OverrideCreate) -> OverrideRecord:
        """400 for an entity type or params the action does not take, 404 for an unknown
        target, 409 when there is nothing for the action to lift."""
        params = executors.check_request(body.action, body.entityType, body.params)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            record = OverrideRecord(
                id=new_id("OVR"),
                entity_type=body.entityType,
                entity_id=body.entityId,
                action=body.action,
                reason=body.reason,
                justification=body.justification or None,
                params=params,
                critical=False,
                status=OverrideStatus.PENDING,
                requested_by=actor.user_id,
                decided_by=None,
                decided_at=None,
                created_at=now,
                updated_at=now,
            )
            target = await self._inspect(conn, record, now=now)
            record = replace(record, critical=target.critical)
            await repo.insert_override(conn, record)
            data = {**_target_data(record), "justificationGiven": record.justification is not None}
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "override.requested", "override", record.id, data),
                now=now,
            )
        return record

    async def list_overrides(
        self, *, status: OverrideStatus | None, page: PageRequest
    ) -> tuple[list[OverrideRecord], int]:
        async with self._db.read() as conn:
            return await repo.list_overrides(conn, status=status, offset=page.offset, limit=page.limit)

    async def get_override(self, override_id: str) -> OverrideRecord:
        async with self._db.read() as conn:
            record = await repo.get_override(conn, override_id)
        if record is None:
            raise OverrideNotFound()
        return record

    # --- decisions -----------------------------------------------------------------------------

    async def approve(
        self, actor: Actor, override_id: str, *, totp_code: str | None, note: str | None, ip: str | None
    ) -> OverrideRecord:
        """404 unknown; 403 OWN_OVERRIDE; 409 already decided or nothing left to lift; 403
        OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION (RF18); the executor's errors (the ledger's
        422 INSUFFICIENT_BALANCE) roll the approval back."""
        record = await self._pending_for_decision(actor, override_id)
        two_fa = await self._verified_code(actor, totp_code) if totp_code else False
        now = self._clock.now()
        async with self._db.read() as conn:
            target = await self._inspect(conn, record, now=now)
            kyc = await kyc_status(conn, actor.user_id, actor.role)
        ctx = actor_ctx(actor, kyc_status=kyc, ip=ip)
        event = new_event(
            "admin.override.request", ctx, at=now, payload={"overrideId": record.id, "decision": "approve"}
        )
        names = {"override": self._acs_override(record, target, two_fa)}
        await self._services.acs.enforce(event, ProvidedFacts(names=names))
        decision = _Decision(two_fa=two_fa, note=note, acs_event_id=event.id)
        if record.action is OverrideAction.FORCE_FINALIZE:
            executed = await self._approve_finalization(actor, ctx, record, target, decision)
        else:
            executed = await self._execute(actor, record, target, decision, plan=None)
        log.info("override_executed", override_id=record.id, action=record.action.value)
        return executed

    async def _approve_finalization(
        self,
        actor: Actor,
        ctx: Mapping[str, Any],
        record: OverrideRecord,
        judged: Target,
        decision: _Decision,
    ) -> OverrideRecord:
        """The finalizer's ACS part now, its commit in the approving transaction. Holds the
        booking's evaluation lock throughout (409 while a job run or an admin evaluates it)."""
        initiator = Initiator(
            actor.user_id, actor.role.value, ctx, Method.ADMIN, reason=record.reason, override_id=record.id
        )
        bid_id = record.params.get("bidId")
        finalizer = Finalizer(self._services)
        async with finalizer.exclusive(record.entity_id):
            async with self._db.read() as conn:
                booking = await bookings_repo.get_booking(conn, record.entity_id, visible=true())
                bid = await bids_repo.get_bid(conn, bid_id, visible=true()) if bid_id else None
            if booking is None or (bid_id is not None and bid is None):
                raise TargetNotFound()  # the request checked both; bookings and bids are never deleted
            choice = await finalizer.choose(initiator, booking, bid)
            if isinstance(choice, NoValidBids):
                raise NoValidCandidate(details={"skippedBidIds": list(choice.skipped)})
            plan = executors.FinalizationPlan(finalizer, initiator, choice)
            return await self._execute(actor, record, judged, decision, plan=plan)

    async def _execute(
        self,
        actor: Actor,
        record: OverrideRecord,
        judged: Target,
        decision: _Decision,
        *,
        plan: executors.FinalizationPlan | None,
    ) -> OverrideRecord:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            claimed = await repo.claim_decision(
                conn, record.id, to=OverrideStatus.EXECUTED, decided_by=actor.user_id, now=now
            )
            if claimed is None:
                raise OverrideAlreadyDecided()
            current = await self._inspect(conn, record, now=now)
            if current.critical and not judged.critical:
                raise TargetNotApplicable(details={"reason": "the target became critical; approve again"})
            if plan is not None:
                done = await executors.force_finalize(conn, plan, record.entity_id, now=now)
            else:
                done = await executors.execute(
                    conn,
                    record.action,
                    record.entity_type,
                    record.entity_id,
                    record.params,
                    override_id=record.id,
                    approver_id=actor.user_id,
                    now=now,
                )
            message = _decision_message(record, f"approved and executed by {actor.user_id}", decision.note)
            await notify(conn, user_id=record.requested_by, role=Role.ADMIN, message=message, now=now)
            data = {
                **_target_data(record),
                "critical": record.critical or judged.critical,
                "twoFaVerified": decision.two_fa,
                "acsEventId": decision.acs_event_id,
                "reasonGiven": decision.note is not None,
                **done,
            }
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "override.executed", "override", record.id, data),
                now=now,
            )
        return claimed

    async def reject(self, actor: Actor, override_id: str, *, note: str | None) -> OverrideRecord:
        """404 unknown; 403 OWN_OVERRIDE; 409 already decided."""
        await self._pending_for_decision(actor, override_id)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            rejected = await repo.claim_decision(
                conn, override_id, to=OverrideStatus.REJECTED, decided_by=actor.user_id, now=now
            )
            if rejected is None:
                raise OverrideAlreadyDecided()
            message = _decision_message(rejected, f"rejected by {actor.user_id}", note)
            await notify(conn, user_id=rejected.requested_by, role=Role.ADMIN, message=message, now=now)
            data = {**_target_data(rejected), "reasonGiven": note is not None}
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "override.rejected", "override", rejected.id, data),
                now=now,
            )
        return rejected

    async def _pending_for_decision(self, actor: Actor, override_id: str) -> OverrideRecord:
        record = await self.get_override(override_id)
        if record.requested_by == actor.user_id:
            raise OwnOverride()
        if record.status is not OverrideStatus.PENDING:
            raise OverrideAlreadyDecided()
        return record

    # --- helpers -------------------------------------------------------------------------------

    async def _inspect(self, conn: AsyncConnection, record: OverrideRecord, *, now: datetime) -> Target:
        bundle = self._services.acs.bundle
        return await executors.inspect_target(
            conn, bundle, record.action, record.entity_type, record.entity_id, record.params, now=now
        )

    @staticmethod
    def _acs_override(record: OverrideRecord, target: Target, two_fa: bool) -> dict[str, Any]:
        return {
            "id": record.id,
            "entityType": record.entity_type,
            "entityId": record.entity_id,
            "action": record.action.value,
            "reason": record.reason,
            "justification": record.justification,
            "twoFaVerified": two_fa,
            "target": target.names(),
        }
