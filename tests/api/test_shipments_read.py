"""Reading shipments (PRODUCT §6 "Shipment"): who sees which, the fields (FROZEN derived from an
active freeze or block, the stored state in `workflowStatus`, never the OTP; why it is frozen
for admins only), the status filter on the stored state and pagination."""

from __future__ import annotations

from datetime import datetime

import pytest

from rodistaa.core.roles import Role
from rodistaa.shipments.status import ShipmentStatus
from tests.api.booking_flows import DELHI, MUMBAI, session_with_role
from tests.api.flows import admin_session
from tests.api.freight_setup import seeded_trip, verified_user
from tests.api.shipment_flows import acs_block_shipment, acs_freeze, assert_error, get, post, start
from tests.conftest import Harness

NON_PARTY_ROLES = [Role.KYC_ADMIN, Role.FRANCHISE_UNIT, Role.FRANCHISE_DISTRICT]
# Every field of a shipment: the OTP is never one of them.
SHIPMENT_FIELDS = {
    "id", "bookingId", "status", "workflowStatus", "frozenReason", "shipperId", "operatorId",
    "driverId", "truckId", "agreedPrice", "pickup", "drop", "goods", "tonnage", "distanceKm",
    "breakdown", "otpIssued", "driverApprovedAt", "startedAt", "completedAt", "cancelledAt",
    "cancelReason", "cancelledBy", "createdAt", "updatedAt",
}  # fmt: skip


