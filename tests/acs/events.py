"""Test events for the ACS rule bundles, shared by the reference and default bundle tests.

A *scenario* is one event as a service would raise it: the event type, the acting `ctx`, the
context names its fact provider returns and the answers to the data-backed calls. Each builder
below returns a clean scenario of its event type that matches no rule of either bundle;
`scenario.but(...)` changes just what a case is about, so a reader sees the one field that makes
a rule fire (a *hit*) or stay quiet (a *miss*, a near miss of the same rule).

A *case* is a scenario plus what must come out of it: the outcome, the matched rule ids
(exactly, in priority order), the reject code and status, the `proceed` outcomes, and the side
effects that must be persisted. `persisted()` reads those effects back from the database in
the same shape.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import select

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.bundle import Bundle
from rodistaa.acs.engine import AcsEvent, Decision, Outcome, build_context, decide
from rodistaa.acs.facts import StaticFacts
from rodistaa.acs.lang import fact_key
from rodistaa.acs.service import AcsService
from rodistaa.acs.tables import (
    acs_blocks,
    acs_events,
    acs_shipment_freezes,
    acs_suspensions,
    acs_watchlist,
    notifications,
    outbox_events,
    tickets,
)
from rodistaa.core.ids import new_id
from rodistaa.db.engine import Database, create_engine
from tests.conftest import FakeClock

# The public reference bundle, read in place (never copied into the project): tests/acs/<file>
# -> parents[2] is the repository root, whose sibling `shared` holds the reference material.
REFERENCE_BUNDLE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "acs_rules_top25.yaml"
)
DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "rules"

NOW = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# --- the cast --------------------------------------------------------------------------------


def _ulid(tag: str) -> str:
    """A fixed, valid ULID ending in `tag`, so failure output says whose id it is."""
    return ("01JHBZK7M2Q9" + "X" * 14)[: 26 - len(tag)] + tag


SHIPPER = f"USR-SH-{_ulid('SHPR')}"
OPERATOR = f"USR-OP-{_ulid('0PRA')}"
OPERATOR_2 = f"USR-OP-{_ulid('0PRB')}"
DRIVER = f"USR-DR-{_ulid('DRVR')}"
ADMIN = f"USR-AD-{_ulid('ADMN')}"
KYC_ADMIN = f"USR-KA-{_ulid('KYCA')}"
UNIT_STAFF = f"USR-FU-{_ulid('FRNS')}"
BOOKING = "RID-20250115-0042"
BID = f"BK-{_ulid('BD')}"
SHIPMENT = f"SH-{_ulid('SHPA')}"
OTHER_SHIPMENT = f"SH-{_ulid('SHPB')}"
TRUCK = f"TRK-MH12AB1234-{_ulid('TRKA')}"
OTHER_TRUCK = f"TRK-KA01CD5678-{_ulid('TRKB')}"
DEVICE = "DEV-ANDROID-7F3A9C21"
INSPECTION = f"INS-{_ulid('NSP')}"
FRANCHISE_UNIT = f"FRN-{_ulid('FRNA')}"
DOC = f"DOC-{_ulid('DC')}"
POD = f"POD-{_ulid('PD')}"
OVERRIDE = f"OVR-{_ulid('VRD')}"
BATCH = "KYCB-20250115-07"
POD_HASH = "9f2c6a8d4e1b7c3a5f0e2d9b8a7c6e5f4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a"
PHOTO_HASH = "1b4e7a9c2d5f8e0a3c6b9d2e5f8a1c4b7e0d3a6c9f2b5e8d1a4c7f0b3e6a9d2c"
CHASSIS = "MA1TA2FB5K2A12345"
PUNE = {"lat": 18.5204, "lng": 73.8567}
KM_IN_LAT = 1 / 111.195  # degrees of latitude per km (haversine with the mean Earth radius)

DROP = object()
"""In `Scenario.but(...)`: remove this key from the scenario."""


def merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `changes` applied: nested maps merge, other values replace, DROP removes."""
    result = dict(base)
    for key, value in changes.items():
        if value is DROP:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def fact(name: str, *args: Any) -> str:
    """The key under which a data-backed call `name(*args)` is answered."""
    return fact_key(name, list(args))


def maintenance(operator_id: str = OPERATOR) -> str:
    return fact("operator.maintenanceWindowActive", operator_id, NOW_MS)


def trucks_by_operator(operator_id: str = OPERATOR) -> str:
    return fact("db.count.trucksByOperator", operator_id)


def bid_modify_limit(user_id: str = OPERATOR) -> str:
    return fact("rate.limitExceeded", user_id, "bid.modify", 10)


def driver_accounts(device_id: str = DEVICE) -> str:
    return fact("db.count.driverAccountsByDevice", device_id)


def overlapping_accept(window: Mapping[str, Any], device_id: str = DEVICE) -> str:
    return fact("overlappingAcceptExists", device_id, dict(window))


