"""Modifying, withdrawing and reading bids (PRODUCT §6 "Bidding"), and what a booking's
cancellation does to its bids: own ACTIVE bids only, conditional claims (409 and nothing
changed otherwise), no new fee and no refund, sealed bidding on reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from rodistaa.bids.tables import bids
from rodistaa.core.roles import Role
from tests.api.bid_flows import (
    STANDARD_FEE_PAISE,
    all_entries,
    assert_error,
    audit_api,
    bid_row,
    booking_status,
    expected_alias,
    funded_operator,
    inbox,
    modify_bid,
    place_bid,
    post_bid,
    seed_booking,
    stored_balance,
    withdraw_bid,
)
from tests.api.booking_flows import cancel_booking, session_with_role
from tests.api.flows import Session, admin_session
from tests.api.freight_setup import active_fleet_truck, verified_user
from tests.conftest import Harness

SECOND_ADMIN_MOBILE = "+919000000071"  # `three_bids` already signed the default admin up
OTHER_ROLES = [Role.SHIPPER, Role.DRIVER, Role.ADMIN, Role.KYC_ADMIN]


async def one_bid(h: Harness, **booking: Any) -> tuple[Session, Session, str, dict[str, Any]]:
    shipper = await verified_user(h, Role.SHIPPER)
    operator = await funded_operator(h)
    booking_id = await seed_booking(h, shipper.user_id, **booking)
    return shipper, operator, booking_id, await place_bid(h, operator, booking_id, 12_000)


async def set_bid_status(h: Harness, bid_id: str, status: str) -> None:
    """Finalization arrives with its own issue; until then tests move a bid's state here."""
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(update(bids).where(bids.c.id == bid_id).values(status=status))


async def session_for(h: Harness, role: Role, shipper: Session) -> Session:
    return shipper if role is Role.SHIPPER else await session_with_role(h, role)


class TestModify:
    async def test_the_owner_changes_the_amount_without_a_new_fee(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        _, operator, _, bid = await one_bid(harness)
        entries = await all_entries(harness, operator.user_id)
        harness.clock.advance(minutes=2)
        response = await modify_bid(harness, operator, bid["id"], 11_500.25)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["amount"], body["fee"], body["modificationCount"], body["status"]) == (
            11_500.25,
            175.0,
            1,
            "ACTIVE",
        )
        assert body["createdAt"] == bid["createdAt"]
        assert datetime.fromisoformat(body["updatedAt"]) == harness.clock.now()
        row = await bid_row(harness, bid["id"])
        assert (row["amount_paise"], row["modification_count"], row["fee_paise"]) == (1_150_025, 1, 17_500)
        assert await all_entries(harness, operator.user_id) == entries
        [entry] = await audit_api(harness, admin, action="bid.modified", entityId=bid["id"])
        assert {
            k: entry["metadata"][k] for k in ("previousAmountPaise", "amountPaise", "modificationCount")
        } == {
            "previousAmountPaise": 1_200_000,
            "amountPaise": 1_150_025,
            "modificationCount": 1,
        }

    async def test_notes_cannot_be_changed(self, harness: Harness) -> None:
        _, operator, _, bid = await one_bid(harness)
        response = await harness.client.patch(
            f"/v1/bids/{bid['id']}", json={"amount": 11_000, "notes": "new"}, headers=operator.headers
        )
        assert "notes" in str(assert_error(response, 400, "VALIDATION_ERROR")["details"])
        assert (await bid_row(harness, bid["id"]))["amount_paise"] == 1_200_000

    @pytest.mark.parametrize("amount", [0, -5, 12_000.123, "cheap"])
    async def test_a_bad_amount_is_400(self, harness: Harness, amount: Any) -> None:
        _, operator, _, bid = await one_bid(harness)
        assert_error(await modify_bid(harness, operator, bid["id"], amount), 400, "VALIDATION_ERROR")
        assert (await bid_row(harness, bid["id"]))["modification_count"] == 0

    async def test_outside_the_range_is_422(self, harness: Harness) -> None:
        _, operator, _, bid = await one_bid(harness)
        body = assert_error(
            await modify_bid(harness, operator, bid["id"], 20_000.01), 422, "BID_OUT_OF_RANGE"
        )
        assert body["details"] == {"field": "amount", "min": 5_000.0, "max": 20_000.0}
        assert (await bid_row(harness, bid["id"]))["amount_paise"] == 1_200_000

    async def test_another_operators_bid_is_404(self, harness: Harness) -> None:
        _, _, _, bid = await one_bid(harness)
        other = await funded_operator(harness)
        assert_error(await modify_bid(harness, other, bid["id"], 11_000), 404, "NOT_FOUND")
        assert_error(
            await modify_bid(harness, other, "BK-01ARZ3NDEKTSV4RRFFQ69G5FAV", 11_000), 404, "NOT_FOUND"
        )
        assert (await bid_row(harness, bid["id"]))["amount_paise"] == 1_200_000

    @pytest.mark.parametrize("role", OTHER_ROLES)
    async def test_other_roles_are_403(self, harness: Harness, role: Role) -> None:
        shipper, _, _, bid = await one_bid(harness)
        session = await session_for(harness, role, shipper)
        assert_error(await modify_bid(harness, session, bid["id"], 11_000), 403, "FORBIDDEN")
        assert (await bid_row(harness, bid["id"]))["amount_paise"] == 1_200_000

    @pytest.mark.parametrize("status", ["WITHDRAWN", "REJECTED", "ACCEPTED", "EXPIRED"])
    async def test_a_bid_that_is_not_active_is_409(self, harness: Harness, status: str) -> None:
        _, operator, _, bid = await one_bid(harness)
        await set_bid_status(harness, bid["id"], status)
        assert_error(await modify_bid(harness, operator, bid["id"], 11_000), 409, "INVALID_STATE")
        row = await bid_row(harness, bid["id"])
        assert (row["status"], row["amount_paise"], row["modification_count"]) == (status, 1_200_000, 0)

    async def test_no_modification_after_the_deadline(self, harness: Harness) -> None:
        _, operator, _, bid = await one_bid(harness, window=timedelta(minutes=5))
        harness.clock.advance(minutes=5)
        assert_error(await modify_bid(harness, operator, bid["id"], 11_000), 409, "BIDDING_CLOSED")
        assert (await bid_row(harness, bid["id"]))["amount_paise"] == 1_200_000


