"""Starting a shipment and its delivery OTP (PRODUCT §6 "Shipment"): the approved driver starts
(RF01: verified KYC), the OTP is issued in the same transaction and shown to the shipper only
(audited, never cached, never in a notification); the shipper re-issues it, which also lifts
RF04's brute-force block and nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from rodistaa.acs.tables import acs_events
from rodistaa.core.roles import Role
from rodistaa.delivery.otp import code_hash
from rodistaa.shipments.status import ShipmentStatus
from rodistaa.shipments.tables import delivery_otps
from tests.api.flows import admin_session
from tests.api.freight_setup import fleet_driver, seeded_trip, verified_user
from tests.api.shipment_flows import (
    acs_block_shipment,
    acs_freeze,
    assert_error,
    audit_entries,
    block_rows,
    get,
    inbox,
    otp_row,
    reissue,
    shipment_row,
    show_otp,
    start,
)
from tests.conftest import TEST_HMAC_KEY, Harness

S = ShipmentStatus


def matches(shipment_id: str, code: str, row: dict[str, object] | None) -> bool:
    assert row is not None
    return code_hash(TEST_HMAC_KEY.encode(), shipment_id, code) == row["code_hash"]


class TestStart:
    async def test_the_approved_driver_starts_and_the_otp_is_issued(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.APPROVED)
        assert trip.driver is not None
        response = await start(harness, trip.driver, trip.shipment_id)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["otpIssued"]) == ("IN_TRANSIT", True)
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["started_at"]) == ("IN_TRANSIT", harness.clock.now())
        otp = await otp_row(harness, trip.shipment_id)
        assert otp is not None
        assert (otp["attempts"], otp["issue_count"], otp["locked_at"], otp["consumed_at"]) == (
            0,
            1,
            None,
            None,
        )
        assert otp["expires_at"] == harness.clock.now() + timedelta(
            seconds=harness.app.state.services.settings.delivery_otp_validity_s
        )
        code = (await show_otp(harness, trip.shipper, trip.shipment_id)).json()["otp"]
        assert matches(trip.shipment_id, code, otp) and code not in str(otp["code_ciphertext"])
        assert await inbox(harness, trip.shipper.user_id) == [
            f"Shipment {trip.shipment_id} started; your delivery OTP is in the app"
        ]
        [started, _viewed] = await audit_entries(harness, trip.shipment_id)
        assert started["action"] == "shipment.started"
        assert {k: started["data"][k] for k in ("from", "to", "restart", "otpIssued")} == {
            "from": "APPROVED",
            "to": "IN_TRANSIT",
            "restart": False,
            "otpIssued": True,
        }
        async with harness.app.state.services.db.read() as conn:
            outcome = (
                await conn.execute(
                    select(acs_events.c.outcome).where(acs_events.c.event_id == started["data"]["acsEventId"])
                )
            ).scalar_one()
        assert outcome == "ALLOW"

    async def test_rf01_refuses_a_driver_without_verified_kyc(self, harness: Harness) -> None:
        operator = await verified_user(harness, Role.OPERATOR)
        driver = await fleet_driver(harness, operator.user_id, verified=False)
        trip = await seeded_trip(harness, status=S.APPROVED, operator=operator, driver=driver)
        before = await shipment_row(harness, trip.shipment_id)
        response = await start(harness, driver, trip.shipment_id)
        assert_error(response, 403, "KYC_REQUIRED")
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await otp_row(harness, trip.shipment_id) is None
        assert await audit_entries(harness, trip.shipment_id) == []

    async def test_only_the_assigned_driver_may_start(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.APPROVED)
        for session in (trip.shipper, trip.operator, admin):
            assert_error(await start(harness, session, trip.shipment_id), 403, "FORBIDDEN")
        stranger = await fleet_driver(harness, trip.operator.user_id)
        assert_error(await start(harness, stranger, trip.shipment_id), 404, "NOT_FOUND")
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "APPROVED"

    @pytest.mark.parametrize("status", [s for s in S if s not in (S.APPROVED, S.ASSIGNED)])
    async def test_illegal_states_are_409_and_change_nothing(
        self, harness: Harness, status: ShipmentStatus
    ) -> None:
        trip = await seeded_trip(harness, status=status)
        assert trip.driver is not None
        before = await shipment_row(harness, trip.shipment_id)
        assert_error(await start(harness, trip.driver, trip.shipment_id), 409, "INVALID_STATE")
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await otp_row(harness, trip.shipment_id) is None

    async def test_an_assigned_shipment_has_no_driver_to_start_it(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.ASSIGNED)
        driver = await fleet_driver(harness, trip.operator.user_id)
        assert_error(await start(harness, driver, trip.shipment_id), 404, "NOT_FOUND")


class TestShowOtp:
    async def test_the_shipper_sees_the_code_uncached_and_the_view_is_audited(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.APPROVED)
        assert trip.driver is not None
        await start(harness, trip.driver, trip.shipment_id)
        response = await show_otp(harness, trip.shipper, trip.shipment_id)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert len(body["otp"]) == 6 and body["otp"].isdigit()
        assert (body["attempts"], body["locked"], body["consumed"]) == (0, False, False)
        assert matches(trip.shipment_id, body["otp"], await otp_row(harness, trip.shipment_id))
        viewed = (await audit_entries(harness, trip.shipment_id))[-1]
        assert (viewed["action"], viewed["actor"]) == ("shipment.otp_viewed", trip.shipper.user_id)
        assert viewed["data"] == {"issueCount": 1, "attempts": 0, "locked": False}
        for user_id in (trip.shipper.user_id, trip.operator.user_id, trip.driver.user_id):
            assert all(body["otp"] not in message for message in await inbox(harness, user_id))

    async def test_nobody_but_the_shipper_sees_it(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.APPROVED)
        assert trip.driver is not None
        await start(harness, trip.driver, trip.shipment_id)
        for session in (trip.operator, trip.driver, admin):
            response = await show_otp(harness, session, trip.shipment_id)
            assert_error(response, 403, "FORBIDDEN")
            assert "otp" not in response.json()
        other = await seeded_trip(harness, status=S.ASSIGNED)
        assert_error(await show_otp(harness, other.shipper, trip.shipment_id), 404, "NOT_FOUND")
        assert [e["action"] for e in await audit_entries(harness, trip.shipment_id)] == ["shipment.started"]

    async def test_before_the_start_there_is_none(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.APPROVED)
        assert_error(await show_otp(harness, trip.shipper, trip.shipment_id), 404, "OTP_NOT_ISSUED")


class TestReissueOtp:
    async def test_a_new_code_replaces_the_old_one(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.APPROVED)
        assert trip.driver is not None
        await start(harness, trip.driver, trip.shipment_id)
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(
                update(delivery_otps)
                .where(delivery_otps.c.shipment_id == trip.shipment_id)
                .values(attempts=3)
            )
        harness.clock.advance(minutes=5)
        response = await reissue(harness, trip.shipper, trip.shipment_id)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        row = await otp_row(harness, trip.shipment_id)
        assert row is not None and matches(trip.shipment_id, body["otp"], row)
        assert (row["attempts"], row["issue_count"], row["issued_at"]) == (0, 2, harness.clock.now())
        assert (body["attempts"], body["locked"]) == (0, False)
        assert (await show_otp(harness, trip.shipper, trip.shipment_id)).json()["otp"] == body["otp"]
        entry = [
            e
            for e in await audit_entries(harness, trip.shipment_id)
            if e["action"] == "shipment.otp_reissued"
        ]
        assert [e["data"] for e in entry] == [{"status": "IN_TRANSIT", "issueCount": 2, "blocksLifted": 0}]
        assert await inbox(harness, trip.driver.user_id) == [
            f"A new delivery OTP was issued for shipment {trip.shipment_id}; the earlier one no longer works"
        ]

    async def test_it_lifts_the_brute_force_lock_and_block(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=S.OTP_PENDING)
        assert trip.driver is not None
        async with harness.app.state.services.db.transaction() as conn:
            await conn.execute(
                delivery_otps.insert().values(
                    shipment_id=trip.shipment_id,
                    code_hash="0" * 64,
                    code_ciphertext="locked",
                    attempts=5,
                    issue_count=1,
                    issued_at=harness.clock.now(),
                    expires_at=harness.clock.now() + timedelta(hours=1),
                    locked_at=harness.clock.now(),
                )
            )
        await acs_block_shipment(harness, trip.shipment_id, "OTP_BRUTE_FORCE")
        assert (await get(harness, trip.shipper, f"/shipments/{trip.shipment_id}")).json()[
            "status"
        ] == "FROZEN"
        response = await reissue(harness, trip.shipper, trip.shipment_id)
        assert response.status_code == 200, response.text
        [block] = await block_rows(harness, "shipment", trip.shipment_id)
        assert (block["lifted_at"], block["lifted_by"]) == (harness.clock.now(), trip.shipper.user_id)
        row = await otp_row(harness, trip.shipment_id)
        assert row is not None and (row["attempts"], row["locked_at"], row["issue_count"]) == (0, None, 2)
        shown = (await get(harness, trip.shipper, f"/shipments/{trip.shipment_id}")).json()
        assert (shown["status"], shown["frozenReason"]) == ("OTP_PENDING", None)
        entry = (await audit_entries(harness, trip.shipment_id))[-1]
        assert entry["data"]["blocksLifted"] == 1

    @pytest.mark.parametrize("other", ["freeze", "block"])
    async def test_another_freeze_or_block_still_refuses(self, harness: Harness, other: str) -> None:
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        await acs_block_shipment(harness, trip.shipment_id, "OTP_BRUTE_FORCE")
        if other == "freeze":
            await acs_freeze(harness, trip.shipment_id, "GPS_JUMP")
        else:
            await acs_block_shipment(harness, trip.shipment_id, "FRAUD_REVIEW")
        response = await reissue(harness, trip.shipper, trip.shipment_id)
        assert_error(response, 409, "SHIPMENT_FROZEN")
        assert all(b["lifted_at"] is None for b in await block_rows(harness, "shipment", trip.shipment_id))
        assert await otp_row(harness, trip.shipment_id) is None

    async def test_only_the_shipper_may_reissue(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=S.IN_TRANSIT)
        assert trip.driver is not None
        for session in (trip.operator, trip.driver, admin):
            assert_error(await reissue(harness, session, trip.shipment_id), 403, "FORBIDDEN")
        other = await seeded_trip(harness, status=S.ASSIGNED)
        assert_error(await reissue(harness, other.shipper, trip.shipment_id), 404, "NOT_FOUND")
        assert await otp_row(harness, trip.shipment_id) is None

    @pytest.mark.parametrize("status", [s for s in S if s not in (S.IN_TRANSIT, S.OTP_PENDING)])
    async def test_only_en_route_shipments_have_an_otp_to_reissue(
        self, harness: Harness, status: ShipmentStatus
    ) -> None:
        trip = await seeded_trip(harness, status=status)
        before = await shipment_row(harness, trip.shipment_id)
        assert_error(await reissue(harness, trip.shipper, trip.shipment_id), 409, "INVALID_STATE")
        assert await otp_row(harness, trip.shipment_id) is None
        assert await shipment_row(harness, trip.shipment_id) == before
