"""The freight day under load (issue 9). Each `FreightDay` user plays one load after another, from
booking to delivered POD, with the real parties of a seeded population (`seed.py`): the shipper,
four operators, and the winner's driver, each with their own tokens and client address.

A load's requests (`model.load_plan()`) are spread evenly over LOAD_SECONDS, so the arrival rate is
`users / LOAD_SECONDS` loads a second; `run.py` picks the user count for a multiple of the seed's
peak. A user whose requests come back late sends the next one at once instead of sleeping, so a
slow server shows as a lower achieved rate, not as a hidden queue.

Environment: LOAD_POPULATION (the seed's JSON), LOAD_SMS_SINK (where the server's SMS requests
land, for the driver's sign-in), LOAD_SECONDS (default 60), LOAD_SUMMARY (path prefix of the JSON
and Markdown summary written when the run ends), LOAD_WARMUP (seconds not measured at the start,
while the first loads fill the pipeline; server errors are counted from the first request).

`BookingBurst` and `CeilingBurst` send back to back with no pause, to measure throughput against
the ceiling app (bench/ceiling).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import sys
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gevent
from gevent.lock import Semaphore
from locust import FastHttpUser, constant, events, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
import model
import summary

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
TOKEN_REFRESH_AFTER_S = 12 * 60  # access tokens live 15 minutes

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


class Population:
    """The seeded parties, shared by every user of this process (gevent: no preemption between
    the bookkeeping steps, so plain lists are safe)."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text())
        issued = path.stat().st_mtime
        for party in self._parties(data):
            party["issued"] = issued
            party["lock"] = Semaphore()
        self.shippers = data["shippers"]
        self.operators = data["operators"]
        self._shipper_turn = itertools.cycle(range(len(self.shippers)))
        self.free_fleet = {o["id"]: list(o["fleet"]) for o in self.operators}
        self.everyone = list(self._parties(data))

    @staticmethod
    def _parties(data: dict[str, Any]) -> list[dict[str, Any]]:
        parties = list(data["shippers"]) + list(data["operators"])
        parties += [unit["driver"] for o in data["operators"] for unit in o["fleet"]]
        return parties

    def next_shipper(self) -> dict[str, Any]:
        return self.shippers[next(self._shipper_turn)]

    def bidders(self) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        """Four distinct operators; the first (the winner) takes one of its free driver-truck
        pairs until the load ends."""
        with_free = [o for o in self.operators if self.free_fleet[o["id"]]]
        if not with_free:
            raise RuntimeError("every driver is on a trip: seed more drivers for this rate")
        winner = random.choice(with_free)
        unit = self.free_fleet[winner["id"]].pop(0)  # rotate drivers
        others = random.sample([o for o in self.operators if o is not winner], model.BIDDERS - 1)
        return winner, unit, others

    def release(self, operator: dict[str, Any], unit: dict[str, Any]) -> None:
        self.free_fleet[operator["id"]].append(unit)


_population: Population | None = None


def population() -> Population:
    global _population
    if _population is None:
        _population = Population(Path(os.environ["LOAD_POPULATION"]))
    return _population


def headers(party: dict[str, Any], *, idempotent: bool = False) -> dict[str, str]:
    values = {"Authorization": f"Bearer {party['token']}", "X-Forwarded-For": party["ip"]}
    if party.get("device"):
        values["X-Device-Id"] = party["device"]
    if idempotent:
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


def sms_code(mobile: str) -> str:
    """The code the server sent to `mobile`, read back from the SMS sink (not a measured request)."""
    sink = os.environ["LOAD_SMS_SINK"].rstrip("/")
    with urllib.request.urlopen(f"{sink}/codes/{urllib.parse.quote(mobile)}", timeout=10) as reply:
        return str(json.loads(reply.read())["code"])


