"""The freight-day model: what one load costs in requests, and what 25,000 loads a day ask of the
API at the peak hour. The locust scenario replays `load_plan()` step by step and the report quotes
the figures below, so the model has one source. Standard library only: the load generator's
environment does not install the project.

Per load (issue 9, docs/performance.md):
- the shipper books, reads its booking and the bids, accepts one, approves the driver, reads the
  delivery OTP, follows the trip and reads its notifications;
- four operators browse the open bookings and bid; the one that will win lowers its bid once,
  then assigns its driver and truck;
- the driver signs in with an SMS code on the trip's phone, starts, sends 48 batches of 10 fixes
  (an 8-hour trip at one fix a minute, sent every 10 minutes) and uploads the POD with the OTP;
- access tokens live 15 minutes, so every app refreshes when it comes back: the driver's
  background sender every other batch (24 times a trip), the shipper twice, each bidder once and
  the winner once more.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

LOADS_PER_DAY = 25_000
PEAK_HOUR_FACTOR = 3  # the peak hour carries three times the day's average rate
SECONDS_PER_DAY = 86_400
GPS_BATCHES = 48
FIXES_PER_BATCH = 10
BIDDERS = 4

SHIPPER, WINNER, DRIVER = "shipper", "winner", "driver"
BIDDER_ROLES = tuple(["winner"] + [f"bidder{n}" for n in range(1, BIDDERS)])


@dataclass(frozen=True)
class Step:
    """One request of a load: who sends it and which operation (`kind`) it is."""

    actor: str
    kind: str


def _trip_steps() -> list[Step]:
    """The 48 batches, with the driver's refresh before every other one and the shipper's
    tracking reads spread over the trip."""
    shipper_reads = {
        6: "tracking_latest",
        18: "shipment_detail",
        24: "tracking_latest",
        30: "tracking_track",
        36: "notifications",
        42: "tracking_latest",
    }
    steps: list[Step] = []
    for batch in range(GPS_BATCHES):
        if batch % 2 == 1:
            steps.append(Step(DRIVER, "refresh"))
        steps.append(Step(DRIVER, "gps_batch"))
        if batch in shipper_reads:
            steps.append(Step(SHIPPER, shipper_reads[batch]))
    return steps


def load_plan() -> list[Step]:
    """Every request of one load, in the order the parties send them."""
    steps = [Step(SHIPPER, "refresh"), Step(SHIPPER, "booking_create"), Step(SHIPPER, "booking_detail")]
    for n, bidder in enumerate(BIDDER_ROLES):
        steps.append(Step(bidder, "refresh"))
        steps.append(Step(bidder, "open_bookings" if n % 2 == 0 else "booking_detail"))
        steps.append(Step(bidder, "bid_create"))
    steps += [
        Step(WINNER, "bid_modify"),
        Step(SHIPPER, "booking_bids"),
        Step(SHIPPER, "notifications"),
        Step(SHIPPER, "refresh"),
        Step(SHIPPER, "booking_bids"),
        Step(SHIPPER, "bid_accept"),
        Step(WINNER, "refresh"),
        Step(WINNER, "bid_detail"),
        Step(WINNER, "shipment_detail"),
        Step(WINNER, "shipment_assign"),
        Step(SHIPPER, "shipment_detail"),
        Step(SHIPPER, "driver_approve"),
        Step(DRIVER, "otp_request"),
        Step(DRIVER, "login"),
        Step(DRIVER, "shipment_detail"),
        Step(DRIVER, "shipment_start"),
        Step(SHIPPER, "delivery_otp"),
    ]
    steps += _trip_steps()
    steps += [Step(DRIVER, "pod_upload"), Step(SHIPPER, "booking_detail")]
    return steps


# What each kind is, for the model's table: the request it sends and the group it counts in.
KINDS: dict[str, tuple[str, str]] = {
    "booking_create": ("POST /v1/bookings", "booking"),
    "bid_create": ("POST /v1/bids", "bids"),
    "bid_modify": ("PATCH /v1/bids/{id}", "bid modification"),
    "bid_accept": ("POST /v1/bids/{id}/accept", "accept"),
    "shipment_assign": ("POST /v1/shipments/{id}/assign", "assign"),
    "driver_approve": ("POST /v1/shipments/{id}/approve-driver", "approve"),
    "shipment_start": ("POST /v1/shipments/{id}/start", "start"),
    "gps_batch": ("POST /v1/tracking/ping", "GPS batches"),
    "pod_upload": ("POST /v1/pod/upload", "POD upload with OTP"),
    "booking_detail": ("GET /v1/bookings/{id}", "reads"),
    "open_bookings": ("GET /v1/bookings", "reads"),
    "booking_bids": ("GET /v1/bookings/{id}/bids", "reads"),
    "bid_detail": ("GET /v1/bids/{id}", "reads"),
    "shipment_detail": ("GET /v1/shipments/{id}", "reads"),
    "delivery_otp": ("GET /v1/shipments/{id}/otp", "reads"),
    "tracking_latest": ("GET /v1/tracking/{id}/latest", "reads"),
    "tracking_track": ("GET /v1/tracking/{id}", "reads"),
    "notifications": ("GET /v1/notifications", "reads"),
    "refresh": ("POST /v1/auth/refresh", "token refreshes"),
    "otp_request": ("POST /v1/auth/otp", "logins (code request and sign-in)"),
    "login": ("POST /v1/auth/login", "logins (code request and sign-in)"),
}


# The apps send an Idempotency-Key where a retry after a lost answer could create a second booking,
# bid (and fee), award or POD. A GPS batch needs none: a resent fix is recognised by its time.
IDEMPOTENT_KINDS = frozenset({"booking_create", "bid_create", "bid_accept", "pod_upload"})


def requests_per_load() -> int:
    return len(load_plan())


def requests_by_route() -> Counter[str]:
    return Counter(KINDS[step.kind][0] for step in load_plan())


def requests_by_group() -> Counter[str]:
    return Counter(KINDS[step.kind][1] for step in load_plan())


def average_rate() -> float:
    """Requests per second over the whole day."""
    return LOADS_PER_DAY * requests_per_load() / SECONDS_PER_DAY


def peak_rate() -> float:
    """Requests per second in the peak hour: the seed's peak (1x)."""
    return average_rate() * PEAK_HOUR_FACTOR


def peak_loads_per_second() -> float:
    return LOADS_PER_DAY * PEAK_HOUR_FACTOR / SECONDS_PER_DAY
