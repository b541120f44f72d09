"""POD upload with the delivery OTP, the OTP retry, and the RF03/RF04 guarantees (PRODUCT §6
"Delivery"): only the assigned driver completes, nobody completes without the OTP, five wrong
codes lock the OTP and block the shipment until the shipper re-issues it."""

from __future__ import annotations

import hashlib

import pytest

from rodistaa.core.roles import Role
from rodistaa.shipments.status import ShipmentStatus
from tests.api.booking_flows import session_with_role
from tests.api.delivery_flows import (
    audit_rows,
    block_rows,
    complete,
    issue_otp,
    jpeg_file,
    lift_shipment_blocks,
    notification_rows,
    other_code,
    otp_row,
    outbox_rows,
    pdf_file,
    pod_rows,
    shipment_row,
    ticket_rows,
    trip_with_otp,
    upload_pod,
)
from tests.api.flows import admin_session, refreshed
from tests.api.freight_setup import fleet_driver, seeded_trip
from tests.conftest import Harness


class TestCorrectOtp:
    async def test_the_driver_completes_the_shipment(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        content = jpeg_file()
        response = await upload_pod(
            harness,
            trip.driver,
            trip.shipment_id,
            otp=code,
            content=content,
            filename="delivery.jpg",
            content_type="image/jpeg",
            metadata_timestamp=harness.clock.now().isoformat(),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["shipmentId"] == trip.shipment_id
        assert (body["shipmentStatus"], body["completed"]) == ("COMPLETED", True)
        assert body["fileSha256"] == hashlib.sha256(content).hexdigest()
        assert (body["sizeBytes"], body["contentType"]) == (len(content), "image/jpeg")
        assert body["fileUrl"] == f"/v1/pods/{body['id']}/file"
        assert body["uploadedBy"] == trip.driver.user_id

        row = await shipment_row(harness, trip.shipment_id)
        assert row["status"] == "COMPLETED"
        assert row["completed_at"] == harness.clock.now()
        assert (await otp_row(harness, trip.shipment_id))["consumed_at"] == harness.clock.now()
        [pod] = await pod_rows(harness, trip.shipment_id)
        assert (pod["id"], pod["file_sha256"], pod["uploaded_by"]) == (
            body["id"],
            body["fileSha256"],
            trip.driver.user_id,
        )
        assert pod["storage_key"] == f"pod/{trip.shipment_id}/{pod['id']}"
        stored = await harness.app.state.services.storage.get(pod["storage_key"])
        assert content not in stored  # encrypted at rest

        message = f"Shipment {trip.shipment_id} delivered"
        for party in (trip.shipper, trip.operator):
            assert [n["message"] for n in await notification_rows(harness, party.user_id)] == [message]
        [event] = [
            e
            for e in await outbox_rows(harness, "shipment.completed")
            if e["payload"]["shipmentId"] == trip.shipment_id
        ]
        assert event["payload"]["podId"] == pod["id"]
        assert event["payload"]["driverId"] == trip.driver.user_id

        [completed] = await audit_rows(harness, trip.shipment_id, "shipment.completed")
        assert completed["actor"] == trip.driver.user_id
        assert completed["data"]["from"] == "IN_TRANSIT"
        assert completed["data"]["podId"] == pod["id"]
        [uploaded] = await audit_rows(harness, pod["id"], "pod.uploaded")
        assert uploaded["data"]["fileSha256"] == pod["file_sha256"]
        assert uploaded["seq"] < completed["seq"]  # the completion is the transaction's last entry

    async def test_the_file_is_served_to_the_parties_and_admins_only(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        content = pdf_file()
        pod = (await upload_pod(harness, trip.driver, trip.shipment_id, otp=code, content=content)).json()
        admin = await admin_session(harness)
        for reader in (trip.shipper, trip.operator, trip.driver, admin):
            response = await harness.client.get(f"/v1/pods/{pod['id']}/file", headers=reader.headers)
            assert response.status_code == 200, response.text
            assert (response.content, response.headers["content-type"]) == (content, "application/pdf")
            listed = await harness.client.get(
                f"/v1/shipments/{trip.shipment_id}/pods", headers=reader.headers
            )
            assert [p["id"] for p in listed.json()] == [pod["id"]]
        assert [e["actor"] for e in await audit_rows(harness, pod["id"], "pod.file_read")] == [admin.user_id]

        stranger = await seeded_trip(harness)  # other parties, other trip
        assert stranger.driver is not None
        for outsider in (stranger.shipper, stranger.operator, stranger.driver):
            response = await harness.client.get(f"/v1/pods/{pod['id']}/file", headers=outsider.headers)
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
            listed = await harness.client.get(
                f"/v1/shipments/{trip.shipment_id}/pods", headers=outsider.headers
            )
            assert listed.status_code == 404
        kyc_admin = await session_with_role(harness, Role.KYC_ADMIN)
        response = await harness.client.get(f"/v1/pods/{pod['id']}/file", headers=kyc_admin.headers)
        assert response.status_code == 403
        missing = await harness.client.get(
            "/v1/pods/POD-01ARZ3NDEKTSV4RRFFQ69G5FAV/file", headers=admin.headers
        )
        assert missing.status_code == 404


class TestWrongOtp:
    async def test_a_wrong_code_keeps_the_pod_and_counts_an_attempt(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        response = await upload_pod(harness, trip.driver, trip.shipment_id, otp=other_code(code))
        assert (response.status_code, response.json()["code"]) == (403, "OTP_REQUIRED")
        details = response.json()["details"]
        assert details["ruleId"] == "RF03_OTP_MANDATORY_COMPLETION"
        assert (details["attemptsRemaining"], details["otpVerdict"]) == (4, "WRONG")
        assert details["shipmentStatus"] == "OTP_PENDING"

        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["completed_at"]) == ("OTP_PENDING", None)
        otp = await otp_row(harness, trip.shipment_id)
        assert (otp["attempts"], otp["locked_at"], otp["consumed_at"]) == (1, None, None)
        [pod] = await pod_rows(harness, trip.shipment_id)
        assert pod["id"] == details["podId"]
        [rejected] = await audit_rows(harness, trip.shipment_id, "shipment.otp_rejected")
        assert rejected["data"]["attemptCounted"] is True
        assert (rejected["data"]["from"], rejected["data"]["to"]) == ("IN_TRANSIT", "OTP_PENDING")
        assert await audit_rows(harness, trip.shipment_id, "shipment.completed") == []

        # The retry: the same code check on the stored POD, without a file.
        retried = await complete(harness, trip.driver, trip.shipment_id, otp=code)
        assert retried.status_code == 200, retried.text
        assert retried.json()["podId"] == pod["id"]
        assert (retried.json()["shipmentStatus"], retried.json()["completed"]) == ("COMPLETED", True)
        row = await shipment_row(harness, trip.shipment_id)
        assert (row["status"], row["completed_at"]) == ("COMPLETED", harness.clock.now())
        [completed] = await audit_rows(harness, trip.shipment_id, "shipment.completed")
        assert (completed["data"]["from"], completed["data"]["otpAttempts"]) == ("OTP_PENDING", 1)

    async def test_re_sending_the_same_file_to_the_same_shipment_is_allowed(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        content = pdf_file()
        first = await upload_pod(
            harness, trip.driver, trip.shipment_id, otp=other_code(code), content=content
        )
        assert first.status_code == 403
        second = await upload_pod(harness, trip.driver, trip.shipment_id, otp=code, content=content)
        assert second.status_code == 201, second.text
        assert len(await pod_rows(harness, trip.shipment_id)) == 2
        assert await block_rows(harness, trip.shipment_id) == []

    async def test_five_wrong_codes_lock_the_otp_and_block_the_shipment(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        wrong = other_code(code)
        first = await upload_pod(harness, trip.driver, trip.shipment_id, otp=wrong)
        remaining = [first.json()["details"]["attemptsRemaining"]]
        for _ in range(4):
            response = await complete(harness, trip.driver, trip.shipment_id, otp=wrong)
            assert (response.status_code, response.json()["code"]) == (403, "OTP_REQUIRED")
            remaining.append(response.json()["details"]["attemptsRemaining"])
        assert remaining == [4, 3, 2, 1, 0]
        otp = await otp_row(harness, trip.shipment_id)
        assert (otp["attempts"], otp["locked_at"]) == (5, harness.clock.now())
        [block] = await block_rows(harness, trip.shipment_id)
        assert (block["reason"], block["rule_id"]) == ("OTP_BRUTE_FORCE", "RF04_OTP_BRUTE_FORCE_PROTECTION")
        assert [t["team"] for t in await ticket_rows(harness, trip.shipment_id)] == ["security"]
        [notice] = await notification_rows(harness, trip.shipper.user_id)
        assert "locked" in notice["message"] and trip.shipment_id in notice["message"]

        # Blocked: even the right code is refused, and nothing moves.
        refused = await complete(harness, trip.driver, trip.shipment_id, otp=code)
        assert (refused.status_code, refused.json()["code"]) == (409, "SHIPMENT_FROZEN")
        # Block lifted but the OTP still locked: refused, not counted, no second block.
        await lift_shipment_blocks(harness, trip.shipment_id)
        refused = await complete(harness, trip.driver, trip.shipment_id, otp=code)
        assert (refused.status_code, refused.json()["code"]) == (403, "OTP_REQUIRED")
        assert refused.json()["details"]["otpVerdict"] == "LOCKED"
        assert (await otp_row(harness, trip.shipment_id))["attempts"] == 5
        assert len(await block_rows(harness, trip.shipment_id)) == 1
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "OTP_PENDING"

        # The shipper re-issues: the new code completes, the old one no longer would.
        new_code = await issue_otp(harness, trip)
        if new_code != code:
            stale = await complete(harness, trip.driver, trip.shipment_id, otp=code)
            assert stale.json()["details"]["otpVerdict"] == "WRONG"
            new_code = await issue_otp(harness, trip)
        done = await complete(harness, trip.driver, trip.shipment_id, otp=new_code)
        assert done.status_code == 200, done.text
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "COMPLETED"

    async def test_an_expired_code_is_refused_but_not_counted(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        harness.clock.advance(seconds=harness.settings.delivery_otp_validity_s)
        driver = await refreshed(harness, trip.driver)
        response = await upload_pod(harness, driver, trip.shipment_id, otp=code)
        assert (response.status_code, response.json()["code"]) == (403, "OTP_REQUIRED")
        assert response.json()["details"]["otpVerdict"] == "EXPIRED"
        otp = await otp_row(harness, trip.shipment_id)
        assert (otp["attempts"], otp["consumed_at"]) == (0, None)  # see test_delivery_otp_attempts
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "OTP_PENDING"
        assert len(await pod_rows(harness, trip.shipment_id)) == 1

    async def test_without_an_issued_otp_nothing_completes(self, harness: Harness) -> None:
        trip = await seeded_trip(harness)
        assert trip.driver is not None
        response = await upload_pod(harness, trip.driver, trip.shipment_id, otp="123456")
        assert (response.status_code, response.json()["code"]) == (403, "OTP_REQUIRED")
        details = response.json()["details"]
        assert (details["otpVerdict"], details["attemptsRemaining"]) == ("NOT_ISSUED", None)
        assert (await shipment_row(harness, trip.shipment_id))["status"] == "OTP_PENDING"


class TestWhoMayComplete:
    @pytest.mark.parametrize("party", ["shipper", "operator"])
    async def test_the_other_parties_cannot_complete(self, harness: Harness, party: str) -> None:
        trip, code = await trip_with_otp(harness)
        session = getattr(trip, party)
        upload = await upload_pod(harness, session, trip.shipment_id, otp=code)
        retry = await complete(harness, session, trip.shipment_id, otp=code)
        for response in (upload, retry):
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        await _assert_untouched(harness, trip.shipment_id)

    async def test_an_admin_cannot_complete(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        admin = await admin_session(harness)
        for response in (
            await upload_pod(harness, admin, trip.shipment_id, otp=code),
            await complete(harness, admin, trip.shipment_id, otp=code),
        ):
            assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
        await _assert_untouched(harness, trip.shipment_id)

    async def test_another_driver_does_not_see_the_shipment(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        other = await fleet_driver(harness, trip.operator.user_id)  # same fleet, not assigned
        for response in (
            await upload_pod(harness, other, trip.shipment_id, otp=code),
            await complete(harness, other, trip.shipment_id, otp=code),
            await harness.client.get(f"/v1/shipments/{trip.shipment_id}/pods", headers=other.headers),
        ):
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
        await _assert_untouched(harness, trip.shipment_id)

    async def test_anonymous_is_refused(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        response = await harness.client.post(
            "/v1/pod/upload",
            data={"shipmentId": trip.shipment_id, "otp": code},
            files={"file": ("pod.pdf", pdf_file(), "application/pdf")},
        )
        assert response.status_code == 401
        await _assert_untouched(harness, trip.shipment_id)


class TestBadInput:
    @pytest.mark.parametrize("code", ["12345", "1234567", "12a456", "", "١٢٣٤٥٦"])
    async def test_a_malformed_otp_is_refused(self, harness: Harness, code: str) -> None:
        trip, _ = await trip_with_otp(harness)
        assert trip.driver is not None
        response = await upload_pod(harness, trip.driver, trip.shipment_id, otp=code)
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
        assert response.json()["details"]["field"] == "otp"
        retry = await complete(harness, trip.driver, trip.shipment_id, otp=code)
        assert (retry.status_code, retry.json()["code"]) == (400, "VALIDATION_ERROR")
        await _assert_untouched(harness, trip.shipment_id)

    async def test_a_file_above_the_limit_is_refused(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        limit = harness.settings.pod_max_bytes
        too_big = b"%PDF-1.4\n" + b"0" * (limit - 8)
        response = await upload_pod(harness, trip.driver, trip.shipment_id, otp=code, content=too_big)
        assert (response.status_code, response.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
        assert response.json()["details"]["maxBytes"] == limit
        await _assert_untouched(harness, trip.shipment_id)

    async def test_a_file_that_is_not_pdf_or_image_is_refused(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        # Named and labelled as a PDF; the bytes say otherwise.
        response = await upload_pod(
            harness, trip.driver, trip.shipment_id, otp=code, content=b"GIF89a fake pdf"
        )
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
        assert response.json()["details"]["field"] == "file"
        empty = await upload_pod(harness, trip.driver, trip.shipment_id, otp=code, content=b"")
        assert (empty.status_code, empty.json()["details"]["field"]) == (400, "file")
        await _assert_untouched(harness, trip.shipment_id)

    @pytest.mark.parametrize(
        "value",
        [
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-01-15T10:00:00",
            "0001-01-01T00:00:00+05:30",  # not convertible to UTC: refused, never stored
        ],
    )
    async def test_a_bad_metadata_timestamp_is_refused(self, harness: Harness, value: str) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        response = await upload_pod(
            harness, trip.driver, trip.shipment_id, otp=code, metadata_timestamp=value
        )
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
        assert response.json()["details"]["field"] == "metadataTimestamp"
        await _assert_untouched(harness, trip.shipment_id)

    async def test_an_unknown_shipment_is_not_found(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        response = await upload_pod(harness, trip.driver, "SH-01ARZ3NDEKTSV4RRFFQ69G5FAV", otp=code)
        assert response.status_code == 404


class TestIllegalState:
    @pytest.mark.parametrize(
        "status", [ShipmentStatus.APPROVED, ShipmentStatus.DRIVER_PENDING_APPROVAL, ShipmentStatus.COMPLETED]
    )
    async def test_only_an_en_route_shipment_takes_a_pod(
        self, harness: Harness, status: ShipmentStatus
    ) -> None:
        trip, code = await trip_with_otp(harness, status=status)
        assert trip.driver is not None
        before = await shipment_row(harness, trip.shipment_id)
        response = await upload_pod(harness, trip.driver, trip.shipment_id, otp=code)
        assert (response.status_code, response.json()["code"]) == (409, "INVALID_STATE")
        retry = await complete(harness, trip.driver, trip.shipment_id, otp=code)
        assert (retry.status_code, retry.json()["code"]) == (409, "INVALID_STATE")
        assert await shipment_row(harness, trip.shipment_id) == before
        assert await pod_rows(harness, trip.shipment_id) == []
        otp = await otp_row(harness, trip.shipment_id)
        assert (otp["attempts"], otp["consumed_at"]) == (0, None)

    async def test_the_retry_needs_a_stored_pod(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        response = await complete(harness, trip.driver, trip.shipment_id, otp=code)
        assert (response.status_code, response.json()["code"]) == (409, "POD_REQUIRED")
        await _assert_untouched(harness, trip.shipment_id)

    async def test_a_completed_shipment_cannot_complete_again(self, harness: Harness) -> None:
        trip, code = await trip_with_otp(harness)
        assert trip.driver is not None
        assert (await upload_pod(harness, trip.driver, trip.shipment_id, otp=code)).status_code == 201
        before = await shipment_row(harness, trip.shipment_id)
        again = await upload_pod(harness, trip.driver, trip.shipment_id, otp=code)
        assert (again.status_code, again.json()["code"]) == (409, "INVALID_STATE")
        assert await shipment_row(harness, trip.shipment_id) == before
        assert len(await pod_rows(harness, trip.shipment_id)) == 1
        assert len(await audit_rows(harness, trip.shipment_id, "shipment.completed")) == 1


async def _assert_untouched(harness: Harness, shipment_id: str) -> None:
    row = await shipment_row(harness, shipment_id)
    assert (row["status"], row["completed_at"]) == ("IN_TRANSIT", None)
    otp = await otp_row(harness, shipment_id)
    assert (otp["attempts"], otp["locked_at"], otp["consumed_at"]) == (0, None, None)
    assert await pod_rows(harness, shipment_id) == []
    assert await audit_rows(harness, shipment_id) == []
