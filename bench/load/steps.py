"""What each step of a load sends and what it keeps from the answer, independent of the HTTP client:
the locust scenario (gevent) and the per-route cost bench (`route_costs.py`, asyncio) both play
`model.load_plan()` through `request_for` and `absorb`. Standard library only."""

from __future__ import annotations

import math
import os
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import model

# Real city pairs: the booking's distance, price and fee come out as they would in production.
CITIES = [
    ("Mumbai", "Maharashtra", "400001", 19.0760, 72.8777),
    ("Pune", "Maharashtra", "411001", 18.5204, 73.8567),
    ("Nashik", "Maharashtra", "422001", 19.9975, 73.7898),
    ("Ahmedabad", "Gujarat", "380001", 23.0225, 72.5714),
    ("Surat", "Gujarat", "395003", 21.1702, 72.8311),
    ("Indore", "Madhya Pradesh", "452001", 22.7196, 75.8577),
    ("Hyderabad", "Telangana", "500001", 17.3850, 78.4867),
    ("Bengaluru", "Karnataka", "560001", 12.9716, 77.5946),
    ("Chennai", "Tamil Nadu", "600001", 13.0827, 80.2707),
    ("Jaipur", "Rajasthan", "302001", 26.9124, 75.7873),
    ("Delhi", "Delhi", "110001", 28.6139, 77.2090),
    ("Nagpur", "Maharashtra", "440001", 21.1458, 79.0882),
]
GOODS = [
    ("Cement", "Bags"),
    ("Steel coils", "Loose"),
    ("Rice", "Bags"),
    ("Textiles", "Bales"),
    ("FMCG", "Cartons"),
]
POD_BYTES = 150_000  # a phone photo of a signed delivery note, as a PDF


@dataclass
class Request:
    method: str
    path: str
    expect: int = 200
    json: Any = None
    params: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    signed_in: bool = True  # sends the party's bearer token


def headers(party: dict[str, Any], request: Request, kind: str) -> dict[str, str]:
    """The party's headers: the client address a trusted proxy would pass on, the driver's device,
    the bearer token, and an Idempotency-Key where the apps send one."""
    values = {"X-Forwarded-For": party["ip"]}
    if party.get("device"):
        values["X-Device-Id"] = party["device"]
    if request.signed_in:
        values["Authorization"] = f"Bearer {party['token']}"
    if kind in model.IDEMPOTENT_KINDS:
        values["Idempotency-Key"] = str(uuid.uuid4())
    return values


def place(city: tuple[str, str, str, float, float], street: str) -> dict[str, Any]:
    name, state, pincode, lat, lng = city
    return {
        "address": f"{random.randint(1, 400)} {street}",
        "city": name,
        "state": state,
        "pincode": pincode,
        "coordinates": {"lat": lat + random.uniform(-0.02, 0.02), "lng": lng + random.uniform(-0.02, 0.02)},
    }


def booking_body() -> dict[str, Any]:
    pickup, drop = random.sample(CITIES, 2)
    goods, packaging = random.choice(GOODS)
    tonnage = round(random.uniform(5, 25), 1)
    return {
        "pickup": place(pickup, "Industrial Estate Road"),
        "drop": place(drop, "Transport Nagar"),
        "goods": {"type": goods, "weight": int(tonnage * 1000), "packaging": packaging},
        "tonnage": tonnage,
    }


