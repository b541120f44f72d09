"""Delivery use cases (PRODUCT §6 "Delivery"): the driver's POD upload with the delivery OTP,
the OTP retry on a stored POD, and reading PODs.

Upload, in order:
1. The shipment must be visible to the driver (404), stored IN_TRANSIT or OTP_PENDING and not
   frozen (409). ACS `pod.uploaded` runs first with the file's SHA-256 and where that hash was
   already used (RF07: another shipment's → 403 POD_DUPLICATE, freeze, watchlist, ticket;
   RF08: capture time outside the trip → 403 POD_TIMESTAMP_MISMATCH, ticket). Nothing is
   stored when ACS refuses. The same file again on the SAME shipment is allowed (a retry).
2. The file is encrypted with the shipper's data key (the consignment is the shipper's; the
   delivery OTP is kept under the same key) and put in storage before the transaction; if the
   transaction does not commit, the file is deleted again.
3. The typed OTP is checked (constant-time), then one transaction records the outcome:
   * correct: after ACS `shipment.complete` allows it (RF03), the shipment is claimed
     COMPLETED, the OTP consumed (only if it is still the code checked), the POD inserted,
     shipper and operator notified, `shipment.completed` put in the outbox and audited last.
     After the commit ACS `shipment.completed` observes it (RF19 triad collusion).
   * wrong, expired, locked or never issued: the POD is KEPT (the goods did arrive; the retry
     is `POST /v1/shipments/{id}/complete` with only the code) and IN_TRANSIT moves to
     OTP_PENDING. Only a WRONG code against the live OTP counts an attempt (locked at ACS's
     `system.config.otpRetryLimit`, the limit RF04 compares with; nothing counted past the
     lock): an expired, locked or never-issued OTP says nothing about guessing, and counting
     it would block an honest driver as a brute-forcer. After the commit, for a counted
     attempt only, ACS `security.otp_attempt` sees the new count (RF04 blocks the shipment at
     the limit); then ACS `shipment.complete` answers RF03's `403 OTP_REQUIRED`, whose details
     carry `podId`, `attemptsRemaining` and `otpVerdict`. The service refuses with
     OTP_REQUIRED even if the active bundle does not.
     If the process dies, or ACS fails, between the commit and `security.otp_attempt`, the
     OTP is still locked at the limit (brute force is stopped by the lock itself) but RF04's
     block, ticket and notification are missing; an ACS failure there is logged (never the
     code) and the driver still gets the OTP_REQUIRED answer, not a 500.
Every transaction locks the shipment row first and re-checks state and freeze: of concurrent
uploads or retries exactly one completes, the others answer 409 and store nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.acs.service import PolicyRejected
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.db.outbox import insert_outbox_event
from rodistaa.delivery import otp, repo
from rodistaa.delivery.errors import OtpRequired, PodFileErased, PodRequired
from rodistaa.delivery.otp import OtpState, OtpVerdict
from rodistaa.delivery.repo import PodRecord
from rodistaa.fleet import repo as fleet_repo
from rodistaa.fleet.facts import epoch_ms, operator_names
from rodistaa.http.services import Services
from rodistaa.kyc.status import kyc_status
from rodistaa.notifications.repo import notify
from rodistaa.ops.metrics import SHIPMENTS_COMPLETED
from rodistaa.security.envelope import DataKeyDestroyed, decrypt, encrypt
from rodistaa.shipments import repo as shipments_repo
from rodistaa.shipments.facts import shipment_names
from rodistaa.shipments.repo import ShipmentRecord, readable
from rodistaa.shipments.status import EN_ROUTE_STATUSES, IllegalTransition, ShipmentStatus, require_transition
from rodistaa.users import repo as users_repo

log = structlog.get_logger("rodistaa.delivery")

# RF19 counts the triad's completions over this window (the completion itself included).
TRIAD_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class PodUpload:
    shipment_id: str
    data: bytes
    content_type: str  # sniffed from the bytes
    otp: str
    metadata_timestamp: datetime | None


@dataclass(frozen=True)
class DeliveryResult:
    shipment: ShipmentRecord
    pod: PodRecord

    @property
    def completed(self) -> bool:
        return self.shipment.status is ShipmentStatus.COMPLETED


@dataclass(frozen=True)
class _Attempt:
    """Who is completing which shipment, with which code, and the ACS context of the request."""

    actor: Actor
    shipment: ShipmentRecord
    code: str
    ctx: dict[str, Any]
    now: datetime
    # The other shipment ACS was shown as already holding the uploaded file (RF07), if any.
    reuse_judged: str | None = None


@dataclass(frozen=True)
class _Failure:
    """A refused code, as recorded: the shipment and OTP after the transaction."""

    verdict: OtpVerdict
    shipment: ShipmentRecord
    otp: OtpState | None
    counted: bool
    pod_id: str


def file_aad(pod_id: str) -> bytes:
    return f"pod:{pod_id}:file".encode()


def storage_key(shipment_id: str, pod_id: str) -> str:
    return f"pod/{shipment_id}/{pod_id}"


def attempts_remaining(state: OtpState | None, retry_limit: int) -> int | None:
    if state is None:
        return None
    return 0 if state.locked else max(0, retry_limit - state.attempts)


class DeliveryService:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.db
        self._clock = services.clock
        self._acs = services.acs
        self._storage = services.storage
        self._hmac_key = services.settings.hmac_key.encode()

    @property
    def pod_max_bytes(self) -> int:
        return self._services.settings.pod_max_bytes

    @property
    def otp_retry_limit(self) -> int:
        """The limit RF04 compares `shipment.otpAttempts` with: locking at another figure would
        block without a lock, or lock without a block."""
        return int(self._acs.system_config["otpRetryLimit"])

    # --- the driver ------------------------------------------------------------------------

    async def upload_pod(self, actor: Actor, upload: PodUpload, *, ip: str | None = None) -> DeliveryResult:
        """404 unless the caller is the shipment's driver; 409 when it is not en route or is
        frozen; PolicyRejected from ACS (POD_DUPLICATE, POD_TIMESTAMP_MISMATCH); OtpRequired
        (403) after the POD was stored when the code is not accepted."""
        now = self._clock.now()
        file_hash = hashlib.sha256(upload.data).hexdigest()
        async with self._db.read() as conn:
            shipment = await self._en_route_shipment(conn, actor, upload.shipment_id, now)
            kyc = await kyc_status(conn, actor.user_id, actor.role)
            used_on = await repo.hash_used_on(conn, file_hash, shipment_id=shipment.id)
        pod_id = new_id("POD")
        pod = PodRecord(
            id=pod_id,
            shipment_id=shipment.id,
            uploaded_by=actor.user_id,
            storage_key=storage_key(shipment.id, pod_id),
            file_sha256=file_hash,
            size_bytes=len(upload.data),
            content_type=upload.content_type,
            metadata_timestamp=upload.metadata_timestamp,
            created_at=now,
        )
        attempt = _Attempt(
            actor,
            shipment,
            upload.otp,
            actor_ctx(actor, kyc_status=kyc, ip=ip, uploaderId=actor.user_id),
            now,
        )
        attempt = replace(attempt, reuse_judged=used_on)
        await self._judge_pod(attempt, pod)
        await self._put_file(shipment.shipper_id, pod, upload.data)
        try:
            outcome = await self._settle_new_pod(attempt, pod)
        except BaseException:
            await self._discard(pod.storage_key)
            raise
        return await self._after_commit(attempt, outcome, pod)

    async def _judge_pod(self, attempt: _Attempt, pod: PodRecord) -> None:
        """ACS `pod.uploaded` (RF07 reused file, RF08 time window); raises PolicyRejected."""
        event = new_event(
            "pod.uploaded",
            attempt.ctx,
            at=attempt.now,
            payload={"podId": pod.id, "shipmentId": attempt.shipment.id},
        )
        names = _pod_names(attempt.shipment, pod, attempt.reuse_judged)
        await self._acs.enforce(event, ProvidedFacts(names=names))

    async def _settle_new_pod(self, attempt: _Attempt, pod: PodRecord) -> ShipmentRecord | _Failure:
        """`_settle` for a new POD. When another shipment recorded the same file after ACS
        judged this one, ACS judges again with that knowledge (RF07 refuses, freezes and flags
        as for any reuse; a bundle that allows reuse lets it through)."""
        while True:
            try:
                return await self._settle(attempt, pod, new_pod=True)
            except _FileTakenMeanwhile as taken:
                attempt = replace(attempt, reuse_judged=taken.shipment_id)
                await self._judge_pod(attempt, pod)

    async def complete(
        self, actor: Actor, shipment_id: str, code: str, *, ip: str | None = None
    ) -> DeliveryResult:
        """The retry after a refused code: the same OTP check on the POD already stored. 404
        unless the caller is the driver, 409 when not en route, frozen, or without a POD."""
        now = self._clock.now()
        async with self._db.read() as conn:
            shipment = await self._en_route_shipment(conn, actor, shipment_id, now)
            pod = await repo.latest_pod(conn, shipment.id)
            kyc = await kyc_status(conn, actor.user_id, actor.role)
        if pod is None:
            raise PodRequired()
        attempt = _Attempt(actor, shipment, code, actor_ctx(actor, kyc_status=kyc, ip=ip), now)
        outcome = await self._settle(attempt, pod, new_pod=False)
        return await self._after_commit(attempt, outcome, pod)

    async def _en_route_shipment(
        self, conn: AsyncConnection, actor: Actor, shipment_id: str, now: datetime
    ) -> ShipmentRecord:
        shipment = await shipments_repo.get_shipment(conn, shipment_id, visible=readable(actor))
        # Drivers see only the shipments they are assigned to; the routes admit drivers only.
        if shipment is None or shipment.driver_id != actor.user_id:
            raise NotFound()
        await _require_completable(conn, shipment, now)
        return shipment

    # --- recording the outcome -------------------------------------------------------------

    async def _settle(self, attempt: _Attempt, pod: PodRecord, *, new_pod: bool) -> ShipmentRecord | _Failure:
        """Check the code and record the outcome in one transaction (inserting `pod` when it is
        `new_pod`); the completed shipment, or the recorded failure. Raises before anything
        commits when ACS refuses the completion or the shipment moved meanwhile."""
        async with self._db.read() as conn:
            state = await otp.get_state(conn, attempt.shipment.id)
        verdict = otp.check_code(self._hmac_key, state, attempt.code, attempt.now)
        inserted = pod if new_pod else None
        if verdict is not OtpVerdict.VALID:
            return await self._record_failure(attempt, verdict, state, inserted, pod.id)
        assert state is not None
        event = new_event(
            "shipment.complete", attempt.ctx, at=attempt.now, payload={"shipmentId": attempt.shipment.id}
        )
        names = {"shipment": shipment_names(attempt.shipment, otp=state, otp_valid=True)}
        await self._acs.enforce(event, ProvidedFacts(names=names))
        return await self._record_completion(attempt, state, inserted, pod, acs_event_id=event.id)

    async def _record_completion(
        self,
        attempt: _Attempt,
        state: OtpState,
        new_pod: PodRecord | None,
        pod: PodRecord,
        *,
        acs_event_id: str,
    ) -> ShipmentRecord:
        now = attempt.now
        async with self._db.transaction() as conn:
            current = await _locked_completable(conn, attempt.shipment.id, now)
            completed = await shipments_repo.claim_status(
                conn,
                current.id,
                expected=EN_ROUTE_STATUSES,
                target=ShipmentStatus.COMPLETED,
                now=now,
                completed_at=now,
            )
            if completed is None:  # cannot happen under the row lock; kept as the guard
                raise IllegalTransition()
            if not await otp.consume(conn, state, now=now):
                # Re-issued, locked or expired since it was checked: the newer state wins.
                raise OtpRequired(details={"podId": pod.id, "otpVerdict": OtpVerdict.WRONG.value})
            if new_pod is not None:
                await _insert_new_pod(conn, new_pod, reuse_judged=attempt.reuse_judged)
            message = f"Shipment {completed.id} delivered"
            await notify(conn, user_id=completed.shipper_id, role=Role.SHIPPER, message=message, now=now)
            await notify(conn, user_id=completed.operator_id, role=Role.OPERATOR, message=message, now=now)
            await insert_outbox_event(
                conn, name="shipment.completed", payload=_completed_payload(completed, pod), now=now
            )
            if new_pod is not None:
                await _audit_pod(conn, attempt.actor, new_pod, now)
            data = {
                "bookingId": completed.booking_id,
                "shipperId": completed.shipper_id,
                "operatorId": completed.operator_id,
                "driverId": completed.driver_id,
                "from": current.status.value,
                "to": completed.status.value,
                "podId": pod.id,
                "fileSha256": pod.file_sha256,
                "otpAttempts": state.attempts,
                "acsEventId": acs_event_id,
            }
            await append(
                conn,
                AuditEntryDraft(attempt.actor.user_id, "shipment.completed", "shipment", completed.id, data),
                now=now,
            )
        SHIPMENTS_COMPLETED.inc()  # committed: the claim above makes this once per shipment
        return completed

    async def _record_failure(
        self,
        attempt: _Attempt,
        verdict: OtpVerdict,
        checked: OtpState | None,
        new_pod: PodRecord | None,
        pod_id: str,
    ) -> _Failure:
        """Keep the POD, count a WRONG code against the OTP it was checked against (nothing else
        counts), move IN_TRANSIT to OTP_PENDING; audited."""
        now = attempt.now
        async with self._db.transaction() as conn:
            current = await _locked_completable(conn, attempt.shipment.id, now)
            if new_pod is not None:
                await _insert_new_pod(conn, new_pod, reuse_judged=attempt.reuse_judged)
            counted = None
            if verdict is OtpVerdict.WRONG and checked is not None:
                counted = await otp.count_failed_attempt(
                    conn, checked, retry_limit=self.otp_retry_limit, now=now
                )
            state = counted or await otp.get_state(conn, current.id)
            moved = None
            if current.status is ShipmentStatus.IN_TRANSIT:
                require_transition(current.status, ShipmentStatus.OTP_PENDING)
                moved = await shipments_repo.claim_status(
                    conn,
                    current.id,
                    expected=[ShipmentStatus.IN_TRANSIT],
                    target=ShipmentStatus.OTP_PENDING,
                    now=now,
                )
            shipment = moved or current
            if new_pod is not None:
                await _audit_pod(conn, attempt.actor, new_pod, now)
            data = {
                "podId": pod_id,
                "otpVerdict": verdict.value,
                "attemptCounted": counted is not None,
                "otpAttempts": state.attempts if state else 0,
                "otpLocked": bool(state and state.locked),
                "from": current.status.value,
                "to": shipment.status.value,
            }
            await append(
                conn,
                AuditEntryDraft(attempt.actor.user_id, "shipment.otp_rejected", "shipment", current.id, data),
                now=now,
            )
        return _Failure(verdict, shipment, state, counted is not None, pod_id)

    async def _after_commit(
        self, attempt: _Attempt, outcome: ShipmentRecord | _Failure, pod: PodRecord
    ) -> DeliveryResult:
        if isinstance(outcome, _Failure):
            await self._refuse(attempt, outcome)  # always raises
        assert isinstance(outcome, ShipmentRecord)
        await self._observe_completion(attempt, outcome)
        return DeliveryResult(outcome, pod)

    async def _refuse(self, attempt: _Attempt, failure: _Failure) -> None:
        """ACS sees a counted attempt (RF04 blocks at the limit), then answers the completion
        (RF03: 403 OTP_REQUIRED). Raises OtpRequired, or another rule's PolicyRejected."""
        names = {"shipment": shipment_names(failure.shipment, otp=failure.otp, otp_valid=False)}
        shipment_id = failure.shipment.id
        if failure.counted:
            await self._observe_attempt(attempt, failure, names)
        details: dict[str, Any] = {
            "podId": failure.pod_id,
            "otpVerdict": failure.verdict.value,
            "attemptsRemaining": attempts_remaining(failure.otp, self.otp_retry_limit),
            "shipmentStatus": failure.shipment.status.value,
        }
        complete = new_event(
            "shipment.complete", attempt.ctx, at=attempt.now, payload={"shipmentId": shipment_id}
        )
        try:
            await self._acs.enforce(complete, ProvidedFacts(names=names))
        except PolicyRejected as rejected:
            if rejected.code != OtpRequired.code:
                raise
            raise OtpRequired(rejected.message, details={**(rejected.details or {}), **details}) from None
        raise OtpRequired(details=details)

    async def _observe_attempt(self, attempt: _Attempt, failure: _Failure, names: dict[str, Any]) -> None:
        """ACS `security.otp_attempt` (RF04 brute force). The count (and the lock at the limit)
        is committed and the lock alone already stops guessing: if ACS cannot be asked, the
        driver still gets the OTP_REQUIRED answer, and the failure is logged loudly for the
        block, ticket and notification to be raised by hand. The code is never logged."""
        attempts = failure.otp.attempts if failure.otp else 0
        try:
            event = new_event(
                "security.otp_attempt",
                attempt.ctx,
                at=attempt.now,
                payload={"shipmentId": failure.shipment.id, "attempts": attempts},
            )
            await self._acs.evaluate(event, ProvidedFacts(names=names))
        except Exception:
            log.error(
                "delivery_otp_attempt_not_observed",
                shipment_id=failure.shipment.id,
                otp_attempts=attempts,
                otp_locked=bool(failure.otp and failure.otp.locked),
                exc_info=True,
            )

    async def _observe_completion(self, attempt: _Attempt, completed: ShipmentRecord) -> None:
        """ACS `shipment.completed` (RF19 triad collusion). The completion is committed: if ACS
        cannot be asked, the driver is still told the truth and the failure is logged loudly."""
        try:
            event = new_event(
                "shipment.completed", attempt.ctx, at=attempt.now, payload={"shipmentId": completed.id}
            )
            await self._acs.evaluate(event, ProvidedFacts(names=await self._completed_names(completed)))
        except Exception:
            log.error("delivery_completion_not_observed", shipment_id=completed.id, exc_info=True)

    async def _completed_names(self, completed: ShipmentRecord) -> dict[str, Any]:
        assert completed.driver_id is not None and completed.completed_at is not None
        async with self._db.read() as conn:
            frequency = await repo.triad_frequency(
                conn,
                shipper_id=completed.shipper_id,
                operator_id=completed.operator_id,
                driver_id=completed.driver_id,
                since=completed.completed_at - TRIAD_WINDOW,
            )
            operator = await users_repo.get_by_id(conn, completed.operator_id)
            operator_kyc = await kyc_status(conn, completed.operator_id, Role.OPERATOR)
            trucks = await fleet_repo.count_counted_trucks(conn, completed.operator_id)
            state = await otp.get_state(conn, completed.id)
        assert operator is not None
        return {
            "shipment": shipment_names(completed, otp=state, otp_valid=True),
            "operator": operator_names(
                completed.operator_id,
                status=operator.status.value,
                kyc_status=operator_kyc,
                active_trucks=trucks,
            ),
            "collusionGraph": {
                "triadFrequency": frequency,
                "shipperId": completed.shipper_id,
                "operatorId": completed.operator_id,
                "driverId": completed.driver_id,
            },
        }

    # --- files -----------------------------------------------------------------------------

    async def _put_file(self, shipper_id: str, pod: PodRecord, data: bytes) -> None:
        async with self._db.transaction() as conn:
            # Committed before anything is encrypted with it (a first key is created here).
            key = await self._services.data_keys.for_writing(conn, shipper_id, now=pod.created_at)
        await self._storage.put(pod.storage_key, encrypt(key, data, file_aad(pod.id)))

    async def _discard(self, location: str) -> None:
        """Best effort: the ciphertext of a POD that was never recorded is useless."""
        try:
            await self._storage.delete(location)
        except Exception:
            log.warning("pod_orphan_file_not_deleted", storage_key=location, exc_info=True)

    # --- readers ---------------------------------------------------------------------------

    async def list_pods(self, actor: Actor, shipment_id: str) -> list[PodRecord]:
        """The shipment's PODs, oldest first, for its parties and admins (404 otherwise)."""
        async with self._db.read() as conn:
            shipment = await shipments_repo.get_shipment(conn, shipment_id, visible=readable(actor))
            if shipment is None:
                raise NotFound()
            return await repo.list_pods(conn, shipment.id)

    async def read_file(self, actor: Actor, pod_id: str) -> tuple[PodRecord, bytes]:
        """The decrypted file for the shipment's parties and admins (404 otherwise). A read by
        someone outside the trip (an admin) is audited before the file is released."""
        now = self._clock.now()
        async with self._db.read() as conn:
            pod = await repo.get_pod(conn, pod_id)
            shipment = (
                await shipments_repo.get_shipment(conn, pod.shipment_id, visible=readable(actor))
                if pod
                else None
            )
            if pod is None or shipment is None:
                raise NotFound()
            try:
                key = await self._services.data_keys.for_reading(conn, shipment.shipper_id)
            except DataKeyDestroyed:
                raise PodFileErased() from None
        plaintext = decrypt(key, await self._storage.get(pod.storage_key), file_aad(pod.id))
        if actor.user_id not in shipment.parties():
            async with self._db.transaction() as conn:
                data = {"shipmentId": shipment.id, "role": actor.role.value}
                await append(
                    conn, AuditEntryDraft(actor.user_id, "pod.file_read", "pod", pod.id, data), now=now
                )
        return pod, plaintext