@dataclass(frozen=True)
class Scenario:
    event_type: str
    ctx: Mapping[str, Any]
    names: Mapping[str, Any]
    answers: Mapping[str, Any] = field(default_factory=dict)
    payload: Mapping[str, Any] = field(default_factory=dict)

    def but(
        self,
        *,
        ctx: Mapping[str, Any] | None = None,
        names: Mapping[str, Any] | None = None,
        answers: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Scenario:
        return Scenario(
            self.event_type,
            merge(self.ctx, ctx or {}),
            merge(self.names, names or {}),
            merge(self.answers, answers or {}),
            merge(self.payload, payload or {}),
        )

    def event(self, event_id: str | None = None) -> AcsEvent:
        return AcsEvent(self.event_type, event_id or new_id("EVT"), NOW, dict(self.ctx), dict(self.payload))

    def facts(self) -> StaticFacts:
        return StaticFacts(self.names, self.answers)


def actor(role: str, user_id: str, **extra: Any) -> dict[str, Any]:
    """The acting context: a KYC-verified user of `role` (lower case, as rules expect)."""
    return {"userId": user_id, "userRole": role, "userKycStatus": "VERIFIED", "ip": "203.0.113.7", **extra}


AS_SHIPPER = actor("shipper", SHIPPER)
AS_OPERATOR = actor("operator", OPERATOR, operatorId=OPERATOR)
AS_DRIVER = actor("driver", DRIVER, operatorId=OPERATOR, deviceId=DEVICE)
AS_ADMIN = actor("admin", ADMIN)
AS_KYC_ADMIN = actor("kyc_admin", KYC_ADMIN)
AS_UNIT_STAFF = actor("franchise_unit", UNIT_STAFF)
AS_SCHEDULER = {"userId": "system:scheduler", "userRole": "system"}

# --- context names (money in paise, times in epoch milliseconds) ----------------------------

THE_BOOKING: dict[str, Any] = {
    "id": BOOKING,
    "shipperId": SHIPPER,
    "status": "NEGOTIATION",
    "tonnage": 10,
    "distanceKm": 500,
    "expectedPrice": 1_250_000,
    "priceRange": {"min": 1_125_000, "max": 1_375_000},
    "pickupDate": "2025-01-17",
    "goods": {"type": "steel coils"},
    "pickup": {"city": "Pune", "coordinates": PUNE},
    "drop": {"city": "Hyderabad", "coordinates": {"lat": 17.385, "lng": 78.4867}},
}
THE_TRUCK: dict[str, Any] = {
    "id": TRUCK,
    "registrationNumber": "MH12AB1234",
    "operatorId": OPERATOR,
    "status": "ACTIVE",
    "vehicleType": "HGV",
    "bodyType": "OPEN",
    "tyres": 10,
    "capacityTonnes": 16,
    "modelYear": 2021,
    "emission": "BS6",
    "permitType": "NATIONAL",
    "chassisNumberInRegistry": CHASSIS,
}
THE_OPERATOR: dict[str, Any] = {
    "id": OPERATOR,
    "status": "ACTIVE",
    "kycStatus": "VERIFIED",
    "ledgerBalance": 50_000,
    "activeTrucks": 3,
}
THE_DRIVER: dict[str, Any] = {
    "id": DRIVER,
    "operatorId": OPERATOR,
    "status": "ACTIVE",
    "kycStatus": "VERIFIED",
    "activeShipmentId": None,
}
TIME_WINDOW = {"start": NOW_MS + 2 * HOUR_MS, "end": NOW_MS + 30 * HOUR_MS}
THE_SHIPMENT: dict[str, Any] = {
    "id": SHIPMENT,
    "bookingId": BOOKING,
    "status": "IN_TRANSIT",
    "shipperId": SHIPPER,
    "operatorId": OPERATOR,
    "driverId": DRIVER,
    "truckId": TRUCK,
    "agreedPrice": 1_200_000,
    "otpAttempts": 0,
    "otpValid": False,
    "otpLocked": False,
    "pickupAt": NOW_MS - 2 * DAY_MS,
    "dropAt": None,
    "timeWindow": TIME_WINDOW,
    "startedAt": NOW_MS - 2 * DAY_MS,
}
BIDDING_FEE = 17_500  # ₹175.00 for 10 t over 500 km (PRODUCT §6), in paise


def booking_create() -> Scenario:
    return Scenario("booking.create", AS_SHIPPER, {"booking": merge(THE_BOOKING, {"status": "OPEN"})})


def bid_create() -> Scenario:
    return Scenario(
        "bid.create",
        AS_OPERATOR,
        {
            "bid": {"bookingId": BOOKING, "operatorId": OPERATOR, "truckId": TRUCK, "amount": 1_200_000},
            "booking": THE_BOOKING,
            "truck": THE_TRUCK,
            "operator": THE_OPERATOR,
            "computedFees": {"bidFee": BIDDING_FEE},
        },
        {maintenance(): False},
        {"amount": 12_000.00, "text": "Can load on Friday morning"},
    )


def bid_modify() -> Scenario:
    return Scenario(
        "bid.modify",
        AS_OPERATOR,
        {
            "bid": {
                "id": BID,
                "bookingId": BOOKING,
                "operatorId": OPERATOR,
                "amount": 1_180_000,
                "previousAmount": 1_200_000,
                "status": "ACTIVE",
            },
            "booking": THE_BOOKING,
        },
        {bid_modify_limit(): False, maintenance(): False},
    )


def bid_evaluate() -> Scenario:
    return Scenario(
        "bid.evaluate",
        AS_SCHEDULER,
        {
            "booking": THE_BOOKING,
            "bids": {"count": 3, "haveIdenticalAmount": False, "lowestAmount": 1_150_000},
        },
    )


def bid_finalize() -> Scenario:
    return Scenario(
        "bid.finalize",
        AS_SCHEDULER,
        {
            "booking": THE_BOOKING,
            "bid": {"id": BID, "bookingId": BOOKING, "operatorId": OPERATOR, "amount": 1_150_000},
            "winner": {
                "bidId": BID,
                "operatorId": OPERATOR,
                "amount": 1_150_000,
                "bidFee": BIDDING_FEE,
                "ledgerBalance": 32_500,
                "kycStatus": "VERIFIED",
                "status": "ACTIVE",
            },
        },
    )


def truck_create() -> Scenario:
    return Scenario(
        "truck.create",
        AS_OPERATOR,
        {"truck": merge(THE_TRUCK, {"status": "PENDING_INSPECTION"}), "operator": THE_OPERATOR},
        {trucks_by_operator(): 3, maintenance(): False},
    )


def doc_uploaded(doc_type: str = "RC") -> Scenario:
    return Scenario(
        "doc.uploaded",
        AS_OPERATOR,
        {
            "truck": THE_TRUCK,
            "doc": {
                "id": DOC,
                "type": doc_type,
                "truckId": TRUCK,
                "expiryDate": "2027-03-31",
                "ocr": {"chassisNumber": CHASSIS},
            },
        },
    )


def km_north_of_pune(km: float) -> dict[str, float]:
    return {"lat": PUNE["lat"] + km * KM_IN_LAT, "lng": PUNE["lng"]}


def inspection_uploaded() -> Scenario:
    return Scenario(
        "inspection.uploaded",
        AS_UNIT_STAFF,
        {
            "truck": THE_TRUCK,
            "inspection": {
                "id": INSPECTION,
                "truckId": TRUCK,
                "unitFranchiseId": FRANCHISE_UNIT,
                "photoCount": 4,
                "geo": {**km_north_of_pune(1), "accuracy": 12},
            },
            "image": {"hash": PHOTO_HASH, "takenAt": NOW_MS - 60_000},
            "unitFranchise": {"id": FRANCHISE_UNIT, "radiusMeters": 5000, "allowedGeoCenter": PUNE},
            "db": {"indexes": {"inspection_image_hashes": {}}},
        },
    )


def shipment_assign() -> Scenario:
    return Scenario(
        "shipment.assign",
        AS_OPERATOR,
        {"shipment": merge(THE_SHIPMENT, {"status": "ASSIGNED"}), "truck": THE_TRUCK, "driver": THE_DRIVER},
    )


def shipment_accept() -> Scenario:
    return Scenario(
        "shipment.accept",
        AS_DRIVER,
        {"shipment": merge(THE_SHIPMENT, {"status": "APPROVED"}), "driver": THE_DRIVER},
        {driver_accounts(): 1, overlapping_accept(TIME_WINDOW): False},
    )


def shipment_start() -> Scenario:
    return Scenario(
        "shipment.start",
        AS_DRIVER,
        {"shipment": merge(THE_SHIPMENT, {"status": "APPROVED"}), "driver": THE_DRIVER},
    )


GPS = {
    "lat": 18.61,
    "lng": 73.95,
    "speed": 54.0,
    "heading": 110.0,
    "timestamp": NOW_MS - 5_000,
    "deltaDistanceKm": 0.9,
    "deltaTimeSec": 60,
}


def gps_ping() -> Scenario:
    return Scenario(
        "gps.ping",
        AS_DRIVER,
        {"shipment": THE_SHIPMENT, "gps": GPS, "telemetry": {"spoofScore": 0.05, "mockLocation": False}},
    )


def pod_uploaded() -> Scenario:
    return Scenario(
        "pod.uploaded",
        merge(AS_DRIVER, {"uploaderId": DRIVER}),
        {
            "shipment": merge(THE_SHIPMENT, {"status": "OTP_PENDING"}),
            "pod": {
                "id": POD,
                "shipmentId": SHIPMENT,
                "fileHash": POD_HASH,
                "sizeBytes": 734_003,
                "contentType": "image/jpeg",
                "metadata": {"timestamp": NOW_MS - HOUR_MS},
            },
            "db": {"indexes": {"pod_hashes": {}}},
        },
    )


def otp_attempt() -> Scenario:
    return Scenario(
        "security.otp_attempt",
        AS_DRIVER,
        {"shipment": merge(THE_SHIPMENT, {"status": "OTP_PENDING", "otpAttempts": 2})},
    )


def shipment_complete() -> Scenario:
    return Scenario(
        "shipment.complete",
        AS_DRIVER,
        {"shipment": merge(THE_SHIPMENT, {"status": "OTP_PENDING", "otpValid": True, "otpAttempts": 1})},
    )


def shipment_completed() -> Scenario:
    return Scenario(
        "shipment.completed",
        AS_DRIVER,
        {
            "shipment": merge(THE_SHIPMENT, {"status": "COMPLETED", "otpValid": True, "dropAt": NOW_MS}),
            "operator": THE_OPERATOR,
            "collusionGraph": {
                "triadFrequency": 1,
                "shipperId": SHIPPER,
                "operatorId": OPERATOR,
                "driverId": DRIVER,
            },
        },
    )


def override_request() -> Scenario:
    return Scenario(
        "admin.override.request",
        AS_ADMIN,
        {
            "override": {
                "id": OVERRIDE,
                "entityType": "truck",
                "entityId": TRUCK,
                "action": "unblock",
                "reason": "Documents renewed",
                "justification": "RC renewed, verified at RTO",
                "twoFaVerified": True,
                "target": {
                    "ruleId": "RF02_TRUCK_DOCS_EXPIRED",
                    "ruleSeverity": "critical",
                    "severity": "critical",
                },
            },
        },
    )


def message_send() -> Scenario:
    return Scenario(
        "message.send",
        AS_SHIPPER,
        {
            "message": {
                "id": "MSG-1",
                "text": "Please call when you reach the gate",
                "senderId": SHIPPER,
                "recipientId": OPERATOR,
            }
        },
        payload={"text": "Please call when you reach the gate"},
    )


def kyc_bulk_ingest() -> Scenario:
    return Scenario(
        "kyc.bulk_ingest",
        AS_KYC_ADMIN,
        {
            "ingest": {
                "batchId": BATCH,
                "partialFailure": False,
                "affected": 0,
                "affectedOperatorIds": [],
                "total": 250,
            }
        },
    )


def route_request() -> Scenario:
    return Scenario(
        "route.request",
        AS_SHIPPER,
        {"booking": THE_BOOKING, "routing": {"provider": {"id": "osrm-primary", "status": "OK"}}},
    )


# --- expected side effects -------------------------------------------------------------------


class Block(NamedTuple):
    entity_type: str
    entity_id: str
    reason: str
    severity: str


class Freeze(NamedTuple):
    shipment_id: str
    reason: str


class Suspension(NamedTuple):
    account_id: str
    reason: str
    severity: str


class Watch(NamedTuple):
    entity_type: str
    entity_id: str
    reason: str


class Ticket(NamedTuple):
    team: str
    refs: tuple[str, ...] = ()
    kind: str = "TICKET"


class Notice(NamedTuple):
    role: str  # as stored: upper case
    user_id: str | None
    message: str


class Emitted(NamedTuple):
    name: str
    payload: Mapping[str, Any]


def _sorted(items: Any) -> tuple[Any, ...]:
    return tuple(sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str)))


