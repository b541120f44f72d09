"""A small world for the conformance runs, seeded through the API helpers: every role signed
in, an operator with ACTIVE trucks, drivers and a balance, an open booking with an active bid, a
trip in transit and one approved but not started, a webhook and a notification. Generated
requests then carry the token of a role that may call each operation and, mostly, the ids of
real resources, so they reach the business logic instead of stopping at 401, 403 or 404."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from rodistaa.core.roles import Role
from rodistaa.kyc.tables import kyc_documents
from tests.api.bid_flows import place_bid
from tests.api.booking_flows import create_booking, verified_shipper
from tests.api.flows import Session, admin_session
from tests.api.freight_setup import active_fleet_truck, fleet_driver, verified_user
from tests.api.kyc_flows import kyc_admin_session
from tests.api.ledger_flows import fund_operator
from tests.api.onboarding_setup import insert_franchise_tree, staff_session
from tests.api.shipment_flows import approve, assign, start
from tests.conftest import Harness

# The caller of `POST /v1/auth/logout`: a session of its own, so ending it signs nobody else out.
ENDING_SESSION = "ENDING_SESSION"
Caller = Role | str


@dataclass(frozen=True)
class World:
    headers: dict[Caller, dict[str, str]]
    # Path parameter name -> the id of a real resource the operation's role can see.
    ids: dict[str, str] = field(default_factory=dict)

    def headers_for(self, caller: Caller) -> dict[str, str]:
        """The caller's credentials (a driver's session is bound to its device: X-Device-Id)."""
        return dict(self.headers[caller])


# Which role calls an operation: the first rule whose method and path pattern match. Paths are
# the service's (`/v1/...`); the reference contract's are matched with `/v1` prepended.
ROLE_RULES: list[tuple[str, str, Caller]] = [
    ("POST", r"^/v1/auth/logout$", ENDING_SESSION),
    ("*", r"^/v1/admin/kyc/", Role.KYC_ADMIN),
    ("*", r"^/v1/(admin|acs)/", Role.ADMIN),
    ("*", r"^/v1/webhooks(/|$)", Role.ADMIN),
    ("*", r"^/v1/franchise/", Role.FRANCHISE_DISTRICT),
    ("POST", r"^/v1/inspections", Role.FRANCHISE_UNIT),
    ("*", r"^/v1/inspections", Role.ADMIN),
    ("POST", r"^/v1/bookings$", Role.SHIPPER),
    ("POST", r"^/v1/bids/[^/]+/accept$", Role.SHIPPER),
    ("*", r"^/v1/bids", Role.OPERATOR),
    ("*", r"^/v1/(trucks|drivers|ledger)", Role.OPERATOR),
    ("POST", r"^/v1/shipments/[^/]+/(assign|alternate-truck|breakdown)$", Role.OPERATOR),
    ("*", r"^/v1/shipments/[^/]+/(approve-driver|reject-driver|otp)", Role.SHIPPER),
    ("POST", r"^/v1/(tracking/ping|pod/upload|shipments/[^/]+/(start|complete))$", Role.DRIVER),
    ("*", r"^/v1/tracking/alerts", Role.OPERATOR),
    ("*", r"^/v1/(kyc|users|notifications)/", Role.SHIPPER),
]
DEFAULT_ROLE = Role.ADMIN


def role_for(method: str, path: str) -> Caller:
    for rule_method, pattern, role in ROLE_RULES:
        if rule_method in ("*", method.upper()) and re.search(pattern, path):
            return role
    return DEFAULT_ROLE


async def seed_world(h: Harness) -> World:
    """Sign every role in and create the resources the generated requests point at."""
    admin = await admin_session(h, "+919000000901")
    kyc_admin = await kyc_admin_session(h, "+919000000902")
    # KYC through the API, so the shipper's documents decrypt (the seeded ones hold no ciphertext).
    shipper = await verified_shipper(h, kyc_admin=kyc_admin)
    operator = await verified_user(h, Role.OPERATOR, name="Sharma Roadlines")
    await fund_operator(h, operator.user_id, 5000, admin=admin)
    truck_id = await active_fleet_truck(h, operator.user_id)
    driver = await fleet_driver(h, operator.user_id)
    tree = await insert_franchise_tree(h)
    unit = await staff_session(h, "+919000000903", Role.FRANCHISE_UNIT, tree.unit_id)
    district = await staff_session(h, "+919000000904", Role.FRANCHISE_DISTRICT, tree.district_id)
    trip = await _trip(h, shipper, operator, driver, truck_id)
    # A second crew's trip stops at APPROVED, a state the reference's `Shipment` does not know.
    await _trip(
        h,
        shipper,
        operator,
        await fleet_driver(h, operator.user_id),
        await active_fleet_truck(h, operator.user_id),
        started=False,
    )
    open_booking = await create_booking(h, shipper)
    bid = await place_bid(h, operator, open_booking["id"], _mid_range(open_booking))
    webhook = await h.client.post(
        "/v1/webhooks/register",
        json={"url": "https://partner.example.com/hooks", "events": ["booking.created"]},
        headers=admin.headers,
    )
    assert webhook.status_code == 201, webhook.text
    inbox = await h.client.get("/v1/notifications", headers=shipper.headers)
    assert inbox.status_code == 200 and inbox.json()["data"], inbox.text
    sessions: dict[Caller, Session] = {
        ENDING_SESSION: await verified_user(h, Role.SHIPPER, name="Signing Out Ltd"),
        Role.ADMIN: admin,
        Role.KYC_ADMIN: kyc_admin,
        Role.SHIPPER: shipper,
        Role.OPERATOR: operator,
        Role.DRIVER: driver,
        Role.FRANCHISE_UNIT: unit,
        Role.FRANCHISE_DISTRICT: district,
    }
    ids = {
        "bookingId": open_booking["id"],
        "bidId": bid["id"],
        "shipmentId": trip,
        "truckId": truck_id,
        "driverId": driver.user_id,
        "franchiseId": tree.unit_id,
        "kycId": await _any_kyc_id(h, shipper.user_id),
        "webhookId": webhook.json()["id"],
        "notificationId": inbox.json()["data"][0]["id"],
    }
    return World(headers={role: s.headers for role, s in sessions.items()}, ids=ids)


async def _trip(
    h: Harness, shipper: Session, operator: Session, driver: Session, truck_id: str, *, started: bool = True
) -> str:
    """A booking won by `operator`, assigned, approved and (`started`) started through the API:
    a shipment IN_TRANSIT (or APPROVED) whose ids all have the API's shapes."""
    booking = await create_booking(h, shipper)
    bid = await place_bid(h, operator, booking["id"], _mid_range(booking))
    accepted = await h.client.post(f"/v1/bids/{bid['id']}/accept", headers=shipper.headers)
    assert accepted.status_code == 200, accepted.text
    shipment_id: str = accepted.json()["shipment"]["id"]
    for response in (
        await assign(h, operator, shipment_id, driver.user_id, truck_id),
        await approve(h, shipper, shipment_id),
        *([await start(h, driver, shipment_id)] if started else []),
    ):
        assert response.status_code == 200, response.text
    return shipment_id


def _mid_range(booking: dict[str, Any]) -> int:
    return round((booking["priceRange"]["min"] + booking["priceRange"]["max"]) / 2)


async def _any_kyc_id(h: Harness, user_id: str) -> str:
    async with h.app.state.services.db.read() as conn:
        row = (
            await conn.execute(select(kyc_documents.c.id).where(kyc_documents.c.user_id == user_id))
        ).first()
    assert row is not None
    return str(row[0])
