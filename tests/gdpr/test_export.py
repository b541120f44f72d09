"""`GET /v1/users/me/export`: the caller's own data, in clear where it is theirs (KYC numbers
and files, licence, chassis numbers), counterparties only as ids or aliases, every section
capped and the cut reported, and every export audited."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from rodistaa.acs.audit.tables import audit_log
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.fleet.vahan import derived_chassis
from rodistaa.gdpr import service as gdpr_service
from rodistaa.shipments.status import ShipmentStatus
from rodistaa.tracking.tables import gps_pings
from tests.api.bid_flows import expected_alias, place_bid
from tests.api.booking_flows import create_booking
from tests.api.fleet_flows import create_truck
from tests.api.flows import Session, admin_session, sign_in
from tests.api.freight_setup import seeded_trip
from tests.api.kyc_flows import kyc_admin_session, licence_number, upload_document
from tests.api.ledger_flows import fund_operator
from tests.conftest import Harness
from tests.gdpr.flows import (
    Person,
    distinct_mobile,
    export_json,
    export_response,
    kyc_verified_person,
    mid_range,
)

SHIPPER_NAME = "Meenakshi Agro Traders"
OPERATOR_NAME = "Harpreet Singh Roadways"


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness


def assert_absent(text: str, strings: list[str]) -> None:
    leaked = [s for s in strings if s.lower() in text.lower()]
    assert leaked == [], f"the export holds another user's personal data: {leaked}"


async def export_audit_entries(h: Harness, user_id: str) -> list[dict[str, Any]]:
    query = select(audit_log).where(audit_log.c.action == "user.data_exported", audit_log.c.actor == user_id)
    async with h.app.state.services.db.read() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


async def shipper_and_bidder(h: Harness) -> tuple[Person, Person, dict[str, Any], dict[str, Any]]:
    """A shipper with an open booking and an operator (distinctive personal data of their own)
    who bid on it."""
    kyc_admin = await kyc_admin_session(h)
    shipper = await kyc_verified_person(
        h, Role.SHIPPER, kyc_admin, name=SHIPPER_NAME, device_id="DEV-EXPORT-1"
    )
    operator = await kyc_verified_person(h, Role.OPERATOR, kyc_admin, name=OPERATOR_NAME)
    await fund_operator(h, operator.user_id, 1000)
    booking = await create_booking(h, shipper.session)
    bid = await place_bid(
        h, operator.session, booking["id"], mid_range(booking), notes="Tarpaulin cover included"
    )
    return shipper, operator, booking, bid


class TestAccess:
    async def test_anonymous_is_401(self, h: Harness) -> None:
        response = await h.client.get("/v1/users/me/export")
        assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")


class TestShipperExport:
    async def test_the_bundle_holds_the_callers_own_data(self, h: Harness) -> None:
        shipper, _operator, booking, bid = await shipper_and_bidder(h)

        response = await export_response(h, shipper.session)

        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert f"rodistaa-export-{shipper.user_id}.json" in response.headers["content-disposition"]
        body = response.json()
        assert body["format"] == "rodistaa-export/1"
        assert body["limits"] == {"rowsPerSection": 5000, "gpsPings": 10000}
        assert body["truncated"] == {}
        user = body["user"]
        assert (user["id"], user["role"], user["name"]) == (shipper.user_id, "SHIPPER", SHIPPER_NAME)
        assert (user["mobile"], user["email"], user["status"]) == (shipper.mobile, shipper.email, "ACTIVE")
        kyc = {document["documentType"]: document for document in body["kyc"]}
        for document_type in ("AADHAAR", "PAN"):
            assert kyc[document_type]["documentNumber"] == shipper.document_numbers[document_type]
            assert base64.b64decode(kyc[document_type]["fileBase64"]) == shipper.kyc_files[document_type]
            assert kyc[document_type]["readable"] is True and kyc[document_type]["superseded"] is False
        assert [b["id"] for b in body["bookings"]] == [booking["id"]]
        assert body["bookings"][0]["expectedPrice"] == booking["expectedPrice"]
        assert body["bookings"][0]["pickup"]["address"] == booking["pickup"]["address"]
        assert [s["deviceId"] for s in body["sessions"]] == ["DEV-EXPORT-1"]
        assert [d["deviceId"] for d in body["devices"]] == ["DEV-EXPORT-1"]
        assert any(bid["id"] in n["message"] for n in body["notifications"])
        actions = {e["action"] for e in body["auditEntries"]}
        assert {"user.registered", "kyc.uploaded", "booking.created"} <= actions
        for empty in (
            "ledger",
            "trucks",
            "documents",
            "inspections",
            "gpsPings",
            "shipments",
            "pods",
            "apiKeys",
        ):
            assert body[empty] == [], empty
        assert body["driverProfile"] is None

    async def test_bidders_appear_only_by_alias_and_nothing_of_theirs_is_in_it(self, h: Harness) -> None:
        shipper, operator, booking, bid = await shipper_and_bidder(h)

        response = await export_response(h, shipper.session)

        assert response.status_code == 200, response.text
        [seen] = response.json()["bids"]
        assert seen["id"] == bid["id"]
        assert seen["operatorAlias"] == expected_alias(booking["id"], operator.user_id)
        assert not {"operatorId", "truckId", "fee"} & set(seen)
        assert_absent(response.text, [*operator.personal_strings(), operator.user_id])

    async def test_each_export_is_audited_with_counts_only(self, h: Harness) -> None:
        shipper, _operator, _booking, _bid = await shipper_and_bidder(h)

        await export_json(h, shipper.session)
        await export_json(h, shipper.session)

        entries = await export_audit_entries(h, shipper.user_id)
        assert len(entries) == 2
        entry = entries[-1]
        assert (entry["entity_type"], entry["entity_id"]) == ("user", shipper.user_id)
        assert_absent(entry["data"], shipper.personal_strings())
        assert '"bookings":1' in entry["data"] and '"kyc":2' in entry["data"]
        assert '"truncated":[]' in entry["data"]


class TestOperatorExport:
    async def test_ledger_own_bids_and_trucks_in_clear_and_nothing_of_the_shipper(self, h: Harness) -> None:
        shipper, operator, booking, bid = await shipper_and_bidder(h)
        truck = await create_truck(h, operator.session)

        response = await export_response(h, operator.session)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"]["name"] == OPERATOR_NAME
        [own_bid] = body["bids"]
        assert (own_bid["id"], own_bid["operatorId"], own_bid["fee"]) == (
            bid["id"],
            operator.user_id,
            bid["fee"],
        )
        assert own_bid["notes"] == "Tarpaulin cover included"
        assert "operatorAlias" not in own_bid
        assert [(e["entryType"], e["type"]) for e in body["ledger"]] == [
            ("BIDDING_FEE", "DEBIT"),
            ("DEPOSIT", "CREDIT"),
        ]
        assert body["ledger"][0]["balanceAfter"] == 1000 - bid["fee"]
        [own_truck] = body["trucks"]
        chassis = derived_chassis(truck["registrationNumber"])
        assert (own_truck["id"], own_truck["chassisNumber"]) == (truck["id"], chassis)
        assert own_truck["chassisNumberMasked"].endswith(chassis[-4:])
        # Operators may browse every open booking, but none of them is theirs.
        assert body["bookings"] == []
        assert_absent(response.text, [*shipper.personal_strings(), booking["pickup"]["address"]])


class TestDriverExport:
    async def test_licence_in_clear_and_gps_fixes_capped_with_every_fix_counted(
        self, h: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        kyc_admin = await kyc_admin_session(h)
        operator = await kyc_verified_person(h, Role.OPERATOR, kyc_admin, name=OPERATOR_NAME)
        licence, mobile = licence_number(), distinct_mobile()
        created = await h.client.post(
            "/v1/drivers",
            json={
                "name": "Ravi Shankar Yadav",
                "mobile": mobile,
                "licenceNumber": licence,
                "licenceExpiry": (h.clock.now() + timedelta(days=400)).date().isoformat(),
            },
            headers=operator.session.headers,
        )
        assert created.status_code == 201, created.text
        driver = await sign_in(h, mobile, device_id="DEV-DRIVER-EXPORT")
        trip = await seeded_trip(
            h, operator=operator.session, driver=driver, status=ShipmentStatus.IN_TRANSIT
        )
        recorded = [await insert_ping(h, trip.shipment_id, driver, minutes) for minutes in (1, 2, 3)]
        monkeypatch.setattr(gdpr_service, "GPS_PING_LIMIT", 2)

        body = await export_json(h, driver)

        assert body["driverProfile"]["licenceNumber"] == licence
        assert body["driverProfile"]["operatorId"] == operator.user_id
        assert [p["timestamp"] for p in body["gpsPings"]] == [recorded[2], recorded[1]]
        assert body["truncated"] == {"gpsPings": {"included": 2, "total": 3}}
        [track] = body["gpsTracks"]
        assert (track["shipmentId"], track["pings"]) == (trip.shipment_id, 3)
        assert [s["id"] for s in body["shipments"]] == [trip.shipment_id]
        assert body["shipments"][0]["driverId"] == driver.user_id
        entry = (await export_audit_entries(h, driver.user_id))[-1]
        assert '"truncated":["gpsPings"]' in entry["data"]


async def insert_ping(h: Harness, shipment_id: str, driver: Session, minutes: int) -> str:
    """A fix `minutes` from now; returns its time as the API writes it."""
    at = h.clock.now() + timedelta(minutes=minutes)
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            gps_pings.insert().values(
                id=new_id("GPS"),
                shipment_id=shipment_id,
                driver_id=driver.user_id,
                lat=19.0 + minutes / 100,
                lng=72.8,
                speed_kmh=None,
                heading=None,
                accuracy_m=None,
                mock_location=False,
                recorded_at=at,
                received_at=at,
            )
        )
    return at.isoformat().replace("+00:00", "Z")


class TestKycFiles:
    async def test_a_superseded_upload_is_listed_with_its_number_but_without_its_file(
        self, h: Harness
    ) -> None:
        kyc_admin = await kyc_admin_session(h)
        shipper = await kyc_verified_person(h, Role.SHIPPER, kyc_admin, name=SHIPPER_NAME)
        newer = await upload_document(h, shipper.session, "AADHAAR")

        body = await export_json(h, shipper.session)

        aadhaar = [k for k in body["kyc"] if k["documentType"] == "AADHAAR"]
        assert [k["id"] for k in aadhaar] == [newer["id"], shipper.kyc_ids["AADHAAR"]]
        assert aadhaar[0]["fileBase64"] is not None and aadhaar[0]["superseded"] is False
        old = aadhaar[1]
        assert (old["superseded"], old["fileBase64"], old["readable"]) == (True, None, True)
        assert old["documentNumber"] == shipper.document_numbers["AADHAAR"]


class TestStaffExport:
    async def test_an_admin_gets_their_own_records_not_everything_they_may_see(self, h: Harness) -> None:
        shipper, _operator, booking, _bid = await shipper_and_bidder(h)
        admin = await admin_session(h)

        response = await export_response(h, admin)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"]["role"] == "ADMIN"
        for section in ("bookings", "bids", "shipments", "ledger", "kyc", "trucks"):
            assert body[section] == [], section
        assert booking["id"] not in response.text
        assert_absent(response.text, shipper.personal_strings())
