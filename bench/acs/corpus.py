"""Deterministic ACS benchmark corpus: events for every event type of the reference bundle.

Run: ``python bench/acs/corpus.py [--out bench/acs/corpus.json] [--events 12000] [--seed N]``

Each event is ``{type, id, at, ctx, names, facts, expect}``:

* ``at`` is a fixed epoch-millisecond timestamp; both engines pin ``now()`` to it;
* ``ctx`` is the acting context, ``names`` the context names of the event type (``truck``,
  ``shipment``, ``gps``, ...) as the project's context contract (``acs/contract.py``) lists them;
* ``facts`` answers every data-backed call the event's rules make, keyed by the project's
  ``fact_key`` (the keys are taken from the engine's own ``fact_requests``, so they are exactly
  what evaluation will look up); the jexl harness rebuilds the same keys and reads the same map;
* ``expect`` is the generator's *intent*: the rule ids it built the event to match. Every rule
  gets matching cases and near-miss cases (a value at or just past a threshold, a wrong case, a
  near-identical hash, ...); about 30% of events are built to match at least one rule.

The generator is seeded (``random.Random(seed)``) and uses no clock, so the file is identical
from run to run for the same seed and bundle. The reference bundle is read from its shared
location at run time (``ACS_REFERENCE_BUNDLE`` overrides it); it is never copied here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rodistaa.acs.bundle import Bundle, load_bundle  # noqa: E402
from rodistaa.acs.contract import DEFAULT_SYSTEM_CONFIG  # noqa: E402
from rodistaa.acs.engine import AcsEvent, build_context, fact_requests  # noqa: E402

DEFAULT_BUNDLE = ROOT.parent / "shared" / "reference" / "acs_rules_top25.yaml"
DEFAULT_OUT = HERE / "corpus.json"
SEED = 20_240_601
N_EVENTS = 12_000
MATCH_RATE = 0.30  # share of events built to match at least one rule
NEAR_RATE = 0.6  # share of the remaining rule slots given a near-miss rather than benign data
BASE_AT = 1_717_200_000_000  # 2024-06-01T00:00:00Z, fixed
DAY_MS = 86_400_000
EARTH_RADIUS_M = 6_371_008.8
FORMAT_VERSION = 1

# Relative volume of each event type (pings and bids dominate real traffic).
WEIGHTS: dict[str, float] = {
    "booking.create": 1.0,
    "bid.create": 3.0,
    "bid.modify": 1.5,
    "bid.evaluate": 1.0,
    "bid.finalize": 1.0,
    "truck.create": 1.0,
    "doc.uploaded": 1.0,
    "inspection.uploaded": 1.0,
    "shipment.assign": 1.0,
    "shipment.accept": 1.0,
    "shipment.start": 1.0,
    "gps.ping": 3.0,
    "pod.uploaded": 1.0,
    "security.otp_attempt": 1.0,
    "shipment.complete": 1.0,
    "shipment.completed": 1.0,
    "admin.override.request": 1.0,
    "message.send": 1.5,
    "kyc.bulk_ingest": 1.0,
    "route.request": 1.0,
}

PII_TEXTS = [
    "call me on 98765 43210 after 6pm",
    "whatsapp +91-98765-43210",
    "my number is 9 8 7 6 5 4 3 2 1 0",
    "reach me at ravi.kumar@example.com",
    "mail ravi (at) gmail (dot) com",
    "aadhaar 1234 5678 9012 attached",
    "PAN abcde1234f for the invoice",
    "ph: 0091 7654321098",
    "call \u096f\u096e\u096d\u096c\u096b\u096a\u096a\u096b\u096c\u096d now",  # Devanagari digits
    "contact 07654321098 anytime",
    "Ravi.K [at] Yahoo [dot] co [dot] in",
    "id 1234-5678-9012",
]
NEAR_PII_TEXTS = [
    "invoice 123456789 pending",  # 9 digits: not a phone number
    "5876543210 is the consignment ref",  # 10 digits but not a mobile prefix
    "GSTIN 27ABCDE1234F1Z5",  # PAN inside a longer token (no word boundary)
    "truck MH12AB1234 ready by 6",
    "order 1234-5678-901 dispatched",  # 11 digits: not Aadhaar
    "ravi@home tonight",  # no domain
    "email me (at) noon",
    "12345 67890 12",
]
PLAIN_TEXTS = [
    "load ready at gate 4, 12 tonnes",
    "rate 45000 for 350 km",
    "call me at the depot",
    "bid valid till 2024-06-30",
    "can do pickup tomorrow morning",
    "",
]
CITIES = [
    ("Mumbai", 19.0760, 72.8777),
    ("Pune", 18.5204, 73.8567),
    ("Delhi", 28.7041, 77.1025),
    ("Chennai", 13.0827, 80.2707),
    ("Bengaluru", 12.9716, 77.5946),
    ("Hyderabad", 17.3850, 78.4867),
    ("Ahmedabad", 23.0225, 72.5714),
    ("Kolkata", 22.5726, 88.3639),
    ("Nagpur", 21.1458, 79.0882),
]

Names = dict[str, Any]
Answers = dict[str, Any]  # data-backed function name -> its answer for this event


class Gen:
    """One event's random choices and the pieces every builder shares."""

    def __init__(self, rng: random.Random, index: int, event_type: str, modes: dict[str, str]) -> None:
        self.rng = rng
        self.i = index
        self.type = event_type
        self.modes = modes
        self.answers: Answers = {}

    def mode(self, rule: str) -> str:
        return self.modes[rule]

    def ident(self, prefix: str, pool: int = 5000) -> str:
        return f"{prefix}-{self.rng.randrange(1, pool):06d}"

    def hash(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def ctx(self, role: str, **extra: Any) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "userId": self.ident("USR"),
            "userRole": role,
            "userKycStatus": "VERIFIED",
            "operatorId": self.ident("OPR", 800),
            "deviceId": self.ident("DEV", 3000),
            "ip": f"10.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}",
        }
        ctx.update(extra)
        return ctx

    def point(self) -> dict[str, float]:
        _, lat, lng = self.rng.choice(CITIES)
        return {
            "lat": round(lat + self.rng.uniform(-0.05, 0.05), 6),
            "lng": round(lng + self.rng.uniform(-0.05, 0.05), 6),
        }

    def booking(self) -> dict[str, Any]:
        rng = self.rng
        (city_a, lat_a, lng_a), (city_b, lat_b, lng_b) = rng.sample(CITIES, 2)
        expected: int | float = rng.randrange(8_000, 250_000, 50)
        if rng.random() < 0.25:  # some estimates carry paise (exercises the decimal path)
            expected = expected + rng.randrange(1, 100) / 100
        booking: dict[str, Any] = {
            "id": self.ident("BKG", 20000),
            "shipperId": self.ident("USR"),
            "status": "OPEN",
            "tonnage": rng.choice([5, 9, 16, 21, 25, 32]),
            "distanceKm": rng.randrange(40, 2200),
            "expectedPrice": expected,
            "pickupDate": "2024-06-03",
            "autoFinalizeAt": BASE_AT + DAY_MS,
            "goods": {"type": rng.choice(["steel", "cement", "fmcg", "grain", "textiles"])},
            "pickup": {"city": city_a, "lat": lat_a, "lng": lng_a},
            "drop": {"city": city_b, "lat": lat_b, "lng": lng_b},
            "createdAt": BASE_AT - rng.randrange(DAY_MS),
        }
        if rng.random() < 0.5:
            low = rng.randrange(6_000, int(expected))
            booking["priceRange"] = {"min": low, "max": int(expected * 1.2)}
        return booking

    def truck(self, status: str = "ACTIVE") -> dict[str, Any]:
        rng = self.rng
        return {
            "id": self.ident("TRK", 9000),
            "registrationNumber": f"MH{rng.randrange(10, 50)}AB{rng.randrange(1000, 9999)}",
            "operatorId": self.ident("OPR", 800),
            "status": status,
            "vehicleType": rng.choice(["OPEN", "CONTAINER", "TRAILER"]),
            "bodyType": "FULL",
            "tyres": rng.choice([6, 10, 12, 14]),
            "capacityTonnes": rng.choice([9, 16, 21, 25]),
            "modelYear": rng.randrange(2012, 2024),
            "emission": "BS6",
            "permitType": "NATIONAL",
            "chassisNumberInRegistry": f"MA1{rng.getrandbits(48):012X}",
            "lastInspectionAt": BASE_AT - rng.randrange(90 * DAY_MS),
        }

    def shipment(self, **extra: Any) -> dict[str, Any]:
        rng = self.rng
        pickup = BASE_AT - rng.randrange(1, 6) * DAY_MS
        shipment = {
            "id": self.ident("SHP", 30000),
            "bookingId": self.ident("BKG", 20000),
            "status": "IN_TRANSIT",
            "shipperId": self.ident("USR"),
            "operatorId": self.ident("OPR", 800),
            "driverId": self.ident("DRV", 4000),
            "truckId": self.ident("TRK", 9000),
            "agreedPrice": rng.randrange(10_000, 200_000, 100),
            "otpAttempts": 0,
            "otpValid": True,
            "otpLocked": False,
            "pickupAt": pickup,
            "dropAt": pickup + rng.randrange(1, 4) * DAY_MS,
            "timeWindow": {"start": pickup, "end": pickup + 2 * DAY_MS},
            "startedAt": pickup,
        }
        shipment.update(extra)
        return shipment

    def operator(self, ledger: float) -> dict[str, Any]:
        return {
            "id": self.ident("OPR", 800),
            "status": "ACTIVE",
            "kycStatus": "VERIFIED",
            "ledgerBalance": ledger,
            "activeTrucks": self.rng.randrange(1, 10),
        }

    def driver(self) -> dict[str, Any]:
        return {
            "id": self.ident("DRV", 4000),
            "operatorId": self.ident("OPR", 800),
            "status": "ACTIVE",
            "kycStatus": "VERIFIED",
            "activeShipmentId": None,
        }


