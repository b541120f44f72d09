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

import contextlib
import itertools
import json
import os
import random
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import gevent
from gevent.lock import Semaphore
from locust import FastHttpUser, constant, events, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
import model
import steps
import summary

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
TOKEN_REFRESH_AFTER_S = 12 * 60  # access tokens live 15 minutes


class Population:
    """The seeded parties, shared by every user of this process (gevent: no preemption between
    the bookkeeping steps, so plain lists are safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = json.loads(path.read_text())
        issued = path.stat().st_mtime
        for party in self._parties(self.data):
            party.setdefault("issued", issued)
            party["lock"] = Semaphore()
        data = self.data
        self.shippers = data["shippers"]
        self.operators = data["operators"]
        self._shipper_turn = itertools.cycle(range(len(self.shippers)))
        self.free_fleet = {o["id"]: [u for u in o["fleet"] if not u.get("busy")] for o in self.operators}

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

    def release(self, operator: dict[str, Any], unit: dict[str, Any], state: steps.LoadState) -> None:
        """Back to the pool when the server sees the driver free; a driver whose load stopped
        mid-trip (a failure, or the end of the run) still has an active shipment and is retired,
        here and, through `save`, for the next runs."""
        if state.driver_free:
            self.free_fleet[operator["id"]].append(unit)
        else:
            unit["busy"] = True

    def save(self) -> None:
        """Write the parties' current tokens back: refresh tokens rotate, and the next run (the
        next multiple) must not present spent ones, which the server treats as theft."""
        plain = json.loads(json.dumps(self.data, default=lambda _: None))
        for party in self._parties(plain):
            party.pop("lock", None)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(plain))
        partial.chmod(0o600)
        partial.replace(self.path)


_population: Population | None = None


def population() -> Population:
    global _population
    if _population is None:
        _population = Population(Path(os.environ["LOAD_POPULATION"]))
    return _population


def sms_code(mobile: str) -> str:
    """The code the server sent to `mobile`, read back from the SMS sink (not a measured request)."""
    sink = os.environ["LOAD_SMS_SINK"].rstrip("/")
    with urllib.request.urlopen(f"{sink}/codes/{urllib.parse.quote(mobile)}", timeout=10) as reply:
        return str(json.loads(reply.read())["code"])


class LoadFailed(Exception):
    """A step answered something other than what the model expects; the load is abandoned."""


def send(client: Any, kind: str, actor: str, state: steps.LoadState) -> None:
    """One step of a load through locust's `client`, recorded under the route's name."""
    party = state.parties[actor]
    if kind not in ("refresh", "login") and time.time() - party["issued"] > TOKEN_REFRESH_AFTER_S:
        send(client, "refresh", actor, state)  # an app refreshes an expiring token on resume
    # One app per person: a refresh or sign-in replaces the tokens, never two at once.
    with party["lock"]:
        request = steps.request_for(kind, actor, state)
        name = model.KINDS[kind][0]
        with client.request(
            request.method,
            request.path,
            name=name,
            catch_response=True,
            headers=steps.headers(party, request, kind),
            json=request.json,
            params=request.params,
            data=request.data,
            files=request.files,
        ) as response:
            summary.record_status(name, response.status_code)
            if response.status_code != request.expect:
                response.failure(f"{response.status_code} {str(response.text)[:200]}")
                raise LoadFailed(name)
            response.success()
            steps.absorb(kind, actor, state, response.json() if response.text else None)
        if kind in ("refresh", "login"):
            party["issued"] = time.time()


class FreightDay(FastHttpUser):
    """Plays loads back to back, each spread over LOAD_SECONDS."""

    wait_time = constant(0)

    def on_start(self) -> None:
        gevent.sleep(random.uniform(0, LOAD_SECONDS))  # stagger: arrivals spread, not in waves

    @task
    def one_load(self) -> None:
        people = population()
        winner, unit, others = people.bidders()
        parties = {model.SHIPPER: people.next_shipper(), model.DRIVER: unit["driver"]}
        parties.update(zip(model.BIDDER_ROLES, [winner, *others], strict=True))
        state = steps.LoadState(parties, unit["truck"], sms_code)
        plan = model.load_plan()
        gap = LOAD_SECONDS / len(plan)
        started = time.monotonic()
        try:
            for n, step in enumerate(plan):
                pause = started + n * gap - time.monotonic()
                if pause > 0:
                    gevent.sleep(pause)
                send(self.client, step.kind, step.actor, state)
        except LoadFailed:
            pass  # recorded as the failing request; the next load starts
        finally:
            people.release(winner, unit, state)


class BookingBurst(FastHttpUser):
    """Bookings back to back, each from the next shipper: booking creation's throughput."""

    wait_time = constant(0)

    @task
    def book(self) -> None:
        state = steps.LoadState({model.SHIPPER: population().next_shipper()}, "", sms_code)
        with contextlib.suppress(LoadFailed):  # recorded; the next booking follows
            send(self.client, "booking_create", model.SHIPPER, state)


class CeilingBurst(FastHttpUser):
    """The ceiling app's one-INSERT request, back to back."""

    wait_time = constant(0)

    @task
    def insert(self) -> None:
        body = {"reference": str(uuid.uuid4()), "payload": steps.booking_body()}
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
    if _population is not None:
        _population.save()