class Trip:
    """The driver's phone during one trip: positions moving at a truck's speed along a heading,
    with the jitter a real receiver has, timestamped on the wall clock (the server accepts fixes
    at most 2 minutes ahead of its clock)."""

    def __init__(self, lat: float, lng: float) -> None:
        self.lat, self.lng = lat, lng
        self.heading = random.uniform(0, 360)
        self.last = datetime.now(UTC)

    def batch(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        span = max((now - self.last).total_seconds(), 0.5)
        fixes = []
        for n in range(model.FIXES_PER_BATCH):
            at = self.last + timedelta(
                seconds=span * (n + 1) / model.FIXES_PER_BATCH * random.uniform(0.97, 1.0)
            )
            speed = random.uniform(38, 58)  # km/h
            step_km = speed * (span / model.FIXES_PER_BATCH) / 3600
            heading = (self.heading + random.uniform(-4, 4)) % 360
            self.lat += step_km / 111.0 * math.cos(math.radians(heading))
            self.lng += step_km / (111.0 * math.cos(math.radians(self.lat))) * math.sin(math.radians(heading))
            fixes.append(
                {
                    "coordinates": {"lat": round(self.lat, 7), "lng": round(self.lng, 7)},
                    "speed": round(speed, 1),
                    "heading": round(heading, 1),
                    "accuracy": round(random.uniform(4, 25), 1),
                    "timestamp": at.isoformat(),
                }
            )
        self.last = now
        return fixes


class LoadFailed(Exception):
    """A step answered something other than what the model expects; the load is abandoned."""


class FreightDay(FastHttpUser):
    """Plays loads back to back, each spread over LOAD_SECONDS."""

    wait_time = constant(0)

    def on_start(self) -> None:
        gevent.sleep(random.uniform(0, LOAD_SECONDS))  # stagger: arrivals spread, not in waves

    def call(
        self, kind: str, party: dict[str, Any], method: str, path: str, expect: int, **kwargs: Any
    ) -> Any:
        name = model.KINDS[kind][0]
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            summary.record_status(name, response.status_code)
            if response.status_code != expect:
                response.failure(f"{response.status_code} {str(response.text)[:200]}")
                raise LoadFailed(name)
            response.success()
            return response.json() if response.text else None

    def fresh(self, party: dict[str, Any]) -> dict[str, Any]:
        """The party, with an access token young enough to use (an app refreshes on resume)."""
        if time.time() - party["issued"] > TOKEN_REFRESH_AFTER_S:
            self.refresh(party)
        return party

    def refresh(self, party: dict[str, Any]) -> None:
        with party["lock"]:  # one app per person: refreshes rotate the token, never in parallel
            extra = {"X-Device-Id": party["device"]} if party.get("device") else {}
            body = self.call(
                "refresh",
                party,
                "POST",
                "/v1/auth/refresh",
                200,
                json={"refreshToken": party["refresh"]},
                headers={"X-Forwarded-For": party["ip"], **extra},
            )
            party["token"], party["refresh"], party["issued"] = (
                body["token"],
                body["refreshToken"],
                time.time(),
            )

    def request_code(self, party: dict[str, Any]) -> None:
        body = {"mobile": party["mobile"]}
        self.call(
            "otp_request",
            party,
            "POST",
            "/v1/auth/otp",
            200,
            json=body,
            headers={"X-Forwarded-For": party["ip"]},
        )

    def sign_in(self, party: dict[str, Any]) -> None:
        """The driver types the SMS code on the trip's phone: a new session for that device."""
        with party["lock"]:
            body = self.call(
                "login",
                party,
                "POST",
                "/v1/auth/login",
                200,
                json={
                    "mobile": party["mobile"],
                    "otp": sms_code(party["mobile"]),
                    "deviceId": party["device"],
                },
                headers={"X-Forwarded-For": party["ip"]},
            )
            party["token"], party["refresh"], party["issued"] = (
                body["token"],
                body["refreshToken"],
                time.time(),
            )

    @task
    def one_load(self) -> None:
        people = population()
        winner, unit, others = people.bidders()
        try:
            LoadRun(self, people.next_shipper(), winner, others, unit).play()
        except LoadFailed:
            pass  # recorded as the failing request; the next load starts
        finally:
            people.release(winner, unit)


class LoadRun:
    """One load: the plan's steps, each sent at its scheduled moment."""

    def __init__(
        self,
        user: FreightDay,
        shipper: dict[str, Any],
        winner: dict[str, Any],
        others: list[dict[str, Any]],
        unit: dict[str, Any],
    ) -> None:
        self.user = user
        self.parties = {model.SHIPPER: shipper, model.DRIVER: unit["driver"]}
        self.parties.update(zip(model.BIDDER_ROLES, [winner, *others], strict=True))
        self.truck_id = unit["truck"]
        self.state: dict[str, Any] = {"bids": {}}

    def play(self) -> None:
        plan = model.load_plan()
        gap = LOAD_SECONDS / len(plan)
        started = time.monotonic()
        for n, step in enumerate(plan):
            pause = started + n * gap - time.monotonic()
            if pause > 0:
                gevent.sleep(pause)
            getattr(self, step.kind)(step.actor, self.parties[step.actor])

    # --- the steps, one method per kind of `model.KINDS` -----------------------------------

    def call(
        self, kind: str, party: dict[str, Any], method: str, path: str, expect: int = 200, **kw: Any
    ) -> Any:
        return self.user.call(
            kind,
            party,
            method,
            path,
            expect,
            headers=headers(self.user.fresh(party), idempotent=method == "POST"),
            **kw,
        )

    def refresh(self, actor: str, party: dict[str, Any]) -> None:
        self.user.refresh(party)

    def otp_request(self, actor: str, party: dict[str, Any]) -> None:
        self.user.request_code(party)

    def login(self, actor: str, party: dict[str, Any]) -> None:
        self.user.sign_in(party)

    def booking_create(self, actor: str, party: dict[str, Any]) -> None:
        booking = self.call("booking_create", party, "POST", "/v1/bookings", 201, json=booking_body())
        self.state["booking"] = booking

    def booking_detail(self, actor: str, party: dict[str, Any]) -> None:
        self.call("booking_detail", party, "GET", f"/v1/bookings/{self.state['booking']['id']}")

    def open_bookings(self, actor: str, party: dict[str, Any]) -> None:
        self.call("open_bookings", party, "GET", "/v1/bookings", params={"pageSize": 20})

    def bid_create(self, actor: str, party: dict[str, Any]) -> None:
        low, high = self.state["booking"]["priceRange"]["min"], self.state["booking"]["priceRange"]["max"]
        # The winner opens just above the floor and later lowers to it; the others stay higher.
        amount = low + (high - low) * (0.1 if actor == model.WINNER else random.uniform(0.3, 1.0))
        body = {"bookingId": self.state["booking"]["id"], "amount": round(amount, 2)}
        if actor == model.WINNER:
            body["truckId"] = self.truck_id
        self.state["bids"][actor] = self.call("bid_create", party, "POST", "/v1/bids", 201, json=body)

    def bid_modify(self, actor: str, party: dict[str, Any]) -> None:
        bid = self.state["bids"][actor]
        amount = self.state["booking"]["priceRange"]["min"]
        self.state["bids"][actor] = self.call(
            "bid_modify", party, "PATCH", f"/v1/bids/{bid['id']}", json={"amount": amount}
        )

    def booking_bids(self, actor: str, party: dict[str, Any]) -> None:
        self.call("booking_bids", party, "GET", f"/v1/bookings/{self.state['booking']['id']}/bids")

    def notifications(self, actor: str, party: dict[str, Any]) -> None:
        self.call("notifications", party, "GET", "/v1/notifications", params={"pageSize": 20})

    def bid_accept(self, actor: str, party: dict[str, Any]) -> None:
        bid = self.state["bids"][model.WINNER]
        body = {"expectedAmount": bid["amount"]}
        accepted = self.call("bid_accept", party, "POST", f"/v1/bids/{bid['id']}/accept", json=body)
        self.state["shipment"] = accepted["shipment"]["id"]

    def bid_detail(self, actor: str, party: dict[str, Any]) -> None:
        self.call("bid_detail", party, "GET", f"/v1/bids/{self.state['bids'][actor]['id']}")

    def shipment_detail(self, actor: str, party: dict[str, Any]) -> None:
        self.call("shipment_detail", party, "GET", f"/v1/shipments/{self.state['shipment']}")

    def shipment_assign(self, actor: str, party: dict[str, Any]) -> None:
        body = {"driverId": self.parties[model.DRIVER]["id"], "truckId": self.truck_id}
        self.call(
            "shipment_assign", party, "POST", f"/v1/shipments/{self.state['shipment']}/assign", json=body
        )

    def driver_approve(self, actor: str, party: dict[str, Any]) -> None:
        self.call("driver_approve", party, "POST", f"/v1/shipments/{self.state['shipment']}/approve-driver")

    def shipment_start(self, actor: str, party: dict[str, Any]) -> None:
        self.call("shipment_start", party, "POST", f"/v1/shipments/{self.state['shipment']}/start")
        pickup = self.state["booking"]["pickup"]["coordinates"]
        self.state["trip"] = Trip(pickup["lat"], pickup["lng"])

    def delivery_otp(self, actor: str, party: dict[str, Any]) -> None:
        self.state["otp"] = self.call(
            "delivery_otp", party, "GET", f"/v1/shipments/{self.state['shipment']}/otp"
        )["otp"]

    def gps_batch(self, actor: str, party: dict[str, Any]) -> None:
        body = {"shipmentId": self.state["shipment"], "pings": self.state["trip"].batch()}
        self.call("gps_batch", party, "POST", "/v1/tracking/ping", json=body)

    def tracking_latest(self, actor: str, party: dict[str, Any]) -> None:
        self.call("tracking_latest", party, "GET", f"/v1/tracking/{self.state['shipment']}/latest")

    def tracking_track(self, actor: str, party: dict[str, Any]) -> None:
        self.call(
            "tracking_track", party, "GET", f"/v1/tracking/{self.state['shipment']}", params={"limit": 500}
        )

    def pod_upload(self, actor: str, party: dict[str, Any]) -> None:
        photo = b"%PDF-1.4\n% POD " + uuid.uuid4().bytes + os.urandom(150_000) + b"\n%%EOF\n"
        self.call(
            "pod_upload",
            party,
            "POST",
            "/v1/pod/upload",
            201,
            data={"shipmentId": self.state["shipment"], "otp": self.state["otp"]},
            files={"file": ("pod.pdf", photo, "application/pdf")},
        )


class BookingBurst(FastHttpUser):
    """Bookings back to back, each from the next shipper: booking creation's throughput."""

    wait_time = constant(0)

    @task
    def book(self) -> None:
        shipper = population().next_shipper()
        with self.client.post(
            "/v1/bookings",
            json=booking_body(),
            headers=headers(shipper),
            name="POST /v1/bookings",
            catch_response=True,
        ) as response:
            summary.record_status("POST /v1/bookings", response.status_code)
            if response.status_code != 201:
                response.failure(f"{response.status_code}")


class CeilingBurst(FastHttpUser):
    """The ceiling app's one-INSERT request, back to back."""

    wait_time = constant(0)

    @task
    def insert(self) -> None:
        body = {"reference": str(uuid.uuid4()), "payload": booking_body()}
        with self.client.post(
            "/v1/ceiling", json=body, name="POST /v1/ceiling", catch_response=True
        ) as response:
            summary.record_status("POST /v1/ceiling", response.status_code)
            if response.status_code != 201:
                response.failure(f"{response.status_code}")


@events.test_start.add_listener
def _schedule_end_of_warmup(environment: Any, **_: Any) -> None:
    warmup = float(os.environ.get("LOAD_WARMUP", "0"))
    if warmup > 0:
        gevent.spawn_later(warmup, summary.end_warmup, environment)


@events.quitting.add_listener
def _write_summary(environment: Any, **_: Any) -> None:
    prefix = os.environ.get("LOAD_SUMMARY")
    if prefix:
        summary.write(environment, Path(prefix))