# --- per-rule field setters: each writes only the fields its rule reads ---------------------------


def kyc_rule(g: Gen, ctx: dict[str, Any]) -> None:  # RF01
    mode = g.mode("RF01_KYC_MANDATORY")
    if mode == "match":
        status = g.rng.choice(["PENDING", "REJECTED", "EXPIRED", "verified", None, "<absent>"])
        if status == "<absent>":
            del ctx["userKycStatus"]
        else:
            ctx["userKycStatus"] = status
    elif mode == "near":  # unverified, but the role is not one the rule covers (case matters)
        ctx["userRole"], ctx["userKycStatus"] = g.rng.choice(
            [("admin", "PENDING"), ("Shipper", "PENDING"), ("OPERATOR", None), ("franchise_unit", "REJECTED")]
        )


def truck_status_rule(g: Gen, truck: dict[str, Any]) -> None:  # RF02
    truck["status"] = {
        "match": "EXPIRED_DOCS",
        "near": g.rng.choice(["EXPIRED_DOC", "expired_docs", "DOCS_EXPIRING", "EXPIRED_DOCS "]),
        "benign": g.rng.choice(["ACTIVE", "ACTIVE", "IDLE"]),
    }[g.mode("RF02_TRUCK_DOCS_EXPIRED")]


def balance_below(g: Gen, mode: str) -> tuple[float, float]:
    """(balance, fee) with balance < fee for a match, == fee for a near miss (RF13, RF14)."""
    fee: float = g.rng.choice([50, 100, 150, 250.5, 499.99])
    if mode == "match":
        return g.rng.choice(
            [round(fee - g.rng.uniform(0.01, fee), 2), -round(g.rng.uniform(1, 5000), 2), 0]
        ), fee
    if mode == "near":
        return g.rng.choice([fee, float(fee), fee + 0.01]), fee
    return round(g.rng.uniform(fee * 5, 250_000), 2), fee


