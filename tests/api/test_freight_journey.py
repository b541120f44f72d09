"""The whole freight day over HTTP with real tokens (issue 5's acceptance walk): a shipper and
two operators sign up and pass KYC, operators deposit, one registers a truck a franchise unit
inspects and passes and a driver who passes KYC; the shipper books, both operators bid, the
shipper accepts the cheaper bid, the operator assigns, the shipper approves, the driver starts,
pings and delivers the POD with the shipper's OTP. Ledgers, statuses, notifications and audit
entries are checked at each step, and `rodistaa audit verify` passes at the end."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from typer.testing import CliRunner

from rodistaa import cli
from rodistaa.bids.fees import bidding_fee_paise
from rodistaa.core.roles import Role
from tests.api.booking_flows import create_booking
from tests.api.delivery_flows import upload_pod
from tests.api.fleet_flows import create_truck, upload_all_documents
from tests.api.flows import Session, refreshed, sign_in, sign_up
from tests.api.kyc_flows import kyc_admin_session, make_kyc_verified
from tests.api.ledger_flows import deposit, ledger_admin_session
from tests.api.onboarding_setup import PUNE, insert_franchise_tree, jpeg, km_north, staff_session
from tests.conftest import TEST_HMAC_KEY, TEST_JWT_SECRET, TEST_KMS_KEYS, Harness

CHECKLIST = {
    "tyres": True,
    "lights": True,
    "brakes": True,
    "mirrors": True,
    "body": True,
    "numberPlate": True,
}
DEPOSIT_RUPEES = 1000


@dataclass(frozen=True)
class Cast:
    admin: Session
    shipper: Session
    winner: Session  # the operator whose bid the shipper accepts
    rival: Session
    driver: Session
    truck_id: str


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def inbox(h: Harness, session: Session) -> list[str]:
    body = ok(await h.client.get("/v1/notifications", params={"pageSize": 100}, headers=session.headers))
    return [n["message"] for n in body["data"]]


async def audit_actions(h: Harness, admin: Session, entity_id: str) -> list[str]:
    body = ok(
        await h.client.get(
            "/v1/admin/audit", params={"entityId": entity_id, "pageSize": 100}, headers=admin.headers
        )
    )
    return [entry["action"] for entry in body["data"]]


async def balance(h: Harness, operator: Session) -> float:
    return float(ok(await h.client.get("/v1/ledger", headers=operator.headers))["balance"])


async def shipment(h: Harness, session: Session, shipment_id: str) -> dict[str, Any]:
    return ok(await h.client.get(f"/v1/shipments/{shipment_id}", headers=session.headers))


async def inspected_truck(h: Harness, operator: Session) -> str:
    """Registered and documented by the operator, inspected and passed by the franchise unit
    whose zone holds the truck's base."""
    tree = await insert_franchise_tree(h, centre=PUNE, radius_m=20_000)
    unit = await staff_session(h, "+919600000011", Role.FRANCHISE_UNIT, tree.unit_id)
    truck = await create_truck(h, operator)
    assert truck["status"] == "PENDING_INSPECTION" and truck["franchiseUnitId"] == tree.unit_id
    await upload_all_documents(h, operator, truck)
    geo = {**km_north(PUNE, 1), "accuracy": 12.0}
    inspection = ok(
        await h.client.post(
            "/v1/inspections",
            json={"truckId": truck["id"], "checklist": CHECKLIST, "geo": geo},
            headers=unit.headers,
        ),
        201,
    )
    photos = [("files", ("front.jpg", jpeg("journey-front"), "image/jpeg"))]
    ok(await h.client.post(f"/v1/inspections/{inspection['id']}/photos", files=photos, headers=unit.headers))
    ok(
        await h.client.post(
            f"/v1/inspections/{inspection['id']}/submit", json={"result": "PASSED"}, headers=unit.headers
        )
    )
    stored = ok(await h.client.get(f"/v1/trucks/{truck['id']}", headers=operator.headers))
    assert stored["status"] == "ACTIVE"
    return str(truck["id"])


