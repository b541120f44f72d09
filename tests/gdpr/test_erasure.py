"""`POST /v1/admin/users/{userId}/erase`: after it no personal field of the person is readable
anywhere in the database (every text column of every table is searched), their KYC documents
cannot be decrypted, every credential is refused, the ledger is intact and the audit chain
verifies; refusals for every wrong caller, body and state."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from rodistaa.acs.audit import verify_chain
from rodistaa.acs.audit.tables import audit_log
from rodistaa.bids.tables import bids
from rodistaa.bookings.tables import bookings
from rodistaa.core.roles import Role
from rodistaa.db.tables import device_bindings, refresh_token_families, user_data_keys, users
from rodistaa.drivers.tables import drivers
from rodistaa.fleet.tables import trucks
from rodistaa.kyc.tables import kyc_documents
from rodistaa.ledger.tables import ledger_accounts, ledger_entries
from rodistaa.shipments.status import ShipmentStatus
from rodistaa.shipments.tables import shipments
from tests.api.bid_flows import place_bid
from tests.api.booking_flows import cancel_booking, create_booking, session_with_role
from tests.api.delivery_flows import mark_completed
from tests.api.fleet_flows import create_truck
from tests.api.flows import Session, admin_session, login, sign_in
from tests.api.freight_setup import seeded_trip
from tests.api.kyc_flows import kyc_admin_session
from tests.api.ledger_flows import deposit, ledger_admin_session
from tests.api.shipment_flows import breakdown
from tests.apikeys.flows import create_key
from tests.conftest import Harness
from tests.gdpr.flows import (
    ERASE_REASON,
    Person,
    erase,
    erase_response,
    kyc_verified_person,
    mid_range,
    registered_person,
    text_columns_containing,
)

SHIPPER_NAME = "Meenakshi Agro Traders"
OPERATOR_NAME = "Harpreet Singh Roadways"
PURPOSE = "Fraud review requested by the risk team, ticket TKT-0042"


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    return dict(response.json())


async def rows(h: Harness, query: Any) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


async def user_row(h: Harness, user_id: str) -> dict[str, Any]:
    [row] = await rows(h, select(users).where(users.c.id == user_id))
    return row


async def erasure_entries(h: Harness, user_id: str) -> list[dict[str, Any]]:
    query = select(audit_log).where(audit_log.c.action == "user.erased", audit_log.c.entity_id == user_id)
    return await rows(h, query)


async def decrypt(h: Harness, kyc_admin: Session, kyc_id: str) -> Any:
    body = {"kycId": kyc_id, "purpose": PURPOSE}
    return await h.client.post("/v1/admin/kyc/decrypt", json=body, headers=kyc_admin.headers)


class TestRefusals:
    async def test_anonymous_is_401_and_other_roles_403(self, h: Harness) -> None:
        shipper = await registered_person(h, Role.SHIPPER, name=SHIPPER_NAME)
        anonymous = await h.client.post(
            f"/v1/admin/users/{shipper.user_id}/erase", json={"reason": ERASE_REASON}
        )
        assert_error(anonymous, 401, "UNAUTHORIZED")
        for role in (Role.SHIPPER, Role.KYC_ADMIN, Role.FRANCHISE_DISTRICT):
            caller = shipper.session if role is Role.SHIPPER else await session_with_role(h, role)
            assert_error(await erase_response(h, caller, shipper.user_id), 403, "FORBIDDEN")
        assert (await user_row(h, shipper.user_id))["erased_at"] is None

    async def test_an_unknown_user_is_404(self, h: Harness) -> None:
        admin = await admin_session(h)
        assert_error(await erase_response(h, admin, "USR-SH-01J9Z6Q4YB7T3K5N8W2X4C6V1D"), 404, "NOT_FOUND")

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"reason": "too short"},
            {"reason": "x" * 501},
            {"reason": "Asked by phone from +91 98765 43210"},
            {"reason": "Asked by e-mail from someone@example.org"},
            {"reason": ERASE_REASON, "force": True},
        ],
        ids=["missing", "short", "long", "phone", "email", "extra-field"],
    )
    async def test_a_bad_body_is_400_naming_the_field(self, h: Harness, body: dict[str, Any]) -> None:
        admin = await admin_session(h)
        shipper = await registered_person(h, Role.SHIPPER, name=SHIPPER_NAME)
        response = await erase_response(h, admin, shipper.user_id, body)
        details = assert_error(response, 400, "VALIDATION_ERROR")["details"]
        assert details["field"] in ("reason", "force"), details
        assert "98765" not in response.text and "someone@" not in response.text
        assert (await user_row(h, shipper.user_id))["erased_at"] is None

    async def test_an_admin_cannot_erase_themselves(self, h: Harness) -> None:
        admin = await admin_session(h)
        assert_error(await erase_response(h, admin, admin.user_id), 403, "SELF_ERASURE")
        assert (await user_row(h, admin.user_id))["status"] == "ACTIVE"

    async def test_open_business_blocks_the_erasure_until_settled(self, h: Harness) -> None:
        admin = await admin_session(h)
        kyc_admin = await kyc_admin_session(h)
        shipper = await kyc_verified_person(h, Role.SHIPPER, kyc_admin, name=SHIPPER_NAME)
        booking = await create_booking(h, shipper.session)

        body = assert_error(await erase_response(h, admin, shipper.user_id), 409, "ERASURE_BLOCKED")

        assert body["details"] == {"openBookings": 1}
        row = await user_row(h, shipper.user_id)
        assert (row["name"], row["erased_at"]) == (SHIPPER_NAME, None)
        assert await erasure_entries(h, shipper.user_id) == []
        assert (await cancel_booking(h, shipper.session, booking["id"])).status_code == 200
        await erase(h, admin, shipper.user_id)

    async def test_an_unfinished_trip_blocks_every_party(self, h: Harness) -> None:
        admin = await admin_session(h)
        trip = await seeded_trip(h, status=ShipmentStatus.IN_TRANSIT)
        assert trip.driver is not None
        for party in (trip.shipper, trip.operator, trip.driver):
            body = assert_error(await erase_response(h, admin, party.user_id), 409, "ERASURE_BLOCKED")
            assert body["details"]["openShipments"] == 1


class TestErasingAShipper:
    async def test_nothing_personal_is_left_and_the_records_stay(self, h: Harness) -> None:
        admin, kyc_admin = await admin_session(h), await kyc_admin_session(h)
        shipper = await kyc_verified_person(
            h, Role.SHIPPER, kyc_admin, name=SHIPPER_NAME, device_id="DEV-ERASE-1"
        )
        operator = await kyc_verified_person(h, Role.OPERATOR, kyc_admin, name=OPERATOR_NAME)
        await deposit(h, await ledger_admin_session(h), operator.user_id, 1000)
        key = (await create_key(h, admin, shipper.user_id, ["bookings:read"]))["key"]
        booking = await create_booking(h, shipper.session)
        bid = await place_bid(
            h, operator.session, booking["id"], mid_range(booking), notes="Loading on the 20th"
        )
        reason = f"{SHIPPER_NAME} changed the plan"
        assert (await cancel_booking(h, shipper.session, booking["id"], reason)).status_code == 200
        assert (await decrypt(h, kyc_admin, shipper.kyc_ids["AADHAAR"])).status_code == 200
        assert await text_columns_containing(h, shipper.personal_strings()) != []  # the search finds them

        body = await erase(h, admin, shipper.user_id)

        assert (body["userId"], body["status"]) == (shipper.user_id, "INACTIVE")
        counts = body["erased"]
        assert counts["sessionsRevoked"] == 1 and counts["devicesRemoved"] == 1
        assert counts["dataKeyDestroyed"] == 1 and counts["kycDocumentsScrubbed"] == 2
        assert counts["bookingsScrubbed"] == 1 and counts["apiKeysRevoked"] == 1
        assert counts["loginCodesRemoved"] == 1 and counts["acsEventsRemoved"] >= 2
        assert await text_columns_containing(h, [*shipper.personal_strings(), reason]) == []
        await self.assert_account_anonymised(h, shipper, body)
        await self.assert_nothing_opens(h, shipper, kyc_admin, key)
        await self.assert_records_kept(h, shipper, booking, bid)
        assert (await verify_chain(h.app.state.services.db, h.app.state.services.kms)).ok

    @staticmethod
    async def assert_account_anonymised(h: Harness, shipper: Person, body: dict[str, Any]) -> None:
        row = await user_row(h, shipper.user_id)
        assert row["name"] == "Erased user" and row["email"] is None
        assert re.fullmatch(r"ERASED-[A-Za-z]{9}", row["mobile"]), row["mobile"]
        assert (row["status"], row["role"]) == ("INACTIVE", "SHIPPER")
        assert row["erased_at"] is not None
        families = await rows(
            h, select(refresh_token_families).where(refresh_token_families.c.user_id == shipper.user_id)
        )
        assert [(f["revoked_reason"], f["device_id"]) for f in families] == [("ERASED", None)]
        assert (
            await rows(h, select(device_bindings).where(device_bindings.c.user_id == shipper.user_id)) == []
        )
        [key_row] = await rows(h, select(user_data_keys).where(user_data_keys.c.user_id == shipper.user_id))
        assert key_row["wrapped_key"] is None and key_row["destroyed_at"] is not None
        [entry] = await erasure_entries(h, shipper.user_id)
        assert entry["actor"] != shipper.user_id
        assert json.loads(entry["data"]) == {"reason": ERASE_REASON, "role": "SHIPPER", **body["erased"]}

    @staticmethod
    async def assert_nothing_opens(h: Harness, shipper: Person, kyc_admin: Session, key: str) -> None:
        assert_error(await h.client.get("/v1/users/me", headers=shipper.session.headers), 401, "UNAUTHORIZED")
        refresh = await h.client.post(
            "/v1/auth/refresh",
            json={"refreshToken": shipper.session.refresh_token},
            headers={"X-Device-Id": "DEV-ERASE-1"},
        )
        assert refresh.status_code == 401, refresh.text
        assert (await h.client.get("/v1/bookings", headers={"X-API-Key": key})).status_code == 401
        for kyc_id in shipper.kyc_ids.values():
            assert_error(await decrypt(h, kyc_admin, kyc_id), 410, "DATA_ERASED")
        # The phone is free again: the person may come back as a new account.
        assert (await login(h, shipper.mobile))["registrationRequired"] is True

    @staticmethod
    async def assert_records_kept(
        h: Harness, shipper: Person, booking: dict[str, Any], bid: dict[str, Any]
    ) -> None:
        [kept] = await rows(h, select(bookings).where(bookings.c.id == booking["id"]))
        assert (kept["shipper_id"], kept["status"], kept["cancel_reason"]) == (
            shipper.user_id,
            "CANCELLED",
            None,
        )
        assert (kept["pickup_address"], kept["pickup_city"], kept["pickup_pincode"]) == (
            "[erased]",
            "Mumbai",
            "400001",
        )
        assert (kept["pickup_lat"], kept["pickup_lng"]) == (19.08, 72.88)
        [other] = await rows(h, select(bids).where(bids.c.id == bid["id"]))
        assert (other["status"], other["notes"]) == ("REJECTED", "Loading on the 20th")  # the operator's text
        documents = await rows(h, select(kyc_documents).where(kyc_documents.c.user_id == shipper.user_id))
        assert {(d["status"], d["number_masked"], d["number_ciphertext"]) for d in documents} == {
            ("VERIFIED", "ERASED", "ERASED")
        }

    async def test_a_second_erasure_is_409_and_changes_nothing(self, h: Harness) -> None:
        admin = await admin_session(h)
        shipper = await registered_person(h, Role.SHIPPER, name=SHIPPER_NAME)
        await erase(h, admin, shipper.user_id)
        before = await user_row(h, shipper.user_id)

        assert_error(await erase_response(h, admin, shipper.user_id), 409, "ALREADY_ERASED")

        assert await user_row(h, shipper.user_id) == before
        assert len(await erasure_entries(h, shipper.user_id)) == 1


class TestErasingAnOperator:
    async def test_the_ledger_stays_whole_and_their_free_text_goes(self, h: Harness) -> None:
        admin, kyc_admin = await admin_session(h), await kyc_admin_session(h)
        operator = await kyc_verified_person(h, Role.OPERATOR, kyc_admin, name=OPERATOR_NAME)
        shipper = await kyc_verified_person(h, Role.SHIPPER, kyc_admin, name=SHIPPER_NAME)
        funded = await deposit(
            h, await ledger_admin_session(h), operator.user_id, 1000, description=f"NEFT from {OPERATOR_NAME}"
        )
        truck = await create_truck(h, operator.session)
        booking = await create_booking(h, shipper.session)
        notes = f"{OPERATOR_NAME} loads on the 20th"
        bid = await place_bid(h, operator.session, booking["id"], mid_range(booking), notes=notes)
        assert (await cancel_booking(h, shipper.session, booking["id"])).status_code == 200
        ledger_before = await self.ledger(h, operator.user_id)

        body = await erase(h, admin, operator.user_id)

        assert body["erased"]["ledgerDescriptionsScrubbed"] == 1 and body["erased"]["trucksRetired"] == 1
        assert body["erased"]["bidNotesCleared"] == 1
        assert await text_columns_containing(h, [*operator.personal_strings(), notes]) == []
        ledger_after = await self.ledger(h, operator.user_id)
        assert [(e["id"], e["amount_paise"], e["balance_after_paise"]) for e in ledger_after] == [
            (e["id"], e["amount_paise"], e["balance_after_paise"]) for e in ledger_before
        ]
        assert [e["description"] for e in ledger_after if e["id"] == funded["id"]] == ["[erased]"]
        running = 0
        for entry in ledger_after:
            running += entry["amount_paise"]
            assert entry["balance_after_paise"] == running
        [account] = await rows(
            h, select(ledger_accounts).where(ledger_accounts.c.operator_id == operator.user_id)
        )
        assert account["balance_paise"] == running == 100_000 - round(bid["fee"] * 100)
        [kept_bid] = await rows(h, select(bids).where(bids.c.id == bid["id"]))
        assert (kept_bid["status"], kept_bid["notes"], kept_bid["fee_paise"]) == (
            "REJECTED",
            None,
            round(bid["fee"] * 100),
        )
        [kept_truck] = await rows(h, select(trucks).where(trucks.c.id == truck["id"]))
        assert (kept_truck["status"], kept_truck["chassis_ciphertext"]) == ("INACTIVE", "ERASED")
        assert kept_truck["registration_number"] == truck["registrationNumber"]
        assert (await verify_chain(h.app.state.services.db, h.app.state.services.kms)).ok
        # Others' records that refer to the operator still read, by id.
        listed = await h.client.get(f"/v1/bids/{bid['id']}", headers=admin.headers)
        assert (listed.status_code, listed.json()["operatorId"]) == (200, operator.user_id)

    @staticmethod
    async def ledger(h: Harness, operator_id: str) -> list[dict[str, Any]]:
        query = (
            select(ledger_entries)
            .where(ledger_entries.c.operator_id == operator_id)
            .order_by(ledger_entries.c.created_at, ledger_entries.c.id)
        )
        return await rows(h, query)


class TestErasingTheCrewOfAFinishedTrip:
    async def test_the_drivers_report_and_the_shippers_places_go_and_the_trip_stays(self, h: Harness) -> None:
        admin = await admin_session(h)
        trip = await seeded_trip(h, status=ShipmentStatus.IN_TRANSIT)
        assert trip.driver is not None
        report = "Clutch failed near Vadodara, call Ravi at the dhaba"
        assert (await breakdown(h, trip.driver, trip.shipment_id, report)).status_code == 200
        await mark_completed(h, trip.shipment_id, completed_at=h.clock.now())

        driver_erased = await erase(h, admin, trip.driver.user_id)
        shipper_erased = await erase(h, admin, trip.shipper.user_id)

        assert driver_erased["erased"]["shipmentsScrubbed"] == 1
        assert driver_erased["erased"]["driverLicencesScrubbed"] == 1
        assert shipper_erased["erased"]["shipmentsScrubbed"] == 1
        assert await text_columns_containing(h, [report, "Vadodara"]) == []
        [kept] = await rows(h, select(shipments).where(shipments.c.id == trip.shipment_id))
        assert (kept["status"], kept["breakdown_reason"]) == ("COMPLETED", "[erased]")
        assert (kept["driver_id"], kept["shipper_id"]) == (trip.driver.user_id, trip.shipper.user_id)
        assert (kept["drop_address"], kept["drop_city"], kept["drop_lat"]) == ("[erased]", "Delhi", 28.61)
        [driver] = await rows(h, select(drivers).where(drivers.c.user_id == trip.driver.user_id))
        assert (driver["licence_masked"], driver["licence_hash"]) == (
            "ERASED",
            f"ERASED:{trip.driver.user_id}",
        )
        operator_view = await h.client.get(f"/v1/shipments/{trip.shipment_id}", headers=trip.operator.headers)
        assert operator_view.status_code == 200, operator_view.text
        assert operator_view.json()["breakdown"]["reason"] == "[erased]"


class TestErasingAStaffMember:
    async def test_another_admin_erases_an_admin(self, h: Harness) -> None:
        first = await admin_session(h)
        second_mobile = "+919000000002"
        await h.app.state.services.users.create_user(
            mobile=second_mobile, name="Second Admin", role=Role.ADMIN, email=None, created_by="test"
        )
        second = await sign_in(h, second_mobile)

        body = await erase(h, second, first.user_id)

        assert body["erased"]["sessionsRevoked"] == 1
        assert_error(await h.client.get("/v1/users/me", headers=first.headers), 401, "UNAUTHORIZED")
        assert await text_columns_containing(h, ["Head Office Admin", "+919000000001"]) == []