def pii_rule(g: Gen, rule_mode: str) -> str:  # RF16
    if rule_mode == "match":
        return g.rng.choice(PII_TEXTS)
    if rule_mode == "near":
        return g.rng.choice(NEAR_PII_TEXTS)
    return g.rng.choice(PLAIN_TEXTS)


def lower_bound(booking: dict[str, Any]) -> float:
    """The bundle's priceEstimator.lowerBound for the bookings this generator writes."""
    price_range = booking.get("priceRange")
    if price_range is not None:
        return float(price_range["min"])
    expected = booking["expectedPrice"]
    if isinstance(expected, int):
        return expected * 90 / 100
    cents: int = round(expected * 100)  # prices carry at most 2 decimals
    scaled = cents * 9  # lower bound in thousandths, rounded half up to cents below
    return ((scaled + 5) // 10) / 100


def predatory_rule(g: Gen, booking: dict[str, Any], bid: dict[str, Any]) -> None:  # RF21
    threshold = lower_bound(booking) * DEFAULT_SYSTEM_CONFIG["predatoryBidFactor"]
    mode = g.mode("RF21_PREDATORY_BID_DETECT")
    if mode == "match":
        bid["amount"] = g.rng.choice(
            [math.floor(threshold) - 1, round(threshold * g.rng.uniform(0.2, 0.95), 2)]
        )
    elif mode == "near":
        bid["amount"] = threshold  # exactly the threshold: `<` is false
    else:
        bid["amount"] = round(threshold * g.rng.uniform(2.0, 2.6), 2)


def flag(g: Gen, rule: str) -> bool:
    """A data-backed yes/no answer: true only for a match."""
    return g.mode(rule) == "match"


# --- builders, one per event type ------------------------------------------------------------------

Built = tuple[dict[str, Any], Names]


def b_booking_create(g: Gen) -> Built:
    ctx = g.ctx("shipper")
    kyc_rule(g, ctx)
    return ctx, {"booking": g.booking()}


def b_bid_create(g: Gen) -> Built:
    booking = g.booking()
    truck = g.truck()
    truck_status_rule(g, truck)
    balance, fee = balance_below(g, g.mode("RF13_LEDGER_NEGATIVE_PREVENTION"))
    bid = {
        "id": g.ident("BID", 50000),
        "bookingId": booking["id"],
        "operatorId": g.ident("OPR", 800),
        "truckId": truck["id"],
        "status": "PENDING",
        "createdAt": BASE_AT + g.i,
    }
    predatory_rule(g, booking, bid)
    text = pii_rule(g, g.mode("RF16_PII_LEAK_REDACTION"))
    bid["notes"] = text
    ctx = g.ctx("operator", payload={"text": text, "amount": bid["amount"], "bookingId": booking["id"]})
    kyc_rule(g, ctx)
    g.answers["operator.maintenanceWindowActive"] = (
        True if g.mode("RF22_MAINTENANCE_WINDOW_BLOCK") == "match" else g.rng.choice([False, False, None])
    )
    names = {
        "booking": booking,
        "bid": bid,
        "truck": truck,
        "operator": g.operator(balance),
        "computedFees": {"bidFee": fee},
    }
    return ctx, names


def b_bid_modify(g: Gen) -> Built:
    booking = g.booking()
    amount = g.rng.randrange(5_000, 200_000, 50)
    bid = {
        "id": g.ident("BID", 50000),
        "bookingId": booking["id"],
        "operatorId": g.ident("OPR", 800),
        "amount": amount,
        "previousAmount": amount + g.rng.randrange(50, 5000, 50),
        "status": "PENDING",
    }
    g.answers["rate.limitExceeded"] = flag(g, "RF20_BID_FLOOD_RATE_LIMIT")
    return g.ctx("operator"), {"booking": booking, "bid": bid}


def b_bid_evaluate(g: Gen) -> Built:
    booking = g.booking()
    identical = flag(g, "RF15_BID_TIE_BREAKER")
    count = g.rng.randrange(2, 12)
    bids = {
        "count": count,
        "haveIdenticalAmount": identical,
        "lowestAmount": g.rng.randrange(5_000, 90_000, 50),
        "candidates": [g.ident("BID", 50000) for _ in range(min(count, 4))],
    }
    return g.ctx("system"), {"booking": booking, "bids": bids}


def b_bid_finalize(g: Gen) -> Built:
    balance, fee = balance_below(g, g.mode("RF14_AUTO_FINALIZATION_LEDGER_RACE"))
    winner = {
        "bidId": g.ident("BID", 50000),
        "operatorId": g.ident("OPR", 800),
        "amount": g.rng.randrange(5_000, 200_000, 50),
        "bidFee": fee,
        "ledgerBalance": balance,
        "kycStatus": "VERIFIED",
        "status": "ACTIVE",
    }
    return g.ctx("system"), {"booking": g.booking(), "winner": winner}


def b_truck_create(g: Gen) -> Built:
    limit = DEFAULT_SYSTEM_CONFIG["maxTrucksPerOperator"]
    g.answers["db.count.trucksByOperator"] = {
        "match": g.rng.choice([limit, limit + 1, limit + 5]),
        "near": limit - 1,
        "benign": g.rng.randrange(0, limit - 1),
    }[g.mode("RF12_OPERATOR_MAX_TRUCKS_LIMIT")]
    g.answers["operator.maintenanceWindowActive"] = (
        True if g.mode("RF22_MAINTENANCE_WINDOW_BLOCK") == "match" else g.rng.choice([False, None])
    )
    return g.ctx("operator"), {"truck": g.truck("PENDING_VERIFICATION"), "operator": g.operator(10_000)}


def b_doc_uploaded(g: Gen) -> Built:
    truck = g.truck()
    chassis = truck["chassisNumberInRegistry"]
    other = chassis[:-1] + ("0" if chassis[-1] != "0" else "1")
    doc_type, ocr_chassis = {
        "match": ("rc", g.rng.choice([other, chassis.lower(), ""])),
        "near": g.rng.choice([("rc", chassis), ("RC", other), ("insurance", other)]),
        "benign": (g.rng.choice(["rc", "insurance", "permit"]), chassis),
    }[g.mode("RF11_TRUCK_OWNER_MISMATCH")]
    doc = {
        "id": g.ident("DOC", 90000),
        "type": doc_type,
        "truckId": truck["id"],
        "expiryDate": "2026-03-31",
        "fileHash": g.hash(),
        "ocr": {"chassisNumber": ocr_chassis, "ownerName": "R K Transport"},
    }
    return g.ctx("operator"), {"truck": truck, "doc": doc}


def b_inspection_uploaded(g: Gen) -> Built:
    rng = g.rng
    rf09, rf10, rf24 = (
        g.mode(r)
        for r in (
            "RF09_INSPECTION_GEO_MISSING",
            "RF10_INSPECTION_DUPLICATE_PHOTO",
            "RF24_INSPECTION_OUT_OF_ZONE",
        )
    )
    radius = DEFAULT_SYSTEM_CONFIG["inspectionGeoRadiusMeters"]
    center = g.point()
    offset_m = {
        "match": rng.uniform(radius + 200, radius * 10),
        "near": rng.uniform(radius - 900, radius - 150),
        "benign": rng.uniform(0, 1000),
    }[rf24]
    # Due north of the centre: the great-circle distance is exactly the latitude difference.
    lat = center["lat"] + math.degrees(offset_m / EARTH_RADIUS_M)
    max_accuracy = DEFAULT_SYSTEM_CONFIG["maxGeoAccuracyMeters"]
    accuracy = {
        "match": rng.choice([max_accuracy + 1, 250, 1500.5]),
        "near": max_accuracy,
        "benign": rng.choice([5, 12.5, 30, 60]),
    }[rf09]
    geo: dict[str, Any] | None = {"lat": lat, "lng": center["lng"], "accuracy": accuracy}
    if rf09 == "match" and rf24 != "match" and rng.random() < 0.4:
        geo = None
    truck_id = g.ident("TRK", 9000)
    index = {
        g.hash(): {"truckId": g.ident("TRK", 9000), "inspectionId": g.ident("INS", 90000)}
        for _ in range(rng.randrange(2, 6))
    }
    image_hash = g.hash()
    if rf10 == "match":
        index[image_hash] = {"truckId": "TRK-OTHER-" + truck_id, "inspectionId": g.ident("INS", 90000)}
    elif rf10 == "near" and rng.random() < 0.7:
        index[image_hash] = {"truckId": truck_id, "inspectionId": g.ident("INS", 90000)}  # same truck
    elif rf10 == "near":
        image_hash = next(iter(index))[:-1] + "x"  # one character off a known hash
    inspection = {
        "id": g.ident("INS", 90000),
        "truckId": truck_id,
        "unitFranchiseId": g.ident("UFR", 400),
        "result": "PASS",
        "photoCount": rng.randrange(4, 12),
        "geo": geo,
    }
    names = {
        "truck": g.truck(),
        "inspection": inspection,
        "image": {"hash": image_hash, "takenAt": BASE_AT - rng.randrange(3_600_000)},
        "unitFranchise": {
            "id": inspection["unitFranchiseId"],
            "radiusMeters": radius,
            "allowedGeoCenter": center,
        },
        "db": {"indexes": {"inspection_image_hashes": index}},
    }
    return g.ctx("franchise_unit"), names


def b_shipment_assign(g: Gen) -> Built:
    truck = g.truck()
    truck_status_rule(g, truck)
    return g.ctx("operator"), {
        "shipment": g.shipment(status="ASSIGNING"),
        "truck": truck,
        "driver": g.driver(),
    }


def b_shipment_accept(g: Gen) -> Built:
    count, overlap = {
        "match": (g.rng.randrange(2, 5), True),
        "near": g.rng.choice([(2, False), (1, True), (3, None)]),
        "benign": (1, False),
    }[g.mode("RF17_DEVICE_ACCOUNT_COLLISION")]
    g.answers["db.count.driverAccountsByDevice"] = count
    g.answers["overlappingAcceptExists"] = overlap
    return g.ctx("driver"), {"shipment": g.shipment(status="ASSIGNED"), "driver": g.driver()}


def b_shipment_start(g: Gen) -> Built:
    ctx = g.ctx("driver")
    kyc_rule(g, ctx)
    return ctx, {"shipment": g.shipment(status="ASSIGNED"), "driver": g.driver()}


def b_gps_ping(g: Gen) -> Built:
    rng = g.rng
    distance_km, time_s = {
        "match": rng.choice([(200, 300), (rng.uniform(200, 900), rng.randrange(5, 300))]),
        "near": rng.choice([(199.9, 60), (rng.uniform(200, 600), 301), (150, 300)]),
        "benign": (round(rng.uniform(0, 3), 3), rng.randrange(20, 120)),
    }[g.mode("RF05_GPS_JUMP_ANOMALY")]
    threshold = DEFAULT_SYSTEM_CONFIG["spoofThreshold"]
    spoof = {
        "match": rng.choice([threshold, 0.93, 1]),
        "near": rng.choice([0.79, 0.7999]),
        "benign": round(rng.uniform(0, 0.3), 3),
    }[g.mode("RF06_GPS_SPOOF_SIGNATURE")]
    point = g.point()
    gps = {
        **point,
        "speed": rng.randrange(0, 90),
        "heading": rng.randrange(360),
        "timestamp": BASE_AT + g.i,
        "deltaDistanceKm": distance_km,
        "deltaTimeSec": time_s,
    }
    telemetry = {"spoofScore": spoof, "mockLocation": spoof >= threshold}
    return g.ctx("driver"), {"shipment": g.shipment(), "gps": gps, "telemetry": telemetry}


def b_pod_uploaded(g: Gen) -> Built:
    rng = g.rng
    shipment = g.shipment(status="DELIVERED")
    hashes = [g.hash() for _ in range(rng.randrange(3, 9))]
    file_hash = {"match": rng.choice(hashes), "near": rng.choice(hashes)[:-2] + "zz", "benign": g.hash()}[
        g.mode("RF07_POD_DUPLICATE_HASH")
    ]
    before = shipment["pickupAt"] - DEFAULT_SYSTEM_CONFIG["podTimeWindowBefore"]
    after = shipment["dropAt"] + DEFAULT_SYSTEM_CONFIG["podTimeWindowAfter"]
    stamp = {
        "match": rng.choice(
            [before - 1, before - rng.randrange(1, 10 * DAY_MS), after + 1, after + rng.randrange(DAY_MS)]
        ),
        "near": rng.choice([before, after]),
        "benign": rng.randrange(shipment["pickupAt"], shipment["dropAt"]),
    }[g.mode("RF08_POD_METADATA_MISMATCH")]
    pod = {
        "id": g.ident("POD", 90000),
        "shipmentId": shipment["id"],
        "fileHash": file_hash,
        "sizeBytes": rng.randrange(40_000, 4_000_000),
        "contentType": "image/jpeg",
        "metadata": {"timestamp": stamp, "device": "Pixel 7"},
    }
    ctx = g.ctx("driver", uploaderId=g.ident("USR"))
    return ctx, {"shipment": shipment, "pod": pod, "db": {"indexes": {"pod_hashes": hashes}}}


def b_otp_attempt(g: Gen) -> Built:
    limit = DEFAULT_SYSTEM_CONFIG["otpRetryLimit"]
    attempts = {
        "match": g.rng.choice([limit, limit + 1, limit + 7]),
        "near": limit - 1,
        "benign": g.rng.randrange(0, limit - 1),
    }[g.mode("RF04_OTP_BRUTE_FORCE_PROTECTION")]
    return g.ctx("shipper"), {"shipment": g.shipment(otpAttempts=attempts, otpValid=False)}


def b_shipment_complete(g: Gen) -> Built:
    shipment = g.shipment(status="DELIVERED", otpAttempts=1)
    if g.mode("RF03_OTP_MANDATORY_COMPLETION") == "match":
        choice = g.rng.choice([False, None, "<absent>", "true"])
        if choice == "<absent>":
            del shipment["otpValid"]
        else:
            shipment["otpValid"] = choice
    return g.ctx("driver"), {"shipment": shipment}


def b_shipment_completed(g: Gen) -> Built:
    limit = DEFAULT_SYSTEM_CONFIG["triadFrequencyThreshold"]
    frequency = {
        "match": g.rng.choice([limit, limit + 1, 40]),
        "near": limit - 1,
        "benign": g.rng.randrange(0, limit - 2),
    }[g.mode("RF19_COLLUSION_TRIAD_FREQ")]
    graph = {
        "triadFrequency": frequency,
        "shipperId": g.ident("USR"),
        "operatorId": g.ident("OPR", 800),
        "driverId": g.ident("DRV", 4000),
    }
    names = {
        "shipment": g.shipment(status="COMPLETED"),
        "operator": g.operator(5_000),
        "collusionGraph": graph,
    }
    return g.ctx("system"), names


def b_admin_override(g: Gen) -> Built:
    rng = g.rng
    mode = g.mode("RF18_ADMIN_OVERRIDE_NO_JUSTIFICATION")
    justification: Any = "customer escalation #4411, approved by ops lead"
    two_fa: Any = True
    severity = "critical"
    if mode == "match":
        justification, two_fa = rng.choice(
            [
                (None, True),
                ("<absent>", True),
                (justification, False),
                (justification, "<absent>"),
                (None, False),
            ]
        )
    elif mode == "near":
        justification, two_fa, severity = rng.choice(
            [(justification, True, "critical"), (None, False, "high"), ("", True, "critical")]
        )
    else:
        severity = rng.choice(["medium", "high", "critical"])
    override: dict[str, Any] = {
        "id": g.ident("OVR", 9000),
        "entityType": "truck",
        "entityId": g.ident("TRK", 9000),
        "action": "unblock",
        "reason": "manual review passed",
        "justification": justification,
        "twoFaVerified": two_fa,
        "target": {"ruleId": "RF02_TRUCK_DOCS_EXPIRED", "ruleSeverity": severity},
    }
    for key in ("justification", "twoFaVerified"):
        if override[key] == "<absent>":
            del override[key]
    return g.ctx("admin"), {"override": override}


def b_message_send(g: Gen) -> Built:
    text = pii_rule(g, g.mode("RF16_PII_LEAK_REDACTION"))
    ctx = g.ctx(g.rng.choice(["shipper", "operator", "driver"]), payload={"text": text})
    message = {
        "id": g.ident("MSG", 90000),
        "text": text,
        "senderId": ctx["userId"],
        "recipientId": g.ident("USR"),
    }
    return ctx, {"message": message}


def b_kyc_bulk_ingest(g: Gen) -> Built:
    partial: Any = {"match": True, "near": g.rng.choice([False, None, "true"]), "benign": False}[
        g.mode("RF25_BATCH_KYC_INGEST_INCONSISTENT")
    ]
    affected = [g.ident("OPR", 800) for _ in range(g.rng.randrange(1, 5))] if partial is True else []
    ingest = {
        "batchId": g.ident("KYB", 9000),
        "partialFailure": partial,
        "affected": len(affected),
        "affectedOperatorIds": affected,
        "total": g.rng.randrange(50, 5000),
    }
    return g.ctx("system"), {"ingest": ingest}


def b_route_request(g: Gen) -> Built:
    status = {"match": g.rng.choice(["DOWN", "TIMEOUT", "DEGRADED", "ok"]), "near": "OK", "benign": "OK"}[
        g.mode("RF23_ROUTING_PROVIDER_FALLBACK")
    ]
    provider = {"id": g.rng.choice(["osrm", "gmaps", "mapmyindia"]), "status": status}
    return g.ctx("system"), {"booking": g.booking(), "routing": {"provider": provider}}


BUILDERS: dict[str, tuple[Callable[[Gen], Built], tuple[str, ...]]] = {
    "booking.create": (b_booking_create, ("RF01_KYC_MANDATORY",)),
    "bid.create": (
        b_bid_create,
        (
            "RF01_KYC_MANDATORY",
            "RF02_TRUCK_DOCS_EXPIRED",
            "RF13_LEDGER_NEGATIVE_PREVENTION",
            "RF16_PII_LEAK_REDACTION",
            "RF21_PREDATORY_BID_DETECT",
            "RF22_MAINTENANCE_WINDOW_BLOCK",
        ),
    ),
    "bid.modify": (b_bid_modify, ("RF20_BID_FLOOD_RATE_LIMIT",)),
    "bid.evaluate": (b_bid_evaluate, ("RF15_BID_TIE_BREAKER",)),
    "bid.finalize": (b_bid_finalize, ("RF14_AUTO_FINALIZATION_LEDGER_RACE",)),
    "truck.create": (b_truck_create, ("RF12_OPERATOR_MAX_TRUCKS_LIMIT", "RF22_MAINTENANCE_WINDOW_BLOCK")),
    "doc.uploaded": (b_doc_uploaded, ("RF11_TRUCK_OWNER_MISMATCH",)),
    "inspection.uploaded": (
        b_inspection_uploaded,
        ("RF09_INSPECTION_GEO_MISSING", "RF10_INSPECTION_DUPLICATE_PHOTO", "RF24_INSPECTION_OUT_OF_ZONE"),
    ),
    "shipment.assign": (b_shipment_assign, ("RF02_TRUCK_DOCS_EXPIRED",)),
    "shipment.accept": (b_shipment_accept, ("RF17_DEVICE_ACCOUNT_COLLISION",)),
    "shipment.start": (b_shipment_start, ("RF01_KYC_MANDATORY",)),
    "gps.ping": (b_gps_ping, ("RF05_GPS_JUMP_ANOMALY", "RF06_GPS_SPOOF_SIGNATURE")),
    "pod.uploaded": (b_pod_uploaded, ("RF07_POD_DUPLICATE_HASH", "RF08_POD_METADATA_MISMATCH")),
    "security.otp_attempt": (b_otp_attempt, ("RF04_OTP_BRUTE_FORCE_PROTECTION",)),
    "shipment.complete": (b_shipment_complete, ("RF03_OTP_MANDATORY_COMPLETION",)),
    "shipment.completed": (b_shipment_completed, ("RF19_COLLUSION_TRIAD_FREQ",)),
    "admin.override.request": (b_admin_override, ("RF18_ADMIN_OVERRIDE_NO_JUSTIFICATION",)),
    "message.send": (b_message_send, ("RF16_PII_LEAK_REDACTION",)),
    "kyc.bulk_ingest": (b_kyc_bulk_ingest, ("RF25_BATCH_KYC_INGEST_INCONSISTENT",)),
    "route.request": (b_route_request, ("RF23_ROUTING_PROVIDER_FALLBACK",)),
}


def check_coverage(bundle: Bundle) -> None:
    """The generator must know every rule the bundle runs for every event type it covers."""
    covered = {t for rule in bundle.rules if rule.enabled and rule.events for t in rule.events}
    problems = sorted(covered - BUILDERS.keys())
    for event_type, (_, rules) in BUILDERS.items():
        actual = {rule.id for rule in bundle.rules_for(event_type)}
        if actual != set(rules):
            problems.append(f"{event_type}: bundle runs {sorted(actual)}, generator knows {sorted(rules)}")
    if problems:
        raise SystemExit("corpus generator does not match the bundle:\n  " + "\n  ".join(problems))


def choose_modes(rng: random.Random, rules: tuple[str, ...]) -> dict[str, str]:
    targets: set[str] = set()
    if rng.random() < MATCH_RATE:
        k = 2 if len(rules) > 1 and rng.random() < 0.2 else 1
        targets = set(rng.sample(rules, k))
    return {r: "match" if r in targets else ("near" if rng.random() < NEAR_RATE else "benign") for r in rules}


def generate(bundle: Bundle, n_events: int, seed: int) -> list[dict[str, Any]]:
    check_coverage(bundle)
    rng = random.Random(seed)
    types = list(WEIGHTS)
    weights = [WEIGHTS[t] for t in types]
    # Every event type gets a fixed floor of events; the rest follow the weights.
    floor = max(1, n_events // (4 * len(types)))
    sequence = [t for t in types for _ in range(floor)]
    sequence += rng.choices(types, weights, k=n_events - len(sequence))
    rng.shuffle(sequence)
    events = []
    for i, event_type in enumerate(sequence):
        builder, rules = BUILDERS[event_type]
        modes = choose_modes(rng, rules)
        g = Gen(rng, i, event_type, modes)
        ctx, names = builder(g)
        at = BASE_AT + i * 1_237 + rng.randrange(1000)
        event_id = f"EVT-{seed}-{i:06d}"
        facts = prefetch(bundle, event_type, event_id, at, ctx, names, g.answers)
        events.append(
            {
                "type": event_type,
                "id": event_id,
                "at": at,
                "ctx": ctx,
                "names": names,
                "facts": facts,
                "expect": sorted(r for r, m in modes.items() if m == "match"),
            }
        )
    return events


def prefetch(
    bundle: Bundle,
    event_type: str,
    event_id: str,
    at: int,
    ctx: dict[str, Any],
    names: Names,
    answers: Answers,
) -> dict[str, Any]:
    """The facts the engine will look up, keyed by the engine's own fact keys."""
    from datetime import UTC, datetime

    event = AcsEvent(event_type, event_id, datetime.fromtimestamp(at / 1000, UTC), ctx)
    context = build_context(event, names, DEFAULT_SYSTEM_CONFIG)
    facts: dict[str, Any] = {}
    for request in fact_requests(bundle, event_type, context, now_ms=at):
        if request.name not in answers:
            raise SystemExit(f"{event_type}: the generator has no answer for {request.key}")
        facts[request.key] = answers[request.name]
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=os.environ.get("ACS_REFERENCE_BUNDLE", str(DEFAULT_BUNDLE)))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--events", type=int, default=N_EVENTS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.events < len(WEIGHTS):
        parser.error(f"--events must be at least {len(WEIGHTS)}")
    bundle = load_bundle(args.bundle)
    events = generate(bundle, args.events, args.seed)
    corpus = {
        "format": FORMAT_VERSION,
        "seed": args.seed,
        "bundle": str(Path(args.bundle).resolve()),
        "bundleRevision": bundle.revision,
        "systemConfig": dict(DEFAULT_SYSTEM_CONFIG),
        "events": events,
    }
    out = Path(args.out)
    out.write_text(json.dumps(corpus, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    by_type = Counter(e["type"] for e in events)
    matching = sum(1 for e in events if e["expect"])
    per_rule = Counter(r for e in events for r in e["expect"])
    print(
        f"corpus: {len(events)} events, {len(by_type)} event types, "
        f"{matching / len(events):.1%} built to match, "
        f"{len(per_rule)} rules with matching cases (min {min(per_rule.values())} per rule) -> {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