async def fleet_driver(h: Harness, operator: Session, kyc_admin: Session) -> Session:
    expiry = (h.clock.now() + timedelta(days=700)).date().isoformat()
    body = {
        "name": "Ramesh Yadav",
        "mobile": "+919600000021",
        "licenceNumber": "MH1220190012345",
        "licenceExpiry": expiry,
    }
    ok(await h.client.post("/v1/drivers", json=body, headers=operator.headers), 201)
    driver = await sign_in(h, "+919600000021", device_id="DEV-JOURNEY-PHONE")
    await make_kyc_verified(h, driver, role=Role.DRIVER, kyc_admin=kyc_admin)
    return driver


async def onboard(h: Harness) -> Cast:
    kyc_admin = await kyc_admin_session(h)
    admin = await ledger_admin_session(h)
    shipper = await sign_up(h, "+919600000001", role=Role.SHIPPER, name="Patel Cements")
    winner = await sign_up(h, "+919600000002", role=Role.OPERATOR, name="Sharma Roadlines")
    rival = await sign_up(h, "+919600000003", role=Role.OPERATOR, name="Verma Transport")
    for session, role in ((shipper, Role.SHIPPER), (winner, Role.OPERATOR), (rival, Role.OPERATOR)):
        await make_kyc_verified(h, session, role=role, kyc_admin=kyc_admin)
    for operator in (winner, rival):
        await deposit(h, admin, operator.user_id, DEPOSIT_RUPEES)
        assert await balance(h, operator) == DEPOSIT_RUPEES
    truck_id = await inspected_truck(h, winner)
    driver = await fleet_driver(h, winner, kyc_admin)
    return Cast(admin, shipper, winner, rival, driver, truck_id)