@dataclass(frozen=True)
class Effects:
    """What a decision leaves in the ACS tables. Every block also publishes an `acs.block`
    outbox event (the partner webhook of PRODUCT §10); `with_block_events()` adds those."""

    blocks: tuple[Block, ...] = ()
    freezes: tuple[Freeze, ...] = ()
    suspensions: tuple[Suspension, ...] = ()
    watchlist: tuple[Watch, ...] = ()
    tickets: tuple[Ticket, ...] = ()
    notifications: tuple[Notice, ...] = ()
    emitted: tuple[Emitted, ...] = ()

    def normalised(self) -> Effects:
        return Effects(*(_sorted(getattr(self, name)) for name in self.__dataclass_fields__))

    def with_block_events(self) -> Effects:
        block_events = tuple(
            Emitted("acs.block", {"entityType": b.entity_type, "entityId": b.entity_id, "reason": b.reason})
            for b in self.blocks
        )
        return Effects(
            self.blocks,
            self.freezes,
            self.suspensions,
            self.watchlist,
            self.tickets,
            self.notifications,
            self.emitted + block_events,
        )

    @property
    def empty(self) -> bool:
        return not any(getattr(self, name) for name in self.__dataclass_fields__)


NO_EFFECTS = Effects()


async def persisted(db: Database, event_id: str) -> Effects:
    """The side effects stored for `event_id` (the watchlist has no event column: the whole
    watchlist is read; tests start from empty ACS tables)."""
    async with db.read() as conn:

        async def rows(query: Any) -> list[Any]:
            return list((await conn.execute(query)).mappings())

        blocks = await rows(select(acs_blocks).where(acs_blocks.c.event_id == event_id))
        freezes = await rows(select(acs_shipment_freezes).where(acs_shipment_freezes.c.event_id == event_id))
        suspensions = await rows(select(acs_suspensions).where(acs_suspensions.c.event_id == event_id))
        watchlist = await rows(select(acs_watchlist))
        ticket_rows = await rows(select(tickets).where(tickets.c.event_id == event_id))
        notices = await rows(select(notifications).where(notifications.c.event_id == event_id))
        outbox = await rows(select(outbox_events).where(outbox_events.c.source_event_id == event_id))
    return Effects(
        blocks=tuple(Block(r.entity_type, r.entity_id, r.reason, r.severity) for r in blocks),
        freezes=tuple(Freeze(r.shipment_id, r.reason) for r in freezes),
        suspensions=tuple(Suspension(r.account_id, r.reason, r.severity) for r in suspensions),
        watchlist=tuple(
            Watch(r.entity_type, r.entity_id, reason) for r in watchlist for reason in json.loads(r.reasons)
        ),
        tickets=tuple(Ticket(r.team, tuple(json.loads(r.refs)), r.kind) for r in ticket_rows),
        notifications=tuple(Notice(r.role, r.user_id, r.message) for r in notices),
        emitted=tuple(Emitted(r.name, json.loads(r.payload)) for r in outbox),
    ).normalised()


# --- running a case -------------------------------------------------------------------------


def decide_case(bundle: Bundle, case: Case) -> Decision:
    """The pure decision, exactly as the service computes it (no database)."""
    event = case.scenario.event()
    return decide(bundle, event, build_context(event, case.scenario.names), facts=case.scenario.answers)


def assert_decision(decision: Decision, case: Case) -> None:
    assert decision.outcome is case.outcome
    assert tuple(m.rule_id for m in decision.matched) == case.matched
    assert decision.code == case.code
    assert decision.status == case.status
    assert decision.proceed == case.proceed
    if case.outcome is not Outcome.ALLOW:
        assert decision.rule_id == case.rule
    # A clean case: every data-backed call was answered and every template resolved.
    assert decision.errors == ()
    assert [m.action_errors for m in decision.matched if m.action_errors] == []
    assert decision.shadow_matched == ()


@dataclass
class Acs:
    service: AcsService
    db: Database


@asynccontextmanager
async def acs_service(database_url: str, bundle: Bundle, *, source: str) -> AsyncIterator[Acs]:
    """An ACS service on `database_url` running `bundle` (stored and activated as a reload would)."""
    db = Database(create_engine(database_url))
    try:
        service = AcsService(db=db, clock=FakeClock())
        result = await service.activate(bundle, source=source, actor="test")
        assert result.ok
        yield Acs(service, db)
    finally:
        await db.dispose()


async def event_row(db: Database, event_id: str) -> dict[str, Any] | None:
    """The stored evaluation of `event_id` (matched rule ids decoded)."""
    async with db.read() as conn:
        row = (
            (await conn.execute(select(acs_events).where(acs_events.c.event_id == event_id)))
            .mappings()
            .first()
        )
    if row is None:
        return None
    return {
        "event_type": row.event_type,
        "actor_id": row.actor_id,
        "outcome": row.outcome,
        "code": row.code,
        "rule_id": row.rule_id,
        "matched": json.loads(row.matched),
        "revision": row.revision,
    }