class TestGetShipment:
    async def test_each_party_and_admins_read_every_field(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=ShipmentStatus.APPROVED, agreed_price_paise=15_000_050)
        assert trip.driver is not None
        for session in (trip.shipper, trip.operator, trip.driver, admin):
            response = await get(harness, session, f"/shipments/{trip.shipment_id}")
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["id"], body["bookingId"]) == (trip.shipment_id, trip.booking_id)
            assert (body["status"], body["workflowStatus"], body["frozenReason"]) == (
                "APPROVED",
                "APPROVED",
                None,
            )
            assert (body["shipperId"], body["operatorId"]) == (trip.shipper.user_id, trip.operator.user_id)
            assert (body["driverId"], body["truckId"]) == (trip.driver.user_id, trip.truck_id)
            assert body["agreedPrice"] == 150000.5
            assert (body["pickup"], body["drop"]) == (MUMBAI, DELHI)
            assert (body["goods"], body["tonnage"], body["distanceKm"]) == ({"type": "Cement"}, 5.0, 1491.58)
            assert (body["breakdown"], body["otpIssued"], body["startedAt"], body["completedAt"]) == (
                None,
                False,
                None,
                None,
            )
            assert datetime.fromisoformat(body["createdAt"]) == harness.clock.now()
            assert set(body) == SHIPMENT_FIELDS

    async def test_otp_issued_is_a_flag_never_the_code(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=ShipmentStatus.APPROVED)
        assert trip.driver is not None
        assert (await start(harness, trip.driver, trip.shipment_id)).status_code == 200
        code = (await get(harness, trip.shipper, f"/shipments/{trip.shipment_id}/otp")).json()["otp"]
        for session in (trip.shipper, trip.operator, trip.driver):
            body = (await get(harness, session, f"/shipments/{trip.shipment_id}")).json()
            assert body["otpIssued"] is True
            assert code not in (await get(harness, session, f"/shipments/{trip.shipment_id}")).text

    async def test_frozen_shows_frozen_and_the_stored_state_and_the_reason_to_admins_only(
        self, harness: Harness
    ) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=ShipmentStatus.IN_TRANSIT)
        assert trip.driver is not None
        await acs_freeze(harness, trip.shipment_id, "GPS_SPOOF", "RF06_GPS_SPOOF_SIGNATURE")
        harness.clock.advance(seconds=1)
        await acs_block_shipment(harness, trip.shipment_id, "OTP_BRUTE_FORCE")
        shown = {}
        for session in (trip.shipper, trip.operator, trip.driver, admin):
            response = await get(harness, session, f"/shipments/{trip.shipment_id}")
            body = response.json()
            shown[session.user_id] = (body["status"], body["workflowStatus"], body["frozenReason"])
            if session is not admin:
                assert "GPS_SPOOF" not in response.text and "OTP_BRUTE_FORCE" not in response.text
        assert shown == {
            trip.shipper.user_id: ("FROZEN", "IN_TRANSIT", None),
            trip.operator.user_id: ("FROZEN", "IN_TRANSIT", None),
            trip.driver.user_id: ("FROZEN", "IN_TRANSIT", None),
            admin.user_id: ("FROZEN", "IN_TRANSIT", "GPS_SPOOF"),  # the oldest hold
        }

    async def test_a_shipment_block_alone_freezes(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=ShipmentStatus.OTP_PENDING)
        await acs_block_shipment(harness, trip.shipment_id)
        body = (await get(harness, trip.operator, f"/shipments/{trip.shipment_id}")).json()
        assert (body["status"], body["workflowStatus"], body["frozenReason"]) == (
            "FROZEN",
            "OTP_PENDING",
            None,
        )
        body = (await get(harness, admin, f"/shipments/{trip.shipment_id}")).json()
        assert (body["status"], body["frozenReason"]) == ("FROZEN", "OTP_BRUTE_FORCE")

    async def test_an_admins_freeze_text_stays_with_admins(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        trip = await seeded_trip(harness, status=ShipmentStatus.APPROVED)
        reason = "Suspected collusion with the consignee"
        response = await post(
            harness, admin, f"/admin/shipments/{trip.shipment_id}/freeze", {"reason": reason}
        )
        assert response.json()["frozenReason"] == reason
        for session in (trip.shipper, trip.operator):
            one = await get(harness, session, f"/shipments/{trip.shipment_id}")
            listed = await get(harness, session, "/shipments")
            assert (one.json()["status"], one.json()["frozenReason"]) == ("FROZEN", None)
            assert [(s["status"], s["frozenReason"]) for s in listed.json()["data"]] == [("FROZEN", None)]
            assert "collusion" not in one.text + listed.text
        listed = (await get(harness, admin, "/shipments")).json()["data"]
        assert [(s["status"], s["frozenReason"]) for s in listed] == [("FROZEN", reason)]

    async def test_outsiders_get_404(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=ShipmentStatus.APPROVED)
        other = await seeded_trip(harness, status=ShipmentStatus.APPROVED)
        assert other.driver is not None
        for session in (other.shipper, other.operator, other.driver):
            assert_error(await get(harness, session, f"/shipments/{trip.shipment_id}"), 404, "NOT_FOUND")
        admin = await admin_session(harness)
        assert_error(await get(harness, admin, "/shipments/SH-01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "NOT_FOUND")

    @pytest.mark.parametrize("role", NON_PARTY_ROLES)
    async def test_other_roles_are_forbidden(self, harness: Harness, role: Role) -> None:
        trip = await seeded_trip(harness, status=ShipmentStatus.ASSIGNED)
        session = await session_with_role(harness, role)
        assert_error(await get(harness, session, f"/shipments/{trip.shipment_id}"), 403, "FORBIDDEN")
        assert_error(await get(harness, session, "/shipments"), 403, "FORBIDDEN")

    async def test_unauthenticated_is_401(self, harness: Harness) -> None:
        trip = await seeded_trip(harness, status=ShipmentStatus.ASSIGNED)
        assert (await harness.client.get(f"/v1/shipments/{trip.shipment_id}")).status_code == 401


class TestListShipments:
    async def test_each_role_lists_what_it_may_newest_first(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await verified_user(harness, Role.OPERATOR)
        first = await seeded_trip(
            harness, status=ShipmentStatus.IN_TRANSIT, shipper=shipper, operator=operator
        )
        harness.clock.advance(seconds=5)
        second = await seeded_trip(harness, status=ShipmentStatus.ASSIGNED, shipper=shipper)
        harness.clock.advance(seconds=5)
        third = await seeded_trip(harness, status=ShipmentStatus.APPROVED, operator=operator)
        assert first.driver is not None

        async def ids(session: object, **params: object) -> list[str]:
            response = await get(harness, session, "/shipments", **params)  # type: ignore[arg-type]
            assert response.status_code == 200, response.text
            return [s["id"] for s in response.json()["data"]]

        assert await ids(shipper) == [second.shipment_id, first.shipment_id]
        assert await ids(operator) == [third.shipment_id, first.shipment_id]
        assert await ids(first.driver) == [first.shipment_id]
        assert await ids(admin) == [third.shipment_id, second.shipment_id, first.shipment_id]

    async def test_status_filters_the_stored_state_even_when_frozen(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        moving = await seeded_trip(harness, status=ShipmentStatus.IN_TRANSIT)
        frozen = await seeded_trip(harness, status=ShipmentStatus.IN_TRANSIT)
        await seeded_trip(harness, status=ShipmentStatus.ASSIGNED)
        await acs_freeze(harness, frozen.shipment_id)
        body = (await get(harness, admin, "/shipments", status="IN_TRANSIT")).json()
        statuses = {s["id"]: (s["status"], s["workflowStatus"]) for s in body["data"]}
        assert statuses == {
            moving.shipment_id: ("IN_TRANSIT", "IN_TRANSIT"),
            frozen.shipment_id: ("FROZEN", "IN_TRANSIT"),
        }
        assert body["meta"]["total"] == 2

    async def test_a_filter_never_widens_what_the_caller_sees(self, harness: Harness) -> None:
        mine = await seeded_trip(harness, status=ShipmentStatus.ASSIGNED)
        await seeded_trip(harness, status=ShipmentStatus.ASSIGNED)
        body = (await get(harness, mine.shipper, "/shipments", status="ASSIGNED")).json()
        assert [s["id"] for s in body["data"]] == [mine.shipment_id]

    async def test_pagination(self, harness: Harness) -> None:
        operator = await verified_user(harness, Role.OPERATOR)
        created = []
        for _ in range(3):
            created.append(
                (await seeded_trip(harness, status=ShipmentStatus.ASSIGNED, operator=operator)).shipment_id
            )
            harness.clock.advance(seconds=1)
        body = (await get(harness, operator, "/shipments", page=2, pageSize=2)).json()
        assert [s["id"] for s in body["data"]] == [created[0]]
        assert body["meta"] == {"page": 2, "pageSize": 2, "total": 3, "totalPages": 2}

    @pytest.mark.parametrize(
        "params", [{"status": "FROZEN"}, {"status": "MOVING"}, {"pageSize": 101}, {"page": 0}]
    )
    async def test_bad_query_is_400(self, harness: Harness, params: dict[str, object]) -> None:
        admin = await admin_session(harness)
        assert_error(await get(harness, admin, "/shipments", **params), 400, "VALIDATION_ERROR")