class _FileTakenMeanwhile(Exception):
    """A POD with the same file was recorded on another shipment after ACS judged this one."""

    def __init__(self, shipment_id: str) -> None:
        super().__init__(shipment_id)
        self.shipment_id = shipment_id


async def _insert_new_pod(conn: AsyncConnection, pod: PodRecord, *, reuse_judged: str | None) -> None:
    """Insert `pod` unless its file was meanwhile recorded on another shipment than the one ACS
    was shown (`reuse_judged`).

    Race prevented: two uploads of one file to two shipments judged by ACS at the same moment
    (neither stored yet, so RF07 sees no reuse). The hash lock makes the second wait for the
    first's commit and then find it here."""
    await repo.lock_file_hash(conn, pod.file_sha256)
    used_on = await repo.hash_used_on(conn, pod.file_sha256, shipment_id=pod.shipment_id)
    if used_on not in (None, pod.shipment_id, reuse_judged):
        raise _FileTakenMeanwhile(used_on)
    await repo.insert_pod(conn, pod)


async def _require_completable(conn: AsyncConnection, shipment: ShipmentRecord, now: datetime) -> None:
    """409 SHIPMENT_FROZEN when frozen, 409 INVALID_STATE unless IN_TRANSIT or OTP_PENDING (the
    states from which a delivery can complete)."""
    frozen = await shipments_repo.freeze_reason(conn, shipment.id, now) is not None
    require_transition(shipment.status, ShipmentStatus.COMPLETED, frozen=frozen)