async def audit_entries(db: Database, event_id: str) -> list[tuple[str | None, str]]:
    """(rule id, action) of the audit entries written for `event_id`, in chain order. The chain
    is shared by the whole session (it refuses DELETE), so only this event's entries are read."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.rule_id, audit_log.c.action)
            .where(audit_log.c.entity_type == "event", audit_log.c.entity_id == event_id)
            .order_by(audit_log.c.seq)
        )
        return [(r.rule_id, r.action) for r in rows]


# --- cases -----------------------------------------------------------------------------------

_DEFAULT_STATUS = {Outcome.ALLOW: None, Outcome.REJECT: 403, Outcome.THROTTLE: 429}


@dataclass(frozen=True)
class Case:
    id: str  # the pytest id
    rule: str  # the rule the case is about
    proves: str  # what the case shows, in a sentence
    scenario: Scenario
    outcome: Outcome
    matched: tuple[str, ...]  # exactly the enforce rules that match, highest priority first
    code: str | None = None
    status: int | None = None
    proceed: tuple[str, ...] = ()
    effects: Effects | None = NO_EFFECTS  # None: this case does not state its side effects

    @property
    def is_hit(self) -> bool:
        return self.rule in self.matched


def hit(
    case_id: str,
    rule: str,
    proves: str,
    scenario: Scenario,
    *,
    reject: str | None = None,
    throttle: bool = False,
    status: int | None = None,
    proceed: tuple[str, ...] = (),
    effects: Effects | None = None,
) -> Case:
    """`rule` (alone) matches `scenario`; `reject` is the expected reject code. `effects`, when
    given, are exactly the side effects the decision must persist."""
    outcome = Outcome.REJECT if reject else Outcome.THROTTLE if throttle else Outcome.ALLOW
    code = reject or ("RATE_LIMIT_EXCEEDED" if throttle else None)
    return Case(
        id=case_id,
        rule=rule,
        proves=proves,
        scenario=scenario,
        outcome=outcome,
        matched=(rule,),
        code=code,
        status=status or _DEFAULT_STATUS[outcome],
        proceed=proceed,
        effects=effects,
    )


def miss(case_id: str, rule: str, proves: str, scenario: Scenario) -> Case:
    """A near miss of `rule`: nothing matches, the request is allowed, nothing is persisted."""
    return Case(case_id, rule, proves, scenario, Outcome.ALLOW, ())


RF01 = "RF01_KYC_MANDATORY"
RF02 = "RF02_TRUCK_DOCS_EXPIRED"
RF03 = "RF03_OTP_MANDATORY_COMPLETION"
RF04 = "RF04_OTP_BRUTE_FORCE_PROTECTION"
RF05 = "RF05_GPS_JUMP_ANOMALY"
RF06 = "RF06_GPS_SPOOF_SIGNATURE"
RF07 = "RF07_POD_DUPLICATE_HASH"
RF08 = "RF08_POD_METADATA_MISMATCH"
RF09 = "RF09_INSPECTION_GEO_MISSING"
RF10 = "RF10_INSPECTION_DUPLICATE_PHOTO"
RF11 = "RF11_TRUCK_OWNER_MISMATCH"
RF12 = "RF12_OPERATOR_MAX_TRUCKS_LIMIT"
RF13 = "RF13_LEDGER_NEGATIVE_PREVENTION"
RF14 = "RF14_AUTO_FINALIZATION_LEDGER_RACE"
RF15 = "RF15_BID_TIE_BREAKER"
RF16 = "RF16_PII_LEAK_REDACTION"
RF17 = "RF17_DEVICE_ACCOUNT_COLLISION"
RF18 = "RF18_ADMIN_OVERRIDE_NO_JUSTIFICATION"
RF19 = "RF19_COLLUSION_TRIAD_FREQ"
RF20 = "RF20_BID_FLOOD_RATE_LIMIT"
RF21 = "RF21_PREDATORY_BID_DETECT"
RF22 = "RF22_MAINTENANCE_WINDOW_BLOCK"
RF23 = "RF23_ROUTING_PROVIDER_FALLBACK"
RF24 = "RF24_INSPECTION_OUT_OF_ZONE"
RF25 = "RF25_BATCH_KYC_INGEST_INCONSISTENT"
ALL_RULES = (
    RF01,
    RF02,
    RF03,
    RF04,
    RF05,
    RF06,
    RF07,
    RF08,
    RF09,
    RF10,
    RF11,
    RF12,
    RF13,
    RF14,
    RF15,
    RF16,
    RF17,
    RF18,
    RF19,
    RF20,
    RF21,
    RF22,
    RF23,
    RF24,
    RF25,
)

PII_PHONE = "Call me directly on 98765 43210, cheaper than the app"
PII_OBFUSCATED = "my number is 9 8 7 6 5 4 3 2 1 0"
PII_EMAIL = "mail the docs to ravi.transport (at) gmail (dot) com"


# --- the reference bundle (../shared/reference/acs_rules_top25.yaml) -------------------------

REFERENCE_CASES: list[Case] = [
    hit(
        "RF01-hit-unverified-shipper-books",
        RF01,
        "a shipper whose KYC is PENDING cannot create a booking",
        booking_create().but(ctx={"userKycStatus": "PENDING"}),
        reject="KYC_REQUIRED",
        effects=Effects(emitted=(Emitted("fraud.flagged", {"reason": "KYC_MISSING", "userId": SHIPPER}),)),
    ),
    miss("RF01-miss-verified-shipper-books", RF01, "a verified shipper books", booking_create()),
    hit(
        "RF02-hit-assign-expired-truck",
        RF02,
        "assigning a truck in EXPIRED_DOCS rejects, blocks the truck and raises a franchise ticket",
        shipment_assign().but(names={"truck": {"status": "EXPIRED_DOCS"}}),
        reject="TRUCK_DOCS_EXPIRED",
        effects=Effects(
            blocks=(Block("truck", TRUCK, "EXPIRED_DOCUMENTS", "critical"),),
            tickets=(Ticket("franchise", (TRUCK,)),),
        ),
    ),
    miss("RF02-miss-active-truck", RF02, "an ACTIVE truck is assigned", shipment_assign()),
    hit(
        "RF03-hit-wrong-otp",
        RF03,
        "completion without a valid OTP rejects and reports the attempts as a number",
        shipment_complete().but(names={"shipment": {"otpValid": False, "otpAttempts": 2}}),
        reject="OTP_REQUIRED",
        effects=Effects(emitted=(Emitted("security.otp_failed", {"shipmentId": SHIPMENT, "attempts": 2}),)),
    ),
    miss("RF03-miss-valid-otp", RF03, "a valid OTP completes", shipment_complete()),
    hit(
        "RF04-hit-fifth-wrong-otp",
        RF04,
        "the 5th wrong OTP blocks the shipment for review (the attempt itself is not rejected)",
        otp_attempt().but(names={"shipment": {"otpAttempts": 5}}),
        effects=Effects(
            blocks=(Block("shipment", SHIPMENT, "OTP_BRUTE_FORCE", "critical"),),
            tickets=(Ticket("security", (SHIPMENT,)),),
            emitted=(Emitted("fraud.flagged", {"reason": "OTP_BRUTE_FORCE", "shipmentId": SHIPMENT}),),
        ),
    ),
    miss(
        "RF04-miss-fourth-wrong-otp",
        RF04,
        "the 4th wrong OTP is only counted",
        otp_attempt().but(names={"shipment": {"otpAttempts": 4}}),
    ),
    hit(
        "RF05-hit-250km-in-2min",
        RF05,
        "a 250 km jump in 2 minutes freezes the shipment and tells its operator",
        gps_ping().but(names={"gps": {"deltaDistanceKm": 250, "deltaTimeSec": 120}}),
        effects=Effects(
            freezes=(Freeze(SHIPMENT, "GPS_JUMP"),),
            notifications=(Notice("OPERATOR", OPERATOR, f"GPS anomaly detected for shipment {SHIPMENT}"),),
            emitted=(
                Emitted(
                    "gps.anomaly.detected",
                    {
                        "shipmentId": SHIPMENT,
                        "details": merge(GPS, {"deltaDistanceKm": 250, "deltaTimeSec": 120}),
                    },
                ),
            ),
        ),
    ),
    miss(
        "RF05-miss-199km",
        RF05,
        "199.9 km in 2 minutes stays under the 200 km threshold",
        gps_ping().but(names={"gps": {"deltaDistanceKm": 199.9, "deltaTimeSec": 120}}),
    ),
    hit(
        "RF06-hit-spoof-score",
        RF06,
        "a spoof score over the threshold freezes the shipment and blocks the device",
        gps_ping().but(names={"telemetry": {"spoofScore": 0.92}}),
        effects=Effects(
            freezes=(Freeze(SHIPMENT, "GPS_SPOOF"),),
            blocks=(Block("device", DEVICE, "DEVICE_SPOOF_DETECTED", "high"),),
            tickets=(Ticket("fraud", (DEVICE, SHIPMENT)),),
        ),
    ),
    miss(
        "RF06-miss-spoof-score-below",
        RF06,
        "a spoof score just under 0.8 is not acted on",
        gps_ping().but(names={"telemetry": {"spoofScore": 0.79}}),
    ),
    hit(
        "RF07-hit-known-pod-hash",
        RF07,
        "a POD whose hash is already indexed freezes the shipment and watchlists the uploader",
        pod_uploaded().but(
            names={"db": {"indexes": {"pod_hashes": {POD_HASH: {"shipmentId": OTHER_SHIPMENT}}}}}
        ),
        effects=Effects(
            freezes=(Freeze(SHIPMENT, "POD_REUSE_SUSPECT"),),
            watchlist=(Watch("uploader", DRIVER, "POD_DUPLICATE"),),
            emitted=(Emitted("fraud.flagged", {"reason": "POD_DUPLICATE", "podHash": POD_HASH}),),
        ),
    ),
    miss("RF07-miss-new-pod-hash", RF07, "a POD with a hash never seen passes", pod_uploaded()),
    hit(
        "RF08-hit-pod-before-pickup",
        RF08,
        "a POD dated 3 days before pickup (window 1 day) rejects and raises an operations ticket",
        pod_uploaded().but(names={"pod": {"metadata": {"timestamp": NOW_MS - 5 * DAY_MS}}}),
        reject="POD_TIMESTAMP_MISMATCH",
        effects=Effects(tickets=(Ticket("operations", (SHIPMENT,)),)),
    ),
    miss(
        "RF08-miss-pod-inside-window",
        RF08,
        "a POD dated 23 hours before pickup is inside the window",
        pod_uploaded().but(names={"pod": {"metadata": {"timestamp": NOW_MS - 2 * DAY_MS - 23 * HOUR_MS}}}),
    ),
    hit(
        "RF09-hit-no-geotag",
        RF09,
        "an inspection without a geotag rejects",
        inspection_uploaded().but(names={"inspection": {"geo": None}}),
        reject="INVALID_GEO",
        effects=Effects(emitted=(Emitted("inspection.invalid_geo", {"inspectionId": INSPECTION}),)),
    ),
    hit(
        "RF09-hit-poor-accuracy",
        RF09,
        "an inspection geotag with 150 m accuracy (limit 100 m) rejects",
        inspection_uploaded().but(names={"inspection": {"geo": {"accuracy": 150}}}),
        reject="INVALID_GEO",
        effects=Effects(emitted=(Emitted("inspection.invalid_geo", {"inspectionId": INSPECTION}),)),
    ),
    miss(
        "RF09-miss-accuracy-at-limit",
        RF09,
        "accuracy of exactly 100 m is accepted",
        inspection_uploaded().but(names={"inspection": {"geo": {"accuracy": 100}}}),
    ),
    hit(
        "RF10-hit-photo-of-other-truck",
        RF10,
        "a photo already used for another truck rejects and watchlists the franchise unit",
        inspection_uploaded().but(
            names={"db": {"indexes": {"inspection_image_hashes": {PHOTO_HASH: {"truckId": OTHER_TRUCK}}}}}
        ),
        reject="INSPECTION_DUPLICATE_PHOTO",
        effects=Effects(
            watchlist=(Watch("unit_franchise", FRANCHISE_UNIT, "POTENTIAL_FAKE_INSPECTION"),),
            tickets=(Ticket("district", (INSPECTION,)),),
        ),
    ),
    miss(
        "RF10-miss-photo-of-same-truck",
        RF10,
        "re-inspecting the same truck with a known photo is not a fake",
        inspection_uploaded().but(
            names={"db": {"indexes": {"inspection_image_hashes": {PHOTO_HASH: {"truckId": TRUCK}}}}}
        ),
    ),
    hit(
        "RF11-hit-chassis-mismatch",
        RF11,
        "an RC whose OCR chassis differs from the registry blocks the truck (request allowed)",
        doc_uploaded("rc").but(names={"doc": {"ocr": {"chassisNumber": "MA1TA2FB5K2A99999"}}}),
        effects=Effects(
            blocks=(Block("truck", TRUCK, "CHASSIS_MISMATCH", "high"),), tickets=(Ticket("kyc", (TRUCK,)),)
        ),
    ),
    miss("RF11-miss-chassis-matches", RF11, "an RC whose chassis matches the registry", doc_uploaded("rc")),
    hit(
        "RF12-hit-tenth-truck",
        RF12,
        "an operator with 10 trucks cannot register another; the operator is notified",
        truck_create().but(answers={trucks_by_operator(): 10}),
        reject="MAX_TRUCKS_EXCEEDED",
        effects=Effects(notifications=(Notice("OPERATOR", OPERATOR, "Max trucks allowed: 10"),)),
    ),
    miss(
        "RF12-miss-ninth-truck",
        RF12,
        "an operator with 9 trucks registers a 10th",
        truck_create().but(answers={trucks_by_operator(): 9}),
    ),
    hit(
        "RF13-hit-balance-below-fee",
        RF13,
        "a balance below the bidding fee rejects; `required` stays a number in the event",
        bid_create().but(names={"operator": {"ledgerBalance": 10_000}}),
        reject="LEDGER_INSUFFICIENT",
        effects=Effects(
            emitted=(
                Emitted("account.insufficient_funds", {"operatorId": OPERATOR, "required": BIDDING_FEE}),
            )
        ),
    ),
    miss(
        "RF13-miss-balance-equals-fee",
        RF13,
        "a balance exactly equal to the fee is enough",
        bid_create().but(names={"operator": {"ledgerBalance": BIDDING_FEE}}),
    ),
    hit(
        "RF14-hit-winner-cannot-pay",
        RF14,
        "at finalization a winner whose balance is below the fee is skipped (retry event + ticket)",
        bid_finalize().but(names={"winner": {"ledgerBalance": 100}}),
        effects=Effects(
            tickets=(Ticket("ops"),),
            emitted=(
                Emitted("bid.finalize.retry", {"bookingId": BOOKING, "reason": "LEDGER_INVALID_AT_FINALIZE"}),
            ),
        ),
    ),
    miss(
        "RF14-miss-winner-can-pay", RF14, "a winner whose balance covers the fee is finalized", bid_finalize()
    ),
    hit(
        "RF15-hit-tie",
        RF15,
        "equal lowest bids apply the tie-breaker (ALLOW with a proceed outcome)",
        bid_evaluate().but(names={"bids": {"haveIdenticalAmount": True}}),
        proceed=("apply_tiebreaker",),
        effects=Effects(
            emitted=(
                Emitted(
                    "bid.tie_breaker.used", {"bookingId": BOOKING, "method": "timestamp_then_operatorId"}
                ),
            )
        ),
    ),
    miss("RF15-miss-no-tie", RF15, "distinct amounts need no tie-breaker", bid_evaluate()),
    hit(
        "RF16-hit-phone-in-message",
        RF16,
        "a phone number in a message (ctx.payload.text in the reference) rejects and watchlists the sender",
        message_send().but(ctx={"payload": {"text": PII_PHONE}}),
        reject="PII_REDACTED",
        effects=Effects(watchlist=(Watch("user", SHIPPER, "PII_LEAK_ATTEMPT"),)),
    ),
    miss(
        "RF16-miss-plain-message",
        RF16,
        "a message without contact details",
        message_send().but(ctx={"payload": {"text": "Reaching the gate at 9, dock 4"}}),
    ),
    hit(
        "RF17-hit-shared-device-overlap",
        RF17,
        "a device with 3 driver accounts accepting an overlapping shipment rejects and watchlists the device",
        shipment_accept().but(answers={driver_accounts(): 3, overlapping_accept(TIME_WINDOW): True}),
        reject="DEVICE_ACCOUNT_COLLISION",
        effects=Effects(
            watchlist=(Watch("device", DEVICE, "MULTI_ACCOUNT_DEVICE"),), tickets=(Ticket("fraud"),)
        ),
    ),
    miss(
        "RF17-miss-shared-device-no-overlap",
        RF17,
        "a shared device whose accounts accepted nothing overlapping",
        shipment_accept().but(answers={driver_accounts(): 3}),
    ),
    hit(
        "RF18-hit-critical-override-without-2fa",
        RF18,
        "a critical override without 2FA rejects",
        override_request().but(names={"override": {"twoFaVerified": False}}),
        reject="OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION",
        effects=Effects(
            emitted=(Emitted("governance.override.attempt", {"adminId": ADMIN, "targetRule": RF02}),)
        ),
    ),
    miss(
        "RF18-miss-critical-override-with-2fa",
        RF18,
        "a justified critical override with 2FA",
        override_request(),
    ),
    hit(
        "RF19-hit-triad-fifth-time",
        RF19,
        "the 5th shipment of one triad freezes it and suspends the operator",
        shipment_completed().but(names={"collusionGraph": {"triadFrequency": 5}}),
        effects=Effects(
            freezes=(Freeze(SHIPMENT, "TRIAD_COLLUSION"),),
            suspensions=(Suspension(OPERATOR, "POSSIBLE_COLLUSION", "critical"),),
            tickets=(Ticket("fraud", (SHIPMENT,)),),
        ),
    ),
    miss(
        "RF19-miss-triad-fourth-time",
        RF19,
        "the 4th shipment of one triad",
        shipment_completed().but(names={"collusionGraph": {"triadFrequency": 4}}),
    ),
    hit(
        "RF20-hit-bid-modify-flood",
        RF20,
        "bid modifications over the per-minute limit are throttled",
        bid_modify().but(answers={bid_modify_limit(): True}),
        throttle=True,
        effects=Effects(emitted=(Emitted("abuse.rate_limit", {"userId": OPERATOR, "action": "bid.modify"}),)),
    ),
    miss("RF20-miss-bid-modify-under-limit", RF20, "bid modifications under the limit", bid_modify()),
    hit(
        "RF21-hit-predatory-bid",
        RF21,
        "a bid under half the booking's lower bound (priceRange.min) rejects and watchlists the operator",
        bid_create().but(names={"bid": {"id": BID, "amount": 500_000}}),
        reject="PREDATORY_BID_HOLD",
        effects=Effects(
            watchlist=(Watch("operator", OPERATOR, "PREDATORY_BID"),), tickets=(Ticket("ops", (BID,)),)
        ),
    ),
    miss(
        "RF21-miss-bid-at-half-lower-bound",
        RF21,
        "a bid of exactly half the lower bound is not predatory",
        bid_create().but(names={"bid": {"id": BID, "amount": 562_500}}),
    ),
    hit(
        "RF22-hit-truck-during-maintenance",
        RF22,
        "registering a truck during the operator's maintenance window rejects",
        truck_create().but(answers={maintenance(): True}),
        reject="MAINTENANCE_WINDOW",
        effects=Effects(
            emitted=(Emitted("ops.maintenance_block", {"operatorId": OPERATOR, "action": "truck.create"}),)
        ),
    ),
    miss("RF22-miss-bid-outside-maintenance", RF22, "bidding outside a maintenance window", bid_create()),
    hit(
        "RF23-hit-provider-down",
        RF23,
        "a failing routing provider falls back to the local heuristic (ALLOW with a proceed outcome)",
        route_request().but(names={"routing": {"provider": {"status": "TIMEOUT"}}}),
        proceed=("use_local_heuristic",),
        effects=Effects(
            emitted=(Emitted("routing.fallback", {"bookingId": BOOKING, "provider": "osrm-primary"}),)
        ),
    ),
    miss("RF23-miss-provider-ok", RF23, "a healthy routing provider", route_request()),
    hit(
        "RF24-hit-photo-20km-away",
        RF24,
        "an inspection 20 km from the unit's centre (radius 5 km) rejects and watchlists the unit",
        inspection_uploaded().but(names={"inspection": {"geo": km_north_of_pune(20)}}),
        reject="OUT_OF_ZONE_INSPECTION",
        effects=Effects(
            watchlist=(Watch("unit_franchise", FRANCHISE_UNIT, "OUT_OF_ZONE_INSPECTION"),),
            tickets=(Ticket("district", (INSPECTION,)),),
        ),
    ),
    miss(
        "RF24-miss-photo-4km-away",
        RF24,
        "an inspection 4 km from the centre is inside the 5 km zone",
        inspection_uploaded().but(names={"inspection": {"geo": km_north_of_pune(4)}}),
    ),
    hit(
        "RF25-hit-partial-ingest",
        RF25,
        "a partially failed KYC batch blocks each affected operator (the id list is kept a list)",
        kyc_bulk_ingest().but(
            names={
                "ingest": {
                    "partialFailure": True,
                    "affected": 7,
                    "affectedOperatorIds": [OPERATOR, OPERATOR_2],
                }
            }
        ),
        effects=Effects(
            blocks=(
                Block("operator", OPERATOR, "KYC_INGEST_INCONSISTENT", "high"),
                Block("operator", OPERATOR_2, "KYC_INGEST_INCONSISTENT", "high"),
            ),
            tickets=(Ticket("kyc", (BATCH,), "MANUAL_REVIEW"),),
            emitted=(Emitted("kyc.ingest.inconsistent", {"batchId": BATCH, "affectedRecords": 7}),),
        ),
    ),
    miss("RF25-miss-clean-ingest", RF25, "a fully successful KYC batch", kyc_bulk_ingest()),
]


# --- the project's default bundle (rules/) ---------------------------------------------------

DEFAULT_CASES: list[Case] = [
    hit(
        "RF01-hit-unverified-shipper-books",
        RF01,
        "a shipper whose KYC is PENDING cannot create a booking",
        booking_create().but(ctx={"userKycStatus": "PENDING"}),
        reject="KYC_REQUIRED",
        effects=Effects(
            emitted=(
                Emitted(
                    "fraud.flagged",
                    {"reason": "KYC_NOT_VERIFIED", "userId": SHIPPER, "action": "booking.create"},
                ),
            )
        ),
    ),
    hit(
        "RF01-hit-role-spelled-upper-case",
        RF01,
        "the check does not depend on the role's spelling: 'SHIPPER' with no KYC is rejected too",
        booking_create().but(ctx={"userRole": "SHIPPER", "userKycStatus": DROP}),
        reject="KYC_REQUIRED",
    ),
    hit(
        "RF01-hit-driver-starts-unverified",
        RF01,
        "a driver whose KYC is PENDING cannot start the shipment",
        shipment_start().but(ctx={"userKycStatus": "PENDING"}),
        reject="KYC_REQUIRED",
    ),
    hit(
        "RF01-hit-modify-bid-after-kyc-rejected",
        RF01,
        "an operator whose KYC was rejected cannot keep changing a live bid",
        bid_modify().but(ctx={"userKycStatus": "REJECTED"}),
        reject="KYC_REQUIRED",
    ),
    miss("RF01-miss-verified-driver-starts", RF01, "a verified driver starts the shipment", shipment_start()),
    hit(
        "RF02-hit-bid-with-expired-truck",
        RF02,
        "bidding with a truck in EXPIRED_DOCS rejects, blocks the truck, raises a franchise ticket",
        bid_create().but(names={"truck": {"status": "EXPIRED_DOCS"}}),
        reject="TRUCK_DOCS_EXPIRED",
        effects=Effects(
            blocks=(Block("truck", TRUCK, "EXPIRED_DOCUMENTS", "critical"),),
            tickets=(Ticket("franchise", (TRUCK,)),),
        ),
    ),
    miss(
        "RF02-miss-bid-without-truck",
        RF02,
        "a bid without a truck has no truck to check",
        bid_create().but(names={"truck": DROP, "bid": {"truckId": None}}),
    ),
    hit(
        "RF03-hit-otp-locked",
        RF03,
        "a locked OTP cannot complete even when the code given is valid",
        shipment_complete().but(names={"shipment": {"otpLocked": True, "otpAttempts": 5}}),
        reject="OTP_REQUIRED",
        effects=Effects(emitted=(Emitted("security.otp_failed", {"shipmentId": SHIPMENT, "attempts": 5}),)),
    ),
    hit(
        "RF03-hit-no-otp-state",
        RF03,
        "no OTP state at all rejects; the event reports 0 attempts instead of failing",
        shipment_complete().but(names={"shipment": {"otpValid": DROP, "otpAttempts": DROP}}),
        reject="OTP_REQUIRED",
        effects=Effects(emitted=(Emitted("security.otp_failed", {"shipmentId": SHIPMENT, "attempts": 0}),)),
    ),
    miss("RF03-miss-valid-otp", RF03, "a valid, unlocked OTP completes", shipment_complete()),
    hit(
        "RF04-hit-fifth-wrong-otp",
        RF04,
        "the 5th wrong OTP blocks the shipment, raises a security ticket and tells the shipper",
        otp_attempt().but(names={"shipment": {"otpAttempts": 5}}),
        effects=Effects(
            blocks=(Block("shipment", SHIPMENT, "OTP_BRUTE_FORCE", "critical"),),
            tickets=(Ticket("security", (SHIPMENT,)),),
            notifications=(
                Notice(
                    "SHIPPER",
                    SHIPPER,
                    f"Delivery OTP locked for shipment {SHIPMENT} after too "
                    "many wrong attempts; re-issue it to continue",
                ),
            ),
            emitted=(Emitted("fraud.flagged", {"reason": "OTP_BRUTE_FORCE", "shipmentId": SHIPMENT}),),
        ),
    ),
    miss(
        "RF04-miss-fourth-wrong-otp",
        RF04,
        "the 4th wrong OTP is only counted",
        otp_attempt().but(names={"shipment": {"otpAttempts": 4}}),
    ),
    hit(
        "RF05-hit-250km-in-2min",
        RF05,
        "a 250 km jump in 2 minutes freezes the shipment and tells its operator",
        gps_ping().but(names={"gps": {"deltaDistanceKm": 250, "deltaTimeSec": 120}}),
        effects=Effects(
            freezes=(Freeze(SHIPMENT, "GPS_JUMP"),),
            notifications=(Notice("OPERATOR", OPERATOR, f"GPS anomaly detected for shipment {SHIPMENT}"),),
            emitted=(
                Emitted(
                    "gps.anomaly.detected",
                    {
                        "shipmentId": SHIPMENT,
                        "details": merge(GPS, {"deltaDistanceKm": 250, "deltaTimeSec": 120}),
                    },
                ),
            ),
        ),
    ),
    miss(
        "RF05-miss-250km-in-6min",
        RF05,
        "250 km in 301 s is past the 300 s window",
        gps_ping().but(names={"gps": {"deltaDistanceKm": 250, "deltaTimeSec": 301}}),
    ),
    miss(
        "RF05-miss-first-ping",
        RF05,
        "the first ping of a shipment has no previous ping to jump from",
        gps_ping().but(names={"gps": {"deltaDistanceKm": None, "deltaTimeSec": None}}),
    ),
    hit(
        "RF06-hit-mock-location",
        RF06,
        "a device reporting a mock location is spoofing even with a low score",
        gps_ping().but(names={"telemetry": {"mockLocation": True}}),
        effects=Effects(
            freezes=(Freeze(SHIPMENT, "GPS_SPOOF"),),
            blocks=(Block("device", DEVICE, "DEVICE_SPOOF_DETECTED", "high"),),
            tickets=(Ticket("fraud", (DEVICE, SHIPMENT)),),
        ),
    ),
    hit(
        "RF06-hit-spoof-score",
        RF06,
        "a spoof score at the threshold",
        gps_ping().but(names={"telemetry": {"spoofScore": 0.8}}),
        effects=Effects(
            freezes=(Freeze(SHIPMENT, "GPS_SPOOF"),),
            blocks=(Block("device", DEVICE, "DEVICE_SPOOF_DETECTED", "high"),),
            tickets=(Ticket("fraud", (DEVICE, SHIPMENT)),),
        ),
    ),
    miss(
        "RF06-miss-score-below-no-mock",
        RF06,
        "a score just under 0.8 without a mock location",
        gps_ping().but(names={"telemetry": {"spoofScore": 0.79}}),
    ),
    hit(
        "RF07-hit-pod-of-another-shipment",
        RF07,
        "a POD already used on another shipment rejects, freezes, watchlists the driver, opens a ticket",
        pod_uploaded().but(
            names={"db": {"indexes": {"pod_hashes": {POD_HASH: {"shipmentId": OTHER_SHIPMENT}}}}}
        ),
        reject="POD_DUPLICATE",
        effects=Effects(
            freezes=(Freeze(SHIPMENT, "POD_REUSE_SUSPECT"),),
            watchlist=(Watch("user", DRIVER, "POD_DUPLICATE"),),
            tickets=(Ticket("fraud", (SHIPMENT,)),),
            emitted=(
                Emitted(
                    "fraud.flagged", {"reason": "POD_DUPLICATE", "podHash": POD_HASH, "shipmentId": SHIPMENT}
                ),
            ),
        ),
    ),
    miss(
        "RF07-miss-same-pod-same-shipment",
        RF07,
        "re-uploading the same POD to the same shipment (e.g. after a mistyped OTP) is not reuse",
        pod_uploaded().but(names={"db": {"indexes": {"pod_hashes": {POD_HASH: {"shipmentId": SHIPMENT}}}}}),
    ),
    hit(
        "RF08-hit-pod-dated-in-future",
        RF08,
        "a POD dated 3 days after the upload (no drop time yet) rejects",
        pod_uploaded().but(names={"pod": {"metadata": {"timestamp": NOW_MS + 3 * DAY_MS}}}),
        reject="POD_TIMESTAMP_MISMATCH",
        effects=Effects(tickets=(Ticket("operations", (SHIPMENT,)),)),
    ),
    hit(
        "RF08-hit-pod-before-pickup",
        RF08,
        "a POD dated 3 days before pickup rejects",
        pod_uploaded().but(names={"pod": {"metadata": {"timestamp": NOW_MS - 5 * DAY_MS}}}),
        reject="POD_TIMESTAMP_MISMATCH",
    ),
    miss(
        "RF08-miss-no-metadata-timestamp",
        RF08,
        "a POD without a metadata timestamp (a PDF scan) is not rejected",
        pod_uploaded().but(names={"pod": {"metadata": {"timestamp": DROP}}}),
    ),
    hit(
        "RF09-hit-geo-without-coordinates",
        RF09,
        "a geotag with an accuracy but no coordinates is a missing geotag",
        inspection_uploaded().but(names={"inspection": {"geo": {"lat": DROP, "lng": DROP}}}),
        reject="INVALID_GEO",
        effects=Effects(
            emitted=(Emitted("inspection.invalid_geo", {"inspectionId": INSPECTION, "truckId": TRUCK}),)
        ),
    ),
    hit(
        "RF09-hit-no-geotag",
        RF09,
        "an inspection without a geotag",
        inspection_uploaded().but(names={"inspection": {"geo": None}}),
        reject="INVALID_GEO",
    ),
    hit(
        "RF09-hit-accuracy-missing",
        RF09,
        "a geotag without an accuracy cannot be trusted",
        inspection_uploaded().but(names={"inspection": {"geo": {"accuracy": DROP}}}),
        reject="INVALID_GEO",
    ),
    hit(
        "RF09-hit-accuracy-over-limit",
        RF09,
        "an accuracy of 100.5 m is over the 100 m limit",
        inspection_uploaded().but(names={"inspection": {"geo": {"accuracy": 100.5}}}),
        reject="INVALID_GEO",
    ),
    miss(
        "RF09-miss-accuracy-at-limit",
        RF09,
        "an accuracy of exactly 100 m is accepted",
        inspection_uploaded().but(names={"inspection": {"geo": {"accuracy": 100}}}),
    ),
    hit(
        "RF10-hit-photo-of-other-truck",
        RF10,
        "a photo already used for another truck rejects and watchlists the franchise unit",
        inspection_uploaded().but(
            names={"db": {"indexes": {"inspection_image_hashes": {PHOTO_HASH: {"truckId": OTHER_TRUCK}}}}}
        ),
        reject="INSPECTION_DUPLICATE_PHOTO",
        effects=Effects(
            watchlist=(Watch("franchise_unit", FRANCHISE_UNIT, "POTENTIAL_FAKE_INSPECTION"),),
            tickets=(Ticket("district", (INSPECTION, TRUCK)),),
        ),
    ),
    miss(
        "RF10-miss-photo-of-same-truck",
        RF10,
        "re-inspecting the same truck with a known photo is not a fake",
        inspection_uploaded().but(
            names={"db": {"indexes": {"inspection_image_hashes": {PHOTO_HASH: {"truckId": TRUCK}}}}}
        ),
    ),
    hit(
        "RF11-hit-chassis-mismatch",
        RF11,
        "an RC (upper case, as the project names it) whose OCR chassis differs blocks the truck",
        doc_uploaded().but(names={"doc": {"ocr": {"chassisNumber": "MA1TA2FB5K2A99999"}}}),
        effects=Effects(
            blocks=(Block("truck", TRUCK, "CHASSIS_MISMATCH", "high"),),
            tickets=(Ticket("kyc", (TRUCK, DOC)),),
        ),
    ),
    miss(
        "RF11-miss-ocr-unreadable",
        RF11,
        "an RC whose chassis OCR could not read is not a mismatch",
        doc_uploaded().but(names={"doc": {"ocr": {"chassisNumber": None}}}),
    ),
    miss(
        "RF11-miss-insurance",
        RF11,
        "only the RC carries the chassis number",
        doc_uploaded("INSURANCE").but(names={"doc": {"ocr": {"chassisNumber": "X"}}}),
    ),
    hit(
        "RF12-hit-tenth-truck",
        RF12,
        "an operator with 10 trucks cannot register another; the operator is notified",
        truck_create().but(answers={trucks_by_operator(): 10}),
        reject="MAX_TRUCKS_EXCEEDED",
        effects=Effects(notifications=(Notice("OPERATOR", OPERATOR, "Max trucks allowed: 10"),)),
    ),
    miss(
        "RF12-miss-ninth-truck",
        RF12,
        "an operator with 9 trucks registers a 10th",
        truck_create().but(answers={trucks_by_operator(): 9}),
    ),
    hit(
        "RF13-hit-one-paisa-short",
        RF13,
        "a balance one paisa under the fee rejects with 422; the event states the fee in paise",
        bid_create().but(names={"operator": {"ledgerBalance": BIDDING_FEE - 1}}),
        reject="LEDGER_INSUFFICIENT",
        status=422,
        effects=Effects(
            emitted=(
                Emitted("account.insufficient_funds", {"operatorId": OPERATOR, "requiredPaise": BIDDING_FEE}),
            )
        ),
    ),
    hit(
        "RF13-hit-balance-unknown",
        RF13,
        "a missing balance cannot prove the fee is covered: reject, not let through",
        bid_create().but(names={"operator": {"ledgerBalance": DROP}}),
        reject="LEDGER_INSUFFICIENT",
        status=422,
    ),
    miss(
        "RF13-miss-balance-equals-fee",
        RF13,
        "a balance exactly equal to the fee is enough (the ledger may reach zero)",
        bid_create().but(names={"operator": {"ledgerBalance": BIDDING_FEE}}),
    ),
    hit(
        "RF14-hit-winner-kyc-revoked",
        RF14,
        "a winner whose KYC was rejected after bidding is skipped: reject 409, retry event, ticket",
        bid_finalize().but(names={"winner": {"kycStatus": "REJECTED"}}),
        reject="WINNER_INELIGIBLE",
        status=409,
        effects=Effects(
            tickets=(Ticket("ops", (BOOKING, BID)),),
            emitted=(
                Emitted(
                    "bid.finalize.retry",
                    {"bookingId": BOOKING, "skippedBidId": BID, "reason": "WINNER_INVALID_AT_FINALIZE"},
                ),
            ),
        ),
    ),
    hit(
        "RF14-hit-winner-suspended",
        RF14,
        "a suspended winner is skipped",
        bid_finalize().but(names={"winner": {"status": "SUSPENDED"}}),
        reject="WINNER_INELIGIBLE",
        status=409,
    ),
    miss(
        "RF14-miss-winner-spent-balance",
        RF14,
        "a winner whose balance is now below the fee already paid it when bidding: not skipped",
        bid_finalize().but(names={"winner": {"ledgerBalance": 0}}),
    ),
    hit(
        "RF15-hit-tie",
        RF15,
        "equal lowest bids apply the tie-breaker (ALLOW with a proceed outcome)",
        bid_evaluate().but(names={"bids": {"haveIdenticalAmount": True}}),
        proceed=("apply_tiebreaker",),
        effects=Effects(
            emitted=(
                Emitted(
                    "bid.tie_breaker.used",
                    {"bookingId": BOOKING, "method": "amount_then_createdAt_then_operatorId"},
                ),
            )
        ),
    ),
    miss(
        "RF15-miss-truthy-not-true",
        RF15,
        "only a real boolean flag triggers the tie-breaker",
        bid_evaluate().but(names={"bids": {"haveIdenticalAmount": "yes"}}),
    ),
    hit(
        "RF16-hit-obfuscated-phone-in-message",
        RF16,
        "a phone number written digit by digit in a message rejects and watchlists the sender",
        message_send().but(payload={"text": PII_OBFUSCATED}),
        reject="PII_REDACTED",
        effects=Effects(watchlist=(Watch("user", SHIPPER, "PII_LEAK_ATTEMPT"),)),
    ),
    hit(
        "RF16-hit-email-in-bid-note",
        RF16,
        "an e-mail address in a bid's note rejects the bid",
        bid_create().but(payload={"text": PII_EMAIL}),
        reject="PII_REDACTED",
    ),
    miss("RF16-miss-plain-bid-note", RF16, "a bid note without contact details", bid_create()),
    hit(
        "RF17-hit-shared-device-overlap",
        RF17,
        "a device with 3 driver accounts accepting an overlapping shipment rejects",
        shipment_accept().but(answers={driver_accounts(): 3, overlapping_accept(TIME_WINDOW): True}),
        reject="DEVICE_ACCOUNT_COLLISION",
        effects=Effects(
            watchlist=(Watch("device", DEVICE, "MULTI_ACCOUNT_DEVICE"),),
            tickets=(Ticket("fraud", (DEVICE, SHIPMENT)),),
        ),
    ),
    miss(
        "RF17-miss-no-device-id",
        RF17,
        "without a device id there is nothing to correlate (and no data call errors)",
        shipment_accept().but(ctx={"deviceId": DROP}, answers={driver_accounts(): DROP}),
    ),
    miss(
        "RF17-miss-single-account-device",
        RF17,
        "a device bound to one driver account",
        shipment_accept().but(answers={overlapping_accept(TIME_WINDOW): True}),
    ),
    hit(
        "RF18-hit-empty-justification",
        RF18,
        "an empty justification is no justification, even with 2FA",
        override_request().but(names={"override": {"justification": ""}}),
        reject="OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION",
        effects=Effects(
            emitted=(Emitted("governance.override.attempt", {"adminId": ADMIN, "overrideId": OVERRIDE}),)
        ),
    ),
    hit(
        "RF18-hit-critical-block-not-from-rule",
        RF18,
        "lifting a critical block an admin placed (no rule) still needs 2FA",
        override_request().but(
            names={"override": {"twoFaVerified": False, "target": {"ruleId": DROP, "ruleSeverity": DROP}}}
        ),
        reject="OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION",
    ),
    miss(
        "RF18-miss-high-override-without-2fa",
        RF18,
        "a non-critical override needs no 2FA",
        override_request().but(
            names={
                "override": {"twoFaVerified": False, "target": {"ruleSeverity": "high", "severity": "high"}}
            }
        ),
    ),
    hit(
        "RF19-hit-triad-fifth-time",
        RF19,
        "the 5th shipment of one triad freezes it, suspends the operator and watchlists all three",
        shipment_completed().but(names={"collusionGraph": {"triadFrequency": 5}}),
        effects=Effects(
            freezes=(Freeze(SHIPMENT, "TRIAD_COLLUSION"),),
            suspensions=(Suspension(OPERATOR, "POSSIBLE_COLLUSION", "critical"),),
            watchlist=(
                Watch("user", SHIPPER, "TRIAD_COLLUSION"),
                Watch("user", OPERATOR, "TRIAD_COLLUSION"),
                Watch("user", DRIVER, "TRIAD_COLLUSION"),
            ),
            tickets=(Ticket("fraud", (SHIPMENT,)),),
        ),
    ),
    miss(
        "RF19-miss-triad-fourth-time",
        RF19,
        "the 4th shipment of one triad",
        shipment_completed().but(names={"collusionGraph": {"triadFrequency": 4}}),
    ),
    hit(
        "RF20-hit-bid-modify-flood",
        RF20,
        "bid modifications over the per-minute limit are throttled",
        bid_modify().but(answers={bid_modify_limit(): True}),
        throttle=True,
        effects=Effects(emitted=(Emitted("abuse.rate_limit", {"userId": OPERATOR, "action": "bid.modify"}),)),
    ),
    miss("RF20-miss-bid-modify-under-limit", RF20, "bid modifications under the limit", bid_modify()),
    hit(
        "RF21-hit-low-range-set-by-shipper",
        RF21,
        "a bid inside a range the shipper set far below the estimate is still predatory",
        bid_create().but(
            names={"booking": {"priceRange": {"min": 250_000, "max": 600_000}}, "bid": {"amount": 500_000}}
        ),
        reject="PREDATORY_BID_HOLD",
        effects=Effects(
            watchlist=(Watch("operator", OPERATOR, "PREDATORY_BID"),),
            tickets=(Ticket("ops", (BOOKING, OPERATOR)),),
        ),
    ),
    miss(
        "RF21-miss-at-factor-of-estimate",
        RF21,
        "a bid of exactly 0.5 x 0.9 x the expected price is not predatory",
        bid_create().but(names={"booking": {"priceRange": {"min": 250_000}}, "bid": {"amount": 562_500}}),
    ),
    miss(
        "RF21-miss-no-estimate",
        RF21,
        "without an expected price there is nothing to compare with",
        bid_create().but(names={"booking": {"expectedPrice": None}, "bid": {"amount": 1}}),
    ),
    hit(
        "RF22-hit-modify-during-maintenance",
        RF22,
        "changing a bid during the operator's maintenance window rejects",
        bid_modify().but(answers={maintenance(): True}),
        reject="MAINTENANCE_WINDOW",
        effects=Effects(
            emitted=(Emitted("ops.maintenance_block", {"operatorId": OPERATOR, "action": "bid.modify"}),)
        ),
    ),
    hit(
        "RF22-hit-truck-during-maintenance",
        RF22,
        "registering a truck during the window rejects",
        truck_create().but(answers={maintenance(): True}),
        reject="MAINTENANCE_WINDOW",
    ),
    miss("RF22-miss-truck-outside-maintenance", RF22, "registering a truck outside a window", truck_create()),
    hit(
        "RF23-hit-provider-status-unknown",
        RF23,
        "no provider status at all also falls back to the local heuristic",
        route_request().but(names={"routing": {"provider": {"status": DROP}}}),
        proceed=("use_local_heuristic",),
        effects=Effects(
            emitted=(Emitted("routing.fallback", {"bookingId": BOOKING, "provider": "osrm-primary"}),)
        ),
    ),
    miss("RF23-miss-provider-ok", RF23, "a healthy routing provider", route_request()),
    hit(
        "RF24-hit-outside-unit-radius",
        RF24,
        "3 km from the centre of a unit whose own zone is 2 km rejects (the 5 km default does not apply)",
        inspection_uploaded().but(
            names={"unitFranchise": {"radiusMeters": 2000}, "inspection": {"geo": km_north_of_pune(3)}}
        ),
        reject="OUT_OF_ZONE_INSPECTION",
        effects=Effects(
            watchlist=(Watch("franchise_unit", FRANCHISE_UNIT, "OUT_OF_ZONE_INSPECTION"),),
            tickets=(Ticket("district", (INSPECTION,)),),
        ),
    ),
    hit(
        "RF24-hit-outside-default-radius",
        RF24,
        "a unit without its own radius uses the system's 5 km",
        inspection_uploaded().but(
            names={"unitFranchise": {"radiusMeters": DROP}, "inspection": {"geo": km_north_of_pune(5.2)}}
        ),
        reject="OUT_OF_ZONE_INSPECTION",
    ),
    miss(
        "RF24-miss-inside-default-radius",
        RF24,
        "4 km from the centre of a unit without its own radius",
        inspection_uploaded().but(
            names={"unitFranchise": {"radiusMeters": DROP}, "inspection": {"geo": km_north_of_pune(4)}}
        ),
    ),
    hit(
        "RF25-hit-partial-ingest",
        RF25,
        "a partially failed KYC batch blocks each affected operator and asks the kyc team to reconcile",
        kyc_bulk_ingest().but(
            names={
                "ingest": {
                    "partialFailure": True,
                    "affected": 7,
                    "affectedOperatorIds": [OPERATOR, OPERATOR_2],
                }
            }
        ),
        effects=Effects(
            blocks=(
                Block("operator", OPERATOR, "KYC_INGEST_INCONSISTENT", "high"),
                Block("operator", OPERATOR_2, "KYC_INGEST_INCONSISTENT", "high"),
            ),
            tickets=(Ticket("kyc", (BATCH,), "MANUAL_REVIEW"),),
            emitted=(Emitted("kyc.ingest.inconsistent", {"batchId": BATCH, "affectedRecords": 7}),),
        ),
    ),
    miss("RF25-miss-clean-ingest", RF25, "a fully successful KYC batch", kyc_bulk_ingest()),
]
