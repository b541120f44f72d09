"""Tracking use cases (PRODUCT §6 "Tracking"): record GPS pings, read the track and the latest
position, list and acknowledge silence alerts.

Recording pings, and the decisions behind it:

* Only the assigned driver, only while the stored state is IN_TRANSIT or OTP_PENDING (409
  INVALID_STATE otherwise). The shipment row is locked for the transaction, so concurrent
  requests of one shipment are serialised (their deltas are computed on a complete track) and
  a ping cannot slip in after a concurrent completion.
* Times: a fix may be at most 2 minutes in the future of the server clock (device clocks
  drift; a phone a few seconds ahead must not lose its fixes) and no older than the shipment's
  start minus the same 2 minutes (a shipment without a start time, which the state machine
  never produces, accepts 24 hours back). A fix outside that window fails the whole request
  with 400 naming it (`pings.3.timestamp`). Within the tolerance a device clock that runs
  ahead can place a fix up to 2 minutes "early"; that only shifts deltas by as much, far from
  what RF05 (>= 200 km in <= 300 s) or the spoof heuristic react to.
* One fix per shipment and time (unique index on (shipment_id, recorded_at), so concurrent
  copies of one batch store it once). A fix whose time is already stored, or repeated within
  the request, is not stored: with the same coordinates it is an exact `duplicate` (a resent
  batch); with different coordinates it is a `conflict` (two positions claimed for one
  instant: a buggy or tampered device), counted apart in the response and logged (ids and
  times, never coordinates), so it is never silently dropped. The first stored fix stays:
  the track is evidence and is not rewritten by a later claim. Fixes older than the latest
  stored one (a late batch) are stored; the latest position only moves forward in time.
* ACS `gps.ping` is evaluated once per new fix, in time order, after the fixes are committed:
  ACS persists its effects in its own transaction, and evaluating only what this request
  actually stored means a resent batch never raises its events (and freezes, tickets) twice.
  The deltas are against the previous fix in time order (none for the first fix of the trip),
  the spoof score from the fixes before it (`tracking.spoof`). If evaluation fails after the
  commit the fixes stay stored unevaluated (the client's retry finds them duplicates): the track
  is evidence and is never rolled back for a rule engine fault.
* FROZEN: pings are still recorded (the truck still moves and the track is evidence for the
  review) but ACS is not evaluated again for a shipment that is already frozen, nor for the
  rest of a batch once one of its fixes froze it: every further fix would open another freeze,
  ticket and notification for the same incident. A spoofing device is blocked by the first
  RF06 match, and a blocked device can no longer authenticate. The fixes recorded while frozen
  stay unevaluated: the reviewer sees them in the track; unfreezing does not replay them
  through ACS.
* Pings are not written to the audit log: they are high-volume telemetry (one append per ping
  would serialise every truck on the audit chain's head lock), each stored row already records
  the driver and the time received, and whatever ACS does about a ping is audited by ACS.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.engine import Decision
from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.acs.service import Evaluation
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound, ValidationFailed
from rodistaa.http.pagination import PageRequest
from rodistaa.http.ratelimit import LimitResult
from rodistaa.http.services import Services
from rodistaa.kyc.status import kyc_status
from rodistaa.shipments import repo as shipments_repo
from rodistaa.shipments.facts import shipment_names
from rodistaa.shipments.repo import ShipmentRecord, readable
from rodistaa.shipments.status import EN_ROUTE_STATUSES
from rodistaa.tracking import repo
from rodistaa.tracking.errors import AlertAlreadyAcknowledged, NoPosition, ShipmentNotEnRoute
from rodistaa.tracking.repo import AlertRecord, PingDraft, PingRecord, PositionRecord
from rodistaa.tracking.schemas import PingRequest
from rodistaa.tracking.spoof import HISTORY_NEEDED, Fix, distance_km, interval_s, spoof_score

log = structlog.get_logger("rodistaa.tracking")

CLOCK_SKEW = timedelta(minutes=2)
MAX_AGE_WITHOUT_START = timedelta(hours=24)
# How many conflicting fix times one log line names (a batch holds up to 500 fixes).
LOGGED_CONFLICTS = 20


@dataclass(frozen=True)
class PingOutcome:
    accepted: int
    duplicates: int
    conflicts: int
    frozen: bool
    latest: PositionRecord
    limit: LimitResult


@dataclass(frozen=True)
class NotStored:
    """The fixes of a request that were not stored because their time already was (by an
    earlier request, or by an earlier fix of this one): exact copies, and conflicting claims."""

    duplicates: list[tuple[str, PingDraft]]
    conflicts: list[tuple[str, PingDraft]]


@dataclass(frozen=True)
class PingStep:
    """A newly stored fix with what came before it in time order."""

    ping: PingRecord
    previous: PingRecord | None
    history: Sequence[PingRecord]


def as_fix(ping: PingRecord) -> Fix:
    return Fix(ping.lat, ping.lng, ping.recorded_at, speed_kmh=ping.speed_kmh, accuracy_m=ping.accuracy_m)


def unique_in_time_order(drafts: Sequence[tuple[str, PingDraft]]) -> list[tuple[str, PingDraft]]:
    """Sorted by fix time (stable: request order among equals), the first of equal times kept."""
    kept: list[tuple[str, PingDraft]] = []
    for path, draft in sorted(drafts, key=lambda item: item[1].recorded_at):
        if not kept or kept[-1][1].recorded_at != draft.recorded_at:
            kept.append((path, draft))
    return kept


def not_stored(
    drafts: Sequence[tuple[str, PingDraft]],
    kept: Sequence[tuple[str, PingDraft]],
    stored: Sequence[PingRecord],
    at_times: Mapping[datetime, PingRecord],
) -> NotStored:
    """Sort the request's fixes that were not stored into exact duplicates (same coordinates as
    the fix stored for their time) and conflicts (different coordinates). `kept` are the fixes
    offered to the insert, `stored` what it stored, `at_times` the stored fix of each time."""
    stored_times = {p.recorded_at for p in stored}
    inserted = {id(draft) for _, draft in kept if draft.recorded_at in stored_times}
    result = NotStored([], [])
    for path, draft in drafts:
        if id(draft) in inserted:
            continue
        existing = at_times[draft.recorded_at]
        same_place = (existing.lat, existing.lng) == (draft.lat, draft.lng)
        (result.duplicates if same_place else result.conflicts).append((path, draft))
    return result


def check_fix_times(drafts: Sequence[tuple[str, PingDraft]], shipment: ShipmentRecord, now: datetime) -> None:
    """Raise ValidationFailed naming the first fix outside [start - skew, now + skew]."""
    latest = now + CLOCK_SKEW
    earliest = shipment.started_at - CLOCK_SKEW if shipment.started_at else now - MAX_AGE_WITHOUT_START
    for path, draft in drafts:
        if draft.recorded_at > latest:
            raise ValidationFailed.for_field(
                f"{path}timestamp", "must not be more than 2 minutes in the future of the server clock"
            )
        if draft.recorded_at < earliest:
            raise ValidationFailed.for_field(f"{path}timestamp", "must not be before the shipment started")


def steps(track: Sequence[PingRecord], stored: Sequence[PingRecord]) -> Iterator[PingStep]:
    """For each new fix (time order), the fix before it and up to HISTORY_NEEDED fixes before
    it, taken from `track` (time order, containing every new fix)."""
    position = {p.id: i for i, p in enumerate(track)}
    for ping in stored:
        i = position[ping.id]
        history = track[max(0, i - HISTORY_NEEDED) : i]
        yield PingStep(ping, track[i - 1] if i else None, history)


def gps_names(step: PingStep) -> dict[str, Any]:
    """`gps` as the contract names it: time in epoch ms, deltas null for the first fix."""
    ping, previous = step.ping, step.previous
    return {
        "lat": ping.lat,
        "lng": ping.lng,
        "speed": ping.speed_kmh,
        "heading": ping.heading,
        "timestamp": int(ping.recorded_at.timestamp() * 1000),
        "deltaDistanceKm": round(distance_km(as_fix(previous), as_fix(ping)), 3) if previous else None,
        "deltaTimeSec": round(interval_s(as_fix(previous), as_fix(ping)), 3) if previous else None,
    }


def telemetry_names(step: PingStep) -> dict[str, Any]:
    score = spoof_score([as_fix(p) for p in step.history], as_fix(step.ping))
    return {"spoofScore": score, "mockLocation": step.ping.mock_location}


def freezes_shipment(decision: Decision) -> bool:
    return any(
        effect.action == "freezeShipment"
        or (effect.action == "blockEntity" and effect.params.get("entityType") == "shipment")
        for effect in decision.effects
    )


class TrackingService:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.db
        self._clock = services.clock

    # --- pings ---------------------------------------------------------------------------------

    async def record_pings(self, actor: Actor, body: PingRequest, *, ip: str | None = None) -> PingOutcome:
        """Raises ValidationFailed (body shape, fix times), NotFound (not the assigned driver's
        shipment), ShipmentNotEnRoute (409)."""
        now = self._clock.now()
        drafts = body.drafts(now)
        unique = unique_in_time_order(drafts)
        track: list[PingRecord] = []
        async with self._db.transaction() as conn:
            shipment = await shipments_repo.get_shipment(
                conn, body.shipmentId, visible=readable(actor), for_update=True
            )
            if shipment is None:
                raise NotFound()
            # Counted once the caller is known to be the shipment's driver, so nobody can spend
            # another shipment's budget; every fix of a batch counts.
            limit = await self._services.limiter.enforce([("gps_ping", shipment.id)], cost=len(drafts))
            if shipment.status not in EN_ROUTE_STATUSES:
                raise ShipmentNotEnRoute(details={"status": shipment.status.value})
            check_fix_times(unique, shipment, now)
            stored = await repo.insert_pings(
                conn, shipment.id, actor.user_id, [d for _, d in unique], now=now
            )
            new_at = {p.recorded_at: p for p in stored}
            older_at = await repo.pings_at(
                conn, shipment.id, {d.recorded_at for _, d in drafts} - set(new_at)
            )
            skipped = not_stored(drafts, unique, stored, {**older_at, **new_at})
            if stored:
                await repo.upsert_position(conn, stored[-1])
                track = await repo.track_around(
                    conn,
                    shipment.id,
                    first=stored[0].recorded_at,
                    last=stored[-1].recorded_at,
                    lookback=HISTORY_NEEDED,
                )
            latest = await repo.get_position(conn, shipment.id)
            # What ACS needs is read here, not on a connection of its own after the commit.
            frozen = await shipments_repo.freeze_reason(conn, shipment.id, now) is not None
            kyc = await kyc_status(conn, actor.user_id, actor.role) if stored and not frozen else None
        # Every time of the request is stored now (new, duplicate or conflict): a position exists.
        assert latest is not None
        if skipped.conflicts:
            log.warning(
                "tracking_fix_conflicts",
                shipment_id=shipment.id,
                driver_id=actor.user_id,
                conflicts=len(skipped.conflicts),
                fixes=[path or "(single)" for path, _ in skipped.conflicts[:LOGGED_CONFLICTS]],
                recorded_at=[d.recorded_at.isoformat() for _, d in skipped.conflicts[:LOGGED_CONFLICTS]],
            )
        frozen = await self._evaluate(actor, shipment, stored, track, frozen=frozen, kyc=kyc, ip=ip, now=now)
        return PingOutcome(
            len(stored), len(skipped.duplicates), len(skipped.conflicts), frozen, latest, limit
        )

    async def _evaluate(
        self,
        actor: Actor,
        shipment: ShipmentRecord,
        stored: Sequence[PingRecord],
        track: Sequence[PingRecord],
        *,
        frozen: bool,
        kyc: str | None,
        ip: str | None,
        now: datetime,
    ) -> bool:
        """Decide ACS `gps.ping` for each new fix until one freezes the shipment, record the
        decisions together (one transaction for the batch: the facts of a fix are the batch's
        own, no decision reads what an earlier one wrote), and answer whether the shipment is
        frozen afterwards."""
        if frozen or not stored or kyc is None:
            return frozen
        ctx = actor_ctx(actor, kyc_status=kyc, ip=ip)
        names = shipment_names(shipment)
        acs = self._services.acs
        evaluations: list[Evaluation] = []
        for step in steps(track, stored):
            event = new_event(
                "gps.ping", ctx, at=now, payload={"shipmentId": shipment.id, "pingId": step.ping.id}
            )
            facts = ProvidedFacts(
                names={"shipment": names, "gps": gps_names(step), "telemetry": telemetry_names(step)}
            )
            evaluations.append(await acs.decide(event, facts))
            if freezes_shipment(evaluations[-1].decision):
                break
        async with self._db.transaction() as conn:
            await acs.record(conn, evaluations)
            if not evaluations or not freezes_shipment(evaluations[-1].decision):
                return False  # not frozen when the batch was stored, and no decision froze it
            return await shipments_repo.freeze_reason(conn, shipment.id, now) is not None

    # --- reads ---------------------------------------------------------------------------------

    async def _visible_shipment(
        self, conn: AsyncConnection, actor: Actor, shipment_id: str
    ) -> ShipmentRecord:
        shipment = await shipments_repo.get_shipment(conn, shipment_id, visible=readable(actor))
        if shipment is None:
            raise NotFound()
        return shipment

    async def get_track(
        self, actor: Actor, shipment_id: str, *, since: datetime | None, limit: int
    ) -> list[PingRecord]:
        """The shipment's fixes oldest first (after `since`, at most `limit`); 404 unless the
        caller is one of its parties or an admin."""
        async with self._db.read() as conn:
            shipment = await self._visible_shipment(conn, actor, shipment_id)
            return await repo.list_pings(conn, shipment.id, since=since, limit=limit)

    async def get_latest(self, actor: Actor, shipment_id: str) -> PositionRecord:
        """404 NOT_FOUND if not visible, 404 NO_POSITION before the first fix."""
        async with self._db.read() as conn:
            shipment = await self._visible_shipment(conn, actor, shipment_id)
            position = await repo.get_position(conn, shipment.id)
        if position is None:
            raise NoPosition()
        return position

    # --- alerts --------------------------------------------------------------------------------

    async def list_alerts(
        self, actor: Actor, *, unacknowledged: bool, shipment_id: str | None, page: PageRequest
    ) -> tuple[list[AlertRecord], int]:
        """Operators: alerts of the shipments they won; admins: all. Newest first."""
        async with self._db.read() as conn:
            return await repo.list_alerts(
                conn,
                visible=readable(actor),
                unacknowledged=unacknowledged,
                shipment_id=shipment_id,
                offset=page.offset,
                limit=page.limit,
            )

    async def acknowledge_alert(self, actor: Actor, alert_id: str) -> AlertRecord:
        """The shipment's operator or an admin acknowledges once: 404 if the alert is not
        theirs to see, 409 ALREADY_ACKNOWLEDGED when somebody did already."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            alert = await repo.get_alert(conn, alert_id, visible=readable(actor))
            if alert is None:
                raise NotFound()
            acknowledged = await repo.claim_acknowledgement(
                conn, alert.id, acknowledged_by=actor.user_id, now=now
            )
            if acknowledged is None:
                raise AlertAlreadyAcknowledged()
            data = {
                "shipmentId": alert.shipment_id,
                "kind": alert.kind,
                "severity": alert.severity,
                "acknowledgedByRole": actor.role.value,
            }
            await append(
                conn,
                AuditEntryDraft(
                    actor.user_id, "tracking.alert_acknowledged", "tracking_alert", alert.id, data
                ),
                now=now,
            )
        return acknowledged
