"""The 25 conditions of the public reference bundle run unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rodistaa.acs.lang import (
    CompiledExpression,
    compile_expression,
    default_registry,
    event_type_guard,
    fact_key,
    interpret,
)

# tests/acs/lang/<this file> -> parents[3] is the repository root; the shared reference material
# lives next to it.
REFERENCE = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference" / "acs_rules_top25.yaml"
REGISTRY = default_registry()
NOW = 1_700_000_000_000


def _load_rules() -> list[dict[str, Any]]:
    rules = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
    assert isinstance(rules, list)
    return rules


RULES = {rule["id"]: rule for rule in _load_rules()}

EXPECTED_GUARDS = {
    "RF01_KYC_MANDATORY": {"booking.create", "bid.create", "shipment.start"},
    "RF02_TRUCK_DOCS_EXPIRED": {"shipment.assign", "bid.create"},
    "RF03_OTP_MANDATORY_COMPLETION": {"shipment.complete"},
    "RF04_OTP_BRUTE_FORCE_PROTECTION": {"security.otp_attempt"},
    "RF05_GPS_JUMP_ANOMALY": {"gps.ping"},
    "RF06_GPS_SPOOF_SIGNATURE": {"gps.ping"},
    "RF07_POD_DUPLICATE_HASH": {"pod.uploaded"},
    "RF08_POD_METADATA_MISMATCH": {"pod.uploaded"},
    "RF09_INSPECTION_GEO_MISSING": {"inspection.uploaded"},
    "RF10_INSPECTION_DUPLICATE_PHOTO": {"inspection.uploaded"},
    "RF11_TRUCK_OWNER_MISMATCH": {"doc.uploaded"},
    "RF12_OPERATOR_MAX_TRUCKS_LIMIT": {"truck.create"},
    "RF13_LEDGER_NEGATIVE_PREVENTION": {"bid.create"},
    "RF14_AUTO_FINALIZATION_LEDGER_RACE": {"bid.finalize"},
    "RF15_BID_TIE_BREAKER": {"bid.evaluate"},
    "RF16_PII_LEAK_REDACTION": {"bid.create", "message.send"},
    "RF17_DEVICE_ACCOUNT_COLLISION": {"shipment.accept"},
    "RF18_ADMIN_OVERRIDE_NO_JUSTIFICATION": {"admin.override.request"},
    "RF19_COLLUSION_TRIAD_FREQ": {"shipment.completed"},
    "RF20_BID_FLOOD_RATE_LIMIT": {"bid.modify"},
    "RF21_PREDATORY_BID_DETECT": {"bid.create"},
    "RF22_MAINTENANCE_WINDOW_BLOCK": {"bid.create", "truck.create"},
    "RF23_ROUTING_PROVIDER_FALLBACK": {"route.request"},
    "RF24_INSPECTION_OUT_OF_ZONE": {"inspection.uploaded"},
    "RF25_BATCH_KYC_INGEST_INCONSISTENT": {"kyc.bulk_ingest"},
}

CONFIG = {
    "otpRetryLimit": 5,
    "spoofThreshold": 0.8,
    "podTimeWindowBefore": 86_400_000,
    "podTimeWindowAfter": 86_400_000,
    "maxGeoAccuracyMeters": 100,
    "maxTrucksPerOperator": 10,
    "triadFrequencyThreshold": 5,
    "bidModifyRateLimit": 10,
    "predatoryBidFactor": 0.5,
    "inspectionGeoRadiusMeters": 5000,
}


def _compiled(rule_id: str) -> CompiledExpression:
    return compile_expression(RULES[rule_id]["condition"], REGISTRY)


def _event(event_type: str, **names: Any) -> dict[str, Any]:
    return {"event": {"type": event_type}, "system": {"config": CONFIG}, **names}


def test_reference_file_has_25_rules() -> None:
    assert len(RULES) == 25
    assert set(RULES) == set(EXPECTED_GUARDS)


@pytest.mark.parametrize("rule_id", sorted(EXPECTED_GUARDS))
def test_every_condition_compiles_with_its_event_guard(rule_id: str) -> None:
    compiled = _compiled(rule_id)
    assert compiled.source == RULES[rule_id]["condition"]
    assert event_type_guard(compiled.ast) == frozenset(EXPECTED_GUARDS[rule_id])
    assert compiled.event_types == frozenset(EXPECTED_GUARDS[rule_id])
    assert "event.type" in compiled.paths


@pytest.mark.parametrize("rule_id", sorted(EXPECTED_GUARDS))
def test_every_condition_is_unmatched_for_another_event(rule_id: str) -> None:
    """Missing data never errors; a rule guarded for other events is simply not matched."""
    compiled = _compiled(rule_id)
    facts = _AnyFacts()
    assert compiled.evaluate(_event("unrelated.event"), facts=facts, now_ms=NOW) is False


class _AnyFacts(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        return 0


CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    (
        "RF01_KYC_MANDATORY",
        _event("bid.create", ctx={"userRole": "operator", "userKycStatus": "PENDING"}),
        {},
        True,
    ),
    (
        "RF01_KYC_MANDATORY",
        _event("bid.create", ctx={"userRole": "operator", "userKycStatus": "VERIFIED"}),
        {},
        False,
    ),
    (
        "RF01_KYC_MANDATORY",
        _event("bid.create", ctx={"userRole": "admin", "userKycStatus": "PENDING"}),
        {},
        False,
    ),
    ("RF03_OTP_MANDATORY_COMPLETION", _event("shipment.complete", shipment={}), {}, True),
    (
        "RF03_OTP_MANDATORY_COMPLETION",
        _event("shipment.complete", shipment={"otpValid": True}),
        {},
        False,
    ),
    (
        "RF04_OTP_BRUTE_FORCE_PROTECTION",
        _event("security.otp_attempt", shipment={"otpAttempts": 5}),
        {},
        True,
    ),
    (
        "RF05_GPS_JUMP_ANOMALY",
        _event("gps.ping", gps={"deltaDistanceKm": 250.5, "deltaTimeSec": 120}),
        {},
        True,
    ),
    (
        "RF07_POD_DUPLICATE_HASH",
        _event("pod.uploaded", pod={"fileHash": "h1"}, db={"indexes": {"pod_hashes": ["h0", "h1"]}}),
        {},
        True,
    ),
    (
        "RF08_POD_METADATA_MISMATCH",
        _event(
            "pod.uploaded",
            pod={"metadata": {"timestamp": NOW + 2 * 86_400_000}},
            shipment={"pickupAt": NOW - 3_600_000, "dropAt": NOW},
        ),
        {},
        True,
    ),
    (
        "RF08_POD_METADATA_MISMATCH",
        _event(
            "pod.uploaded",
            pod={"metadata": {"timestamp": NOW - 1000}},
            shipment={"pickupAt": NOW - 3_600_000, "dropAt": NOW},
        ),
        {},
        False,
    ),
    ("RF09_INSPECTION_GEO_MISSING", _event("inspection.uploaded", inspection={}), {}, True),
    (
        "RF10_INSPECTION_DUPLICATE_PHOTO",
        _event(
            "inspection.uploaded",
            image={"hash": "img1"},
            inspection={"truckId": "TRK-2"},
            db={"indexes": {"inspection_image_hashes": {"img1": {"truckId": "TRK-1"}}}},
        ),
        {},
        True,
    ),
    (
        "RF12_OPERATOR_MAX_TRUCKS_LIMIT",
        _event("truck.create", ctx={"operatorId": "OP-1"}),
        {fact_key("db.count.trucksByOperator", ["OP-1"]): 10},
        True,
    ),
    (
        "RF16_PII_LEAK_REDACTION",
        _event("message.send", ctx={"payload": {"text": "ping me: nine 9 8 7 6 5 4 3 2 1 0"}}),
        {},
        True,
    ),
    (
        "RF17_DEVICE_ACCOUNT_COLLISION",
        _event("shipment.accept", ctx={"deviceId": "D1"}, shipment={"timeWindow": [1, 2]}),
        {
            fact_key("db.count.driverAccountsByDevice", ["D1"]): 2,
            fact_key("overlappingAcceptExists", ["D1", [1, 2]]): True,
        },
        True,
    ),
    (
        "RF18_ADMIN_OVERRIDE_NO_JUSTIFICATION",
        _event(
            "admin.override.request",
            override={"justification": "x", "twoFaVerified": False, "target": {"ruleSeverity": "critical"}},
        ),
        {},
        True,
    ),
    (
        "RF20_BID_FLOOD_RATE_LIMIT",
        _event("bid.modify", ctx={"userId": "U1"}),
        {fact_key("rate.limitExceeded", ["U1", "bid.modify", 10]): True},
        True,
    ),
    (
        "RF21_PREDATORY_BID_DETECT",
        _event("bid.create", bid={"amount": 400}, booking={"expectedPrice": 1000}),
        {},
        True,
    ),
    (
        "RF21_PREDATORY_BID_DETECT",
        _event("bid.create", bid={"amount": 460}, booking={"expectedPrice": 1000}),
        {},
        False,
    ),
    (
        "RF22_MAINTENANCE_WINDOW_BLOCK",
        _event("truck.create", ctx={"operatorId": "OP-1"}),
        {fact_key("operator.maintenanceWindowActive", ["OP-1", NOW]): True},
        True,
    ),
    (
        "RF24_INSPECTION_OUT_OF_ZONE",
        _event(
            "inspection.uploaded",
            inspection={"geo": {"lat": 12.9716, "lng": 77.5946}},
            unitFranchise={"allowedGeoCenter": {"lat": 12.9716, "lng": 77.66}},
        ),
        {},
        True,
    ),
    (
        "RF24_INSPECTION_OUT_OF_ZONE",
        _event(
            "inspection.uploaded",
            inspection={"geo": {"lat": 12.9716, "lng": 77.5946}},
            unitFranchise={"allowedGeoCenter": {"lat": 12.98, "lng": 77.6}},
        ),
        {},
        False,
    ),
    (
        "RF25_BATCH_KYC_INGEST_INCONSISTENT",
        _event("kyc.bulk_ingest", ingest={"partialFailure": True}),
        {},
        True,
    ),
]


@pytest.mark.parametrize(
    ("rule_id", "context", "facts", "matched"),
    CASES,
    ids=[f"{rule_id}-{matched}" for rule_id, _, _, matched in CASES],
)
def test_reference_conditions_evaluate(
    rule_id: str, context: dict[str, Any], facts: dict[str, Any], matched: bool
) -> None:
    compiled = _compiled(rule_id)
    assert compiled.matches(context, facts=facts, now_ms=NOW) is matched
    assert (interpret(compiled.ast, context, facts, NOW) is True) is matched


def test_fact_requests_tell_the_provider_what_to_prefetch() -> None:
    compiled = _compiled("RF22_MAINTENANCE_WINDOW_BLOCK")
    context = _event("truck.create", ctx={"operatorId": "OP-1"})
    [request] = compiled.fact_requests(context, now_ms=NOW)
    assert request.name == "operator.maintenanceWindowActive"
    assert request.args == ("OP-1", NOW)
    assert request.key == f'operator.maintenanceWindowActive("OP-1",{NOW})'
    assert compiled.matches(context, facts={request.key: True}, now_ms=NOW) is True