def verify_audit_chain(h: Harness) -> str:
    """`rodistaa audit verify` against the test's database, as an operator would run it."""
    env = {
        "ENV": "test",
        "DATABASE_URL": h.settings.database_url,
        "JWT_KEYS": f"k1:{TEST_JWT_SECRET}",
        "JWT_ACTIVE_KID": "k1",
        "HMAC_KEY": TEST_HMAC_KEY,
        "LOCAL_KMS_KEY_ID": "test-kms",
        "LOCAL_KMS_KEYS": TEST_KMS_KEYS,
    }
    result = CliRunner().invoke(cli.app, ["audit", "verify"], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_the_whole_freight_day_over_http(harness: Harness) -> None:
    h = harness
    cast = await onboard(h)

    # The shipper books Mumbai -> Delhi; the server prices it and proposes the range.
    booking = await create_booking(h, cast.shipper)
    assert booking["status"] == "OPEN" and booking["id"].startswith("RID-")
    low, high = booking["priceRange"]["min"], booking["priceRange"]["max"]
    fee = bidding_fee_paise(
        Decimal(str(booking["tonnage"])),
        Decimal(str(booking["distanceKm"])),
        per_tonne=Decimal("5.00"),
        per_km=Decimal("0.25"),
    )

    # Two operators bid; each pays the fee from its ledger at once.
    cheaper = ok(
        await h.client.post(
            "/v1/bids", json={"bookingId": booking["id"], "amount": low}, headers=cast.winner.headers
        ),
        201,
    )
    dearer = ok(
        await h.client.post(
            "/v1/bids", json={"bookingId": booking["id"], "amount": high}, headers=cast.rival.headers
        ),
        201,
    )
    for operator in (cast.winner, cast.rival):
        assert await balance(h, operator) == DEPOSIT_RUPEES - fee / 100
    assert (
        ok(await h.client.get(f"/v1/bookings/{booking['id']}", headers=cast.shipper.headers))["status"]
        == "NEGOTIATION"
    )
    listed = await h.client.get(f"/v1/bookings/{booking['id']}/bids", headers=cast.shipper.headers)
    assert listed.status_code == 200, listed.text
    assert [b["id"] for b in listed.json()] == [cheaper["id"], dearer["id"]]  # cheapest first
    assert any(booking["id"] in m for m in await inbox(h, cast.shipper))

    # The shipper accepts the cheaper bid: one transaction finalizes and creates the shipment.
    accepted = ok(await h.client.post(f"/v1/bids/{cheaper['id']}/accept", headers=cast.shipper.headers))
    shipment_id = accepted["shipment"]["id"]
    assert accepted["booking"]["status"] == "FINALIZED" and accepted["bid"]["status"] == "ACCEPTED"
    assert accepted["shipment"]["status"] == "ASSIGNED" and accepted["shipment"]["agreedPrice"] == low
    rival_view = ok(await h.client.get(f"/v1/bids/{dearer['id']}", headers=cast.rival.headers))
    assert rival_view["status"] == "REJECTED"
    assert any(shipment_id in m for m in await inbox(h, cast.winner))
    assert await inbox(h, cast.rival)  # told it was not selected
    for operator in (cast.winner, cast.rival):  # fees are never refunded
        assert await balance(h, operator) == DEPOSIT_RUPEES - fee / 100

    # The operator assigns its inspected truck and its driver; the shipper approves.
    assigned = ok(
        await h.client.post(
            f"/v1/shipments/{shipment_id}/assign",
            json={"driverId": cast.driver.user_id, "truckId": cast.truck_id},
            headers=cast.winner.headers,
        )
    )
    assert assigned["status"] == "DRIVER_PENDING_APPROVAL"
    assert any(shipment_id in m for m in await inbox(h, cast.shipper))
    approved = ok(
        await h.client.post(f"/v1/shipments/{shipment_id}/approve-driver", headers=cast.shipper.headers)
    )
    assert approved["status"] == "APPROVED"

    # The driver starts; only the shipper sees the delivery OTP.
    started = ok(await h.client.post(f"/v1/shipments/{shipment_id}/start", headers=cast.driver.headers))
    assert started["status"] == "IN_TRANSIT" and started["otpIssued"] is True
    otp = ok(await h.client.get(f"/v1/shipments/{shipment_id}/otp", headers=cast.shipper.headers))["otp"]
    refused = await h.client.get(f"/v1/shipments/{shipment_id}/otp", headers=cast.driver.headers)
    assert refused.status_code == 403 and otp not in refused.text

    # Two pings on the road, ten minutes apart; the shipper follows the track.
    for minutes, km in ((0, 0.0), (10, 8.0)):
        h.clock.advance(minutes=minutes)
        point = km_north({"lat": 19.076, "lng": 72.8777}, km)
        ping = {"shipmentId": shipment_id, "coordinates": point, "speed": 48, "heading": 0}
        assert (
            ok(await h.client.post("/v1/tracking/ping", json=ping, headers=cast.driver.headers))["accepted"]
            == 1
        )
    track = ok(await h.client.get(f"/v1/tracking/{shipment_id}", headers=cast.shipper.headers))
    assert len(track) == 2 and track[-1]["coordinates"]["lat"] > track[0]["coordinates"]["lat"]

    # Delivery: the POD with the OTP completes the shipment.
    # Twenty hours later, at the drop: the apps have refreshed their access tokens meanwhile.
    h.clock.advance(hours=20)
    driver, shipper = await refreshed(h, cast.driver), await refreshed(h, cast.shipper)
    admin, winner, rival = [await refreshed(h, s) for s in (cast.admin, cast.winner, cast.rival)]
    pod = ok(await upload_pod(h, driver, shipment_id, otp=otp), 201)
    assert pod["completed"] is True and pod["shipmentStatus"] == "COMPLETED"
    final = await shipment(h, shipper, shipment_id)
    assert final["status"] == "COMPLETED" and final["completedAt"] is not None
    assert (
        ok(await h.client.get(f"/v1/bookings/{booking['id']}", headers=shipper.headers))["status"]
        == "FINALIZED"
    )
    assert any("delivered" in m and shipment_id in m for m in await inbox(h, shipper))
    for operator in (winner, rival):
        assert await balance(h, operator) == DEPOSIT_RUPEES - fee / 100

    # Every step left its audit entry, and the chain verifies link by link.
    assert set(await audit_actions(h, admin, shipment_id)) >= {
        "shipment.assigned",
        "shipment.driver_approved",
        "shipment.started",
        "shipment.otp_viewed",
        "shipment.completed",
    }
    assert set(await audit_actions(h, admin, booking["id"])) >= {"booking.created", "booking.finalized"}
    assert set(await audit_actions(h, admin, cheaper["id"])) >= {"bid.created"}
    report = await asyncio.to_thread(verify_audit_chain, h)
    assert report.startswith("OK ")