class TestWithdraw:
    async def test_the_owner_withdraws_without_a_refund(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        _, operator, booking_id, bid = await one_bid(harness)
        entries = await all_entries(harness, operator.user_id)
        response = await withdraw_bid(harness, operator, bid["id"])
        assert response.status_code == 200, response.text
        assert (response.json()["id"], response.json()["status"]) == (bid["id"], "WITHDRAWN")
        assert (await bid_row(harness, bid["id"]))["status"] == "WITHDRAWN"
        assert await all_entries(harness, operator.user_id) == entries
        assert await stored_balance(harness, operator.user_id) == 100_000 - STANDARD_FEE_PAISE
        assert await booking_status(harness, booking_id) == "NEGOTIATION"
        [entry] = await audit_api(harness, admin, action="bid.withdrawn", entityId=bid["id"])
        assert (entry["performedBy"], entry["metadata"]["refundedPaise"]) == (operator.user_id, 0)

    async def test_withdrawing_twice_is_409(self, harness: Harness) -> None:
        _, operator, _, bid = await one_bid(harness)
        assert (await withdraw_bid(harness, operator, bid["id"])).status_code == 200
        updated = (await bid_row(harness, bid["id"]))["updated_at"]
        harness.clock.advance(minutes=1)
        assert_error(await withdraw_bid(harness, operator, bid["id"]), 409, "INVALID_STATE")
        assert (await bid_row(harness, bid["id"]))["updated_at"] == updated

    async def test_another_operators_bid_is_404(self, harness: Harness) -> None:
        _, _, _, bid = await one_bid(harness)
        other = await funded_operator(harness)
        assert_error(await withdraw_bid(harness, other, bid["id"]), 404, "NOT_FOUND")
        assert (await bid_row(harness, bid["id"]))["status"] == "ACTIVE"

    @pytest.mark.parametrize("role", OTHER_ROLES)
    async def test_other_roles_are_403(self, harness: Harness, role: Role) -> None:
        shipper, _, _, bid = await one_bid(harness)
        session = await session_for(harness, role, shipper)
        assert_error(await withdraw_bid(harness, session, bid["id"]), 403, "FORBIDDEN")
        assert (await bid_row(harness, bid["id"]))["status"] == "ACTIVE"

    async def test_anonymous_is_401(self, harness: Harness) -> None:
        _, _, _, bid = await one_bid(harness)
        assert_error(await harness.client.delete(f"/v1/bids/{bid['id']}"), 401, "UNAUTHORIZED")

    async def test_no_withdrawal_after_the_deadline(self, harness: Harness) -> None:
        _, operator, _, bid = await one_bid(harness, window=timedelta(minutes=5))
        harness.clock.advance(minutes=6)
        assert_error(await withdraw_bid(harness, operator, bid["id"]), 409, "BIDDING_CLOSED")
        assert (await bid_row(harness, bid["id"]))["status"] == "ACTIVE"


class TestRead:
    async def three_bids(self, h: Harness) -> tuple[Session, list[Session], str, list[dict[str, Any]]]:
        shipper = await verified_user(h, Role.SHIPPER)
        admin = await admin_session(h)
        operators = [await funded_operator(h, admin=admin) for _ in range(3)]
        booking_id = await seed_booking(h, shipper.user_id)
        placed = []
        for operator, amount in zip(operators, [13_000, 12_000, 13_000], strict=True):
            placed.append(await place_bid(h, operator, booking_id, amount))
            h.clock.advance(seconds=1)
        return shipper, operators, booking_id, placed

    async def test_the_shipper_sees_every_bid_cheapest_first_without_fees(self, harness: Harness) -> None:
        shipper, _, booking_id, placed = await self.three_bids(harness)
        response = await harness.client.get(f"/v1/bookings/{booking_id}/bids", headers=shipper.headers)
        assert response.status_code == 200, response.text
        listed = response.json()
        # amount ASC, then createdAt ASC: the two ₹13,000 bids in the order they were placed.
        assert [b["id"] for b in listed] == [placed[1]["id"], placed[0]["id"], placed[2]["id"]]
        assert all("fee" not in b for b in listed)

    async def test_the_shipper_sees_the_operator_masked(self, harness: Harness) -> None:
        """PRODUCT §1: no operator id and no truck id (it embeds the registration) for the
        shipper, but an alias stable within the booking and unlinkable across bookings."""
        shipper = await verified_user(harness, Role.SHIPPER)
        operator, rival = await funded_operator(harness), await funded_operator(harness)
        truck_id = await active_fleet_truck(harness, operator.user_id)
        first, second = [await seed_booking(harness, shipper.user_id) for _ in range(2)]
        on_first = await place_bid(harness, operator, first, 12_000, truckId=truck_id)
        rival_bid = await place_bid(harness, rival, first, 12_500)
        on_second = await place_bid(harness, operator, second, 12_000)

        listed = (await harness.client.get(f"/v1/bookings/{first}/bids", headers=shipper.headers)).json()
        one = (await harness.client.get(f"/v1/bids/{on_first['id']}", headers=shipper.headers)).json()
        other = (await harness.client.get(f"/v1/bids/{on_second['id']}", headers=shipper.headers)).json()

        for shown in [*listed, one, other]:
            assert not {"operatorId", "truckId", "fee"} & shown.keys(), shown
            assert operator.user_id not in str(shown) and truck_id not in str(shown)
        assert one["operatorAlias"] == expected_alias(first, operator.user_id)
        assert [b["operatorAlias"] for b in listed] == [
            one["operatorAlias"],
            expected_alias(first, rival.user_id),
        ]
        assert listed[0] == one  # the list and the single read agree
        assert one["operatorAlias"] != listed[1]["operatorAlias"]
        assert other["operatorAlias"] == expected_alias(second, operator.user_id) != one["operatorAlias"]
        # The operator itself and admins keep the id; nobody else gets an alias.
        own = (await harness.client.get(f"/v1/bids/{on_first['id']}", headers=operator.headers)).json()
        assert (own["operatorId"], own["truckId"], "operatorAlias" in own) == (
            operator.user_id,
            truck_id,
            False,
        )
        assert "operatorAlias" not in on_first and on_first["operatorId"] == operator.user_id
        admin = await admin_session(harness, SECOND_ADMIN_MOBILE)
        seen = (await harness.client.get(f"/v1/bids/{rival_bid['id']}", headers=admin.headers)).json()
        assert (seen["operatorId"], seen["truckId"], "operatorAlias" in seen) == (rival.user_id, None, False)

    async def test_an_operator_sees_only_its_own_bid(self, harness: Harness) -> None:
        _, operators, booking_id, placed = await self.three_bids(harness)
        response = await harness.client.get(f"/v1/bookings/{booking_id}/bids", headers=operators[0].headers)
        assert [(b["id"], b["fee"]) for b in response.json()] == [(placed[0]["id"], 175.0)]
        stranger = await funded_operator(harness)
        response = await harness.client.get(f"/v1/bookings/{booking_id}/bids", headers=stranger.headers)
        assert (response.status_code, response.json()) == (200, [])

    async def test_an_admin_sees_all_with_fees_and_may_filter(self, harness: Harness) -> None:
        _, operators, booking_id, placed = await self.three_bids(harness)
        assert (await withdraw_bid(harness, operators[1], placed[1]["id"])).status_code == 200
        admin = await admin_session(harness, SECOND_ADMIN_MOBILE)
        listed = (await harness.client.get(f"/v1/bookings/{booking_id}/bids", headers=admin.headers)).json()
        assert len(listed) == 3 and all(b["fee"] == 175.0 for b in listed)
        active = await harness.client.get(
            f"/v1/bookings/{booking_id}/bids", params={"status": "ACTIVE"}, headers=admin.headers
        )
        assert [b["id"] for b in active.json()] == [placed[0]["id"], placed[2]["id"]]

    async def test_another_shipper_gets_404_and_other_roles_403(self, harness: Harness) -> None:
        _, _, booking_id, _ = await self.three_bids(harness)
        other_shipper = await verified_user(harness, Role.SHIPPER)
        url = f"/v1/bookings/{booking_id}/bids"
        assert_error(await harness.client.get(url, headers=other_shipper.headers), 404, "NOT_FOUND")
        driver = await session_with_role(harness, Role.DRIVER)
        assert_error(await harness.client.get(url, headers=driver.headers), 403, "FORBIDDEN")
        assert_error(await harness.client.get(url), 401, "UNAUTHORIZED")

    async def test_get_one_bid(self, harness: Harness) -> None:
        shipper, operators, _, placed = await self.three_bids(harness)
        url = f"/v1/bids/{placed[0]['id']}"
        own = await harness.client.get(url, headers=operators[0].headers)
        assert (own.status_code, own.json()["fee"], own.json()["amount"]) == (200, 175.0, 13_000.0)
        seen = await harness.client.get(url, headers=shipper.headers)
        assert seen.status_code == 200 and "fee" not in seen.json()
        assert_error(await harness.client.get(url, headers=operators[1].headers), 404, "NOT_FOUND")
        other_shipper = await verified_user(harness, Role.SHIPPER)
        assert_error(await harness.client.get(url, headers=other_shipper.headers), 404, "NOT_FOUND")
        driver = await session_with_role(harness, Role.DRIVER)
        assert_error(await harness.client.get(url, headers=driver.headers), 403, "FORBIDDEN")

    async def test_list_own_bids_newest_first_with_a_status_filter(self, harness: Harness) -> None:
        shipper = await verified_user(harness, Role.SHIPPER)
        operator = await funded_operator(harness)
        bookings = [await seed_booking(harness, shipper.user_id) for _ in range(3)]
        placed = []
        for booking_id in bookings:
            placed.append(await place_bid(harness, operator, booking_id))
            harness.clock.advance(seconds=1)
        assert (await withdraw_bid(harness, operator, placed[0]["id"])).status_code == 200
        other = await funded_operator(harness)
        await place_bid(harness, other, bookings[0])
        response = await harness.client.get("/v1/bids", params={"pageSize": 2}, headers=operator.headers)
        body = response.json()
        assert [b["id"] for b in body["data"]] == [placed[2]["id"], placed[1]["id"]]
        assert body["meta"] == {"page": 1, "pageSize": 2, "total": 3, "totalPages": 2}
        withdrawn = await harness.client.get(
            "/v1/bids", params={"status": "WITHDRAWN"}, headers=operator.headers
        )
        assert [b["id"] for b in withdrawn.json()["data"]] == [placed[0]["id"]]
        admin = await admin_session(harness)
        assert (await harness.client.get("/v1/bids", headers=admin.headers)).json()["meta"]["total"] == 4
        assert_error(await harness.client.get("/v1/bids", headers=shipper.headers), 403, "FORBIDDEN")
        bad = await harness.client.get("/v1/bids", params={"status": "LOST"}, headers=operator.headers)
        assert_error(bad, 400, "VALIDATION_ERROR")


class TestCancellationRejectsBids:
    async def test_every_active_bid_is_rejected_without_refund(self, harness: Harness) -> None:
        admin = await admin_session(harness)
        shipper = await verified_user(harness, Role.SHIPPER)
        first, second, third = [await funded_operator(harness, admin=admin) for _ in range(3)]
        booking_id = await seed_booking(harness, shipper.user_id)
        placed = [await place_bid(harness, op, booking_id) for op in (first, second, third)]
        assert (await withdraw_bid(harness, third, placed[2]["id"])).status_code == 200
        response = await cancel_booking(harness, shipper, booking_id)
        assert response.status_code == 200, response.text
        assert [(await bid_row(harness, b["id"]))["status"] for b in placed] == [
            "REJECTED",
            "REJECTED",
            "WITHDRAWN",
        ]
        for operator in (first, second, third):
            assert await stored_balance(harness, operator.user_id) == 100_000 - STANDARD_FEE_PAISE
        [entry] = await audit_api(harness, admin, action="booking.cancelled", entityId=booking_id)
        assert (entry["metadata"]["from"], entry["metadata"]["rejectedBids"]) == ("NEGOTIATION", 2)
        assert await inbox(harness, first.user_id) == [
            f"Your bid {placed[0]['id']} on booking {booking_id} was rejected: the booking was cancelled"
            " (fee not refunded)."
        ]
        assert await inbox(harness, third.user_id) == []
        assert_error(await post_bid(harness, third, booking_id), 404, "NOT_FOUND")