class Trip:
    """The driver's phone during one trip: positions moving at a truck's speed along a heading,
    with the jitter a real receiver has, timestamped on the wall clock (the server accepts fixes
    at most 2 minutes ahead of its clock). A load is compressed in time, so the truck covers the
    distance its speed allows in the real seconds between batches."""

    def __init__(self, lat: float, lng: float) -> None:
        self.lat, self.lng = lat, lng
        self.heading = random.uniform(0, 360)
        self.last = datetime.now(UTC)

    def batch(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        span = max((now - self.last).total_seconds(), 0.01)
        fixes = []
        for n in range(model.FIXES_PER_BATCH):
            offset = span * (n + 1) / model.FIXES_PER_BATCH * random.uniform(0.97, 1.0)
            speed = random.uniform(38, 58)  # km/h
            step_km = speed * (span / model.FIXES_PER_BATCH) / 3600
            heading = (self.heading + random.uniform(-4, 4)) % 360
            self.lat += step_km / 111.0 * math.cos(math.radians(heading))
            self.lng += step_km / (111.0 * math.cos(math.radians(self.lat))) * math.sin(math.radians(heading))
            fixes.append(
                {
                    "coordinates": {"lat": round(self.lat, 7), "lng": round(self.lng, 7)},
                    "speed": round(speed, 1),
                    "heading": round(heading, 1) % 360,
                    "accuracy": round(random.uniform(4, 25), 1),
                    "timestamp": (self.last + timedelta(seconds=offset)).isoformat(),
                }
            )
        self.last += timedelta(seconds=span)  # not `now`: the next batch starts after this one's fixes
        return fixes


@dataclass
class LoadState:
    """One load in progress: its parties by role (`model.SHIPPER`, the bidder roles, `model.DRIVER`),
    the winner's truck, and what earlier answers said."""

    parties: dict[str, dict[str, Any]]
    truck_id: str
    sms_code: Callable[[str], str]  # the last code the SMS provider received for a phone
    booking: dict[str, Any] = field(default_factory=dict)
    bids: dict[str, dict[str, Any]] = field(default_factory=dict)
    shipment_id: str = ""
    otp: str = ""
    trip: Trip | None = None
    driver_assigned: bool = False
    delivered: bool = False

    @property
    def driver_free(self) -> bool:
        """Whether the server sees the driver free again (never assigned, or delivered)."""
        return not self.driver_assigned or self.delivered


def _bid_amount(state: LoadState, actor: str) -> float:
    """The winner opens just above the floor (and later lowers to it); the others bid higher."""
    low, high = state.booking["priceRange"]["min"], state.booking["priceRange"]["max"]
    share = 0.1 if actor == model.WINNER else random.uniform(0.3, 1.0)
    return round(low + (high - low) * share, 2)


def _pod_file() -> bytes:
    return b"%PDF-1.4\n% POD " + uuid.uuid4().bytes + os.urandom(POD_BYTES) + b"\n%%EOF\n"


def request_for(kind: str, actor: str, state: LoadState) -> Request:
    party = state.parties[actor]
    booking_id, shipment = state.booking.get("id", ""), state.shipment_id
    if kind == "refresh":
        return Request("POST", "/v1/auth/refresh", json={"refreshToken": party["refresh"]}, signed_in=False)
    if kind == "otp_request":
        return Request("POST", "/v1/auth/otp", json={"mobile": party["mobile"]}, signed_in=False)
    if kind == "login":
        body = {
            "mobile": party["mobile"],
            "otp": state.sms_code(party["mobile"]),
            "deviceId": party["device"],
        }
        return Request("POST", "/v1/auth/login", json=body, signed_in=False)
    if kind == "booking_create":
        return Request("POST", "/v1/bookings", 201, json=booking_body())
    if kind == "booking_detail":
        return Request("GET", f"/v1/bookings/{booking_id}")
    if kind == "open_bookings":
        return Request("GET", "/v1/bookings", params={"pageSize": 20})
    if kind == "bid_create":
        body = {"bookingId": booking_id, "amount": _bid_amount(state, actor)}
        if actor == model.WINNER:
            body["truckId"] = state.truck_id
        return Request("POST", "/v1/bids", 201, json=body)
    if kind == "bid_modify":
        floor = state.booking["priceRange"]["min"]
        return Request("PATCH", f"/v1/bids/{state.bids[actor]['id']}", json={"amount": floor})
    if kind == "booking_bids":
        return Request("GET", f"/v1/bookings/{booking_id}/bids")
    if kind == "notifications":
        return Request("GET", "/v1/notifications", params={"pageSize": 20})
    if kind == "bid_accept":
        winning = state.bids[model.WINNER]
        return Request("POST", f"/v1/bids/{winning['id']}/accept", json={"expectedAmount": winning["amount"]})
    if kind == "bid_detail":
        return Request("GET", f"/v1/bids/{state.bids[actor]['id']}")
    if kind == "shipment_detail":
        return Request("GET", f"/v1/shipments/{shipment}")
    if kind == "shipment_assign":
        body = {"driverId": state.parties[model.DRIVER]["id"], "truckId": state.truck_id}
        return Request("POST", f"/v1/shipments/{shipment}/assign", json=body)
    if kind == "driver_approve":
        return Request("POST", f"/v1/shipments/{shipment}/approve-driver")
    if kind == "shipment_start":
        return Request("POST", f"/v1/shipments/{shipment}/start")
    if kind == "delivery_otp":
        return Request("GET", f"/v1/shipments/{shipment}/otp")
    if kind == "gps_batch":
        assert state.trip is not None, "the trip starts before the first batch"
        return Request(
            "POST", "/v1/tracking/ping", json={"shipmentId": shipment, "pings": state.trip.batch()}
        )
    if kind == "tracking_latest":
        return Request("GET", f"/v1/tracking/{shipment}/latest")
    if kind == "tracking_track":
        return Request("GET", f"/v1/tracking/{shipment}", params={"limit": 500})
    if kind == "pod_upload":
        files = {"file": ("pod.pdf", _pod_file(), "application/pdf")}
        return Request(
            "POST", "/v1/pod/upload", 201, data={"shipmentId": shipment, "otp": state.otp}, files=files
        )
    raise ValueError(f"no request for step kind {kind!r}")


def absorb(kind: str, actor: str, state: LoadState, body: Any) -> None:
    """Keep what later steps need from a step's answer."""
    party = state.parties[actor]
    if kind in ("refresh", "login"):
        party["token"], party["refresh"] = body["token"], body["refreshToken"]
    elif kind == "booking_create":
        state.booking = body
    elif kind in ("bid_create", "bid_modify"):
        state.bids[actor] = body
    elif kind == "bid_accept":
        state.shipment_id = body["shipment"]["id"]
    elif kind == "shipment_start":
        pickup = state.booking["pickup"]["coordinates"]
        state.trip = Trip(pickup["lat"], pickup["lng"])
    elif kind == "delivery_otp":
        state.otp = body["otp"]
    elif kind == "shipment_assign":
        state.driver_assigned = True
    elif kind == "pod_upload":
        state.delivered = True