async def _locked_completable(conn: AsyncConnection, shipment_id: str, now: datetime) -> ShipmentRecord:
    """The shipment row, locked for the rest of the transaction, re-checked: concurrent uploads
    and retries of one shipment queue here and each sees the state the previous one left."""
    current = await shipments_repo.get_shipment(conn, shipment_id, for_update=True)
    if current is None:
        raise NotFound()
    await _require_completable(conn, current, now)
    return current


async def _audit_pod(conn: AsyncConnection, actor: Actor, pod: PodRecord, now: datetime) -> None:
    data = {
        "shipmentId": pod.shipment_id,
        "fileSha256": pod.file_sha256,
        "sizeBytes": pod.size_bytes,
        "contentType": pod.content_type,
        "hasMetadataTimestamp": pod.metadata_timestamp is not None,
    }
    await append(conn, AuditEntryDraft(actor.user_id, "pod.uploaded", "pod", pod.id, data), now=now)


def _pod_names(shipment: ShipmentRecord, pod: PodRecord, used_on: str | None) -> dict[str, Any]:
    """The `pod.uploaded` context: the shipment, the POD, and RF07's index holding only this
    file's hash, mapped to where it was used (absent when new)."""
    return {
        "shipment": shipment_names(shipment),
        "pod": {
            "id": pod.id,
            "shipmentId": shipment.id,
            "fileHash": pod.file_sha256,
            "sizeBytes": pod.size_bytes,
            "contentType": pod.content_type,
            "metadata": {"timestamp": epoch_ms(pod.metadata_timestamp)},
        },
        "db": {"indexes": {"pod_hashes": {pod.file_sha256: {"shipmentId": used_on}} if used_on else {}}},
    }


def _completed_payload(shipment: ShipmentRecord, pod: PodRecord) -> dict[str, Any]:
    """The `shipment.completed` webhook payload: ids and times."""
    assert shipment.completed_at is not None
    return {
        "shipmentId": shipment.id,
        "bookingId": shipment.booking_id,
        "shipperId": shipment.shipper_id,
        "operatorId": shipment.operator_id,
        "driverId": shipment.driver_id,
        "podId": pod.id,
        "completedAt": shipment.completed_at.isoformat(),
    }
