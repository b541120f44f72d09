"""FORCE_FINALIZE and REOPEN_INSPECTION overrides: a second admin's approval finalizes the
booking (or reopens the inspection) inside the approving transaction, or nothing changes and
the override stays PENDING."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from rodistaa.bookings.tables import bookings
from rodistaa.core.roles import Role
from rodistaa.finalization.service import Finalizer
from tests.api.finalization_setup import (
    audit_for,
    bid_statuses,
    block_operator,
    booking_row,
    seed_bid,
    seeded_market,
    set_bid_status,
    shipment_rows,
)
from tests.api.test_inspections import (
    ALL_OK,
    build_scene,
    inspection_row,
    ready_inspection,
    submit,
    truck_row,
)
from tests.conftest import Harness
from tests.overrides.flows import (
    approve,
    assert_error,
    audit_rows,
    inbox,
    override_row,
    request_override,
    requested,
    user_session,
)

TWO_BIDS = [1_500_000, 1_400_000]


@pytest.fixture
async def h(harness: Harness) -> Harness:
    return harness


async def admins(h: Harness) -> tuple[Any, Any]:
    return await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)


def force_finalize(booking_id: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entityType": "booking",
        "entityId": booking_id,
        "action": "FORCE_FINALIZE",
        "reason": "Shipper unreachable; lowest bid stands",
    }
    if params:
        body["params"] = params
    return body


async def set_booking_status(h: Harness, booking_id: str, status: str) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(update(bookings).where(bookings.c.id == booking_id).values(status=status))


class TestForceFinalize:
    async def test_approval_finalizes_with_the_candidate_order(self, h: Harness) -> None:
        requester, approver = await admins(h)
        market = await seeded_market(h, TWO_BIDS)
        cheapest = market.bids[1]
        override = await requested(h, requester, **force_finalize(market.booking_id))
        assert override["status"] == "PENDING" and override["critical"] is False

        response = await approve(h, approver, override["id"])

        assert response.status_code == 200, response.text
        assert (await override_row(h, override["id"]))["status"] == "EXECUTED"
        booking = await booking_row(h, market.booking_id)
        assert booking["status"] == "FINALIZED"
        assert booking["finalize_reason"] == "Shipper unreachable; lowest bid stands"
        assert await bid_statuses(h, market.booking_id) == {
            cheapest.id: "ACCEPTED",
            market.bids[0].id: "REJECTED",
        }
        [shipment] = await shipment_rows(h, market.booking_id)
        assert shipment["bid_id"] == cheapest.id
        [finalized] = await audit_for(h, market.booking_id, "booking.finalized")
        assert finalized["actor"] == approver.user_id
        assert finalized["data"]["method"] == "admin"
        assert finalized["data"]["overrideId"] == override["id"]
        [executed] = await audit_rows(h, override["id"], "override.executed")
        assert executed["data"]["shipmentId"] == shipment["id"]
        assert executed["data"]["bidId"] == cheapest.id
        assert executed["data"]["bookingStatus"] == "FINALIZED"
        assert any(override["id"] in m for m in await inbox(h, requester.user_id))
        assert any(shipment["id"] in m for m in await inbox(h, cheapest.operator.user_id))

    async def test_a_named_bid_wins_even_if_not_the_cheapest(self, h: Harness) -> None:
        requester, approver = await admins(h)
        market = await seeded_market(h, TWO_BIDS)
        dearer = market.bids[0]
        override = await requested(h, requester, **force_finalize(market.booking_id, bidId=dearer.id))
        assert override["params"] == {"bidId": dearer.id}

        response = await approve(h, approver, override["id"])

        assert response.status_code == 200, response.text
        assert (await bid_statuses(h, market.booking_id))[dearer.id] == "ACCEPTED"
        [shipment] = await shipment_rows(h, market.booking_id)
        assert shipment["bid_id"] == dearer.id

    async def test_a_booking_finalized_meanwhile_is_409_and_the_override_stays_pending(
        self, h: Harness
    ) -> None:
        requester, approver = await admins(h)
        market = await seeded_market(h, TWO_BIDS)
        override = await requested(h, requester, **force_finalize(market.booking_id))
        await set_booking_status(h, market.booking_id, "FINALIZED")

        response = await approve(h, approver, override["id"])

        assert_error(response, 409, "INVALID_STATE")
        row = await override_row(h, override["id"])
        assert row["status"] == "PENDING" and row["decided_by"] is None
        assert await shipment_rows(h, market.booking_id) == []
        assert set((await bid_statuses(h, market.booking_id)).values()) == {"ACTIVE"}

    async def test_a_booking_finalized_after_acs_chose_rolls_the_approval_back(
        self, h: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The window between the finalizer's ACS part and the approving transaction."""
        requester, approver = await admins(h)
        market = await seeded_market(h, TWO_BIDS)
        override = await requested(h, requester, **force_finalize(market.booking_id))
        choose = Finalizer.choose

        async def choose_then_finalize(self: Finalizer, *args: Any) -> Any:
            choice = await choose(self, *args)
            await set_booking_status(h, market.booking_id, "FINALIZED")
            return choice

        monkeypatch.setattr(Finalizer, "choose", choose_then_finalize)

        response = await approve(h, approver, override["id"])

        assert_error(response, 409, "INVALID_STATE")
        assert (await override_row(h, override["id"]))["status"] == "PENDING"
        assert await shipment_rows(h, market.booking_id) == []
        assert await audit_rows(h, override["id"], "override.executed") == []
        assert set((await bid_statuses(h, market.booking_id)).values()) == {"ACTIVE"}

    async def test_a_bid_withdrawn_after_acs_chose_rolls_the_approval_back(
        self, h: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        requester, approver = await admins(h)
        market = await seeded_market(h, TWO_BIDS)
        chosen = market.bids[0]
        override = await requested(h, requester, **force_finalize(market.booking_id, bidId=chosen.id))
        choose = Finalizer.choose

        async def choose_then_withdraw(self: Finalizer, *args: Any) -> Any:
            choice = await choose(self, *args)
            await set_bid_status(h, chosen.id, "WITHDRAWN")
            return choice

        monkeypatch.setattr(Finalizer, "choose", choose_then_withdraw)

        response = await approve(h, approver, override["id"])

        assert_error(response, 409, "INVALID_STATE")
        assert (await override_row(h, override["id"]))["status"] == "PENDING"
        assert (await booking_row(h, market.booking_id))["status"] == "NEGOTIATION"
        assert await shipment_rows(h, market.booking_id) == []

    async def test_no_eligible_candidate_is_409_and_nothing_is_cancelled(self, h: Harness) -> None:
        requester, approver = await admins(h)
        market = await seeded_market(h, [1_500_000])
        override = await requested(h, requester, **force_finalize(market.booking_id))
        await block_operator(h, market.bids[0].operator)

        response = await approve(h, approver, override["id"])

        assert_error(response, 409, "NO_VALID_BIDS")
        assert response.json()["details"]["skippedBidIds"] == [market.bids[0].id]
        assert (await override_row(h, override["id"]))["status"] == "PENDING"
        booking = await booking_row(h, market.booking_id)
        assert booking["status"] == "NEGOTIATION" and booking["cancel_reason"] is None
        assert await bid_statuses(h, market.booking_id) == {market.bids[0].id: "ACTIVE"}

    async def test_an_ineligible_named_winner_is_rf14s_409(self, h: Harness) -> None:
        requester, approver = await admins(h)
        market = await seeded_market(h, TWO_BIDS)
        named = market.bids[0]
        override = await requested(h, requester, **force_finalize(market.booking_id, bidId=named.id))
        await block_operator(h, named.operator)

        response = await approve(h, approver, override["id"])

        assert_error(response, 409, "WINNER_INELIGIBLE")
        assert (await override_row(h, override["id"]))["status"] == "PENDING"
        assert (await booking_row(h, market.booking_id))["status"] == "NEGOTIATION"

    async def test_the_requester_cannot_approve(self, h: Harness) -> None:
        requester, _ = await admins(h)
        market = await seeded_market(h, TWO_BIDS)
        override = await requested(h, requester, **force_finalize(market.booking_id))

        assert_error(await approve(h, requester, override["id"]), 403, "OWN_OVERRIDE")
        assert (await override_row(h, override["id"]))["status"] == "PENDING"
        assert (await booking_row(h, market.booking_id))["status"] == "NEGOTIATION"

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.OPERATOR, Role.FRANCHISE_UNIT])
    async def test_other_roles_can_neither_request_nor_approve(self, h: Harness, role: Role) -> None:
        requester, _ = await admins(h)
        other = await user_session(h, role)
        market = await seeded_market(h, TWO_BIDS)
        override = await requested(h, requester, **force_finalize(market.booking_id))

        assert (await request_override(h, other, **force_finalize(market.booking_id))).status_code == 403
        assert (await approve(h, other, override["id"])).status_code == 403
        assert (await override_row(h, override["id"]))["status"] == "PENDING"


class TestForceFinalizeRequest:
    async def test_an_unknown_booking_is_404(self, h: Harness) -> None:
        requester, _ = await admins(h)
        response = await request_override(h, requester, **force_finalize("RID-20250101-F0000"))
        assert response.status_code == 404, response.text

    @pytest.mark.parametrize("status", ["FINALIZED", "CANCELLED"])
    async def test_a_booking_not_taking_bids_is_409(self, h: Harness, status: str) -> None:
        requester, _ = await admins(h)
        market = await seeded_market(h, TWO_BIDS)
        await set_booking_status(h, market.booking_id, status)
        assert_error(
            await request_override(h, requester, **force_finalize(market.booking_id)), 409, "INVALID_STATE"
        )

    async def test_a_bid_of_another_booking_is_400(self, h: Harness) -> None:
        requester, _ = await admins(h)
        market, other = await seeded_market(h, TWO_BIDS), await seeded_market(h, [1_200_000])
        response = await request_override(
            h, requester, **force_finalize(market.booking_id, bidId=other.bids[0].id)
        )
        assert_error(response, 400, "VALIDATION_ERROR")
        assert "params.bidId" in response.text

    async def test_a_bid_no_longer_active_is_409(self, h: Harness) -> None:
        requester, _ = await admins(h)
        market = await seeded_market(h, TWO_BIDS)
        withdrawn = await seed_bid(
            h, market.booking_id, market.bids[0].operator, amount_paise=1_300_000, status="WITHDRAWN"
        )
        response = await request_override(
            h, requester, **force_finalize(market.booking_id, bidId=withdrawn.id)
        )
        assert_error(response, 409, "INVALID_STATE")

    @pytest.mark.parametrize("params", [{"amount": 5}, {"bidId": 7}, {"bidId": ""}])
    async def test_bad_params_are_400(self, h: Harness, params: dict[str, Any]) -> None:
        requester, _ = await admins(h)
        market = await seeded_market(h, TWO_BIDS)
        body = {**force_finalize(market.booking_id), "params": params}
        assert_error(await request_override(h, requester, **body), 400, "VALIDATION_ERROR")

    async def test_only_a_booking_is_force_finalized(self, h: Harness) -> None:
        requester, _ = await admins(h)
        body = {**force_finalize("x"), "entityType": "operator", "entityId": requester.user_id}
        assert_error(await request_override(h, requester, **body), 400, "VALIDATION_ERROR")


def reopen(inspection_id: str) -> dict[str, Any]:
    return {
        "entityType": "inspection",
        "entityId": inspection_id,
        "action": "REOPEN_INSPECTION",
        "reason": "Inspector marked the brakes failed by mistake",
    }


class TestReopenInspection:
    async def test_a_failed_inspection_reopened_can_be_redone(self, h: Harness) -> None:
        requester, approver = await admins(h)
        scene = await build_scene(h)
        inspection_id = await ready_inspection(h, scene)
        failed = {**ALL_OK, "brakes": False}
        response = await submit(h, scene.unit, inspection_id, result="FAILED", checklist=failed)
        assert response.status_code == 200, response.text
        assert (await truck_row(h, scene.truck_id))["status"] != "ACTIVE"
        override = await requested(h, requester, **reopen(inspection_id))

        response = await approve(h, approver, override["id"])

        assert response.status_code == 200, response.text
        row = await inspection_row(h, inspection_id)
        assert row["status"] == "PENDING" and row["submitted_at"] is None
        [executed] = await audit_rows(h, override["id"], "override.executed")
        assert executed["data"]["inspectionStatusFrom"] == "FAILED"
        response = await submit(h, scene.unit, inspection_id, result="PASSED", checklist=ALL_OK)
        assert response.status_code == 200, response.text
        assert (await inspection_row(h, inspection_id))["status"] == "PASSED"
        assert (await truck_row(h, scene.truck_id))["status"] == "ACTIVE"

    async def test_an_acs_rejected_inspection_is_reopened_without_its_code(self, h: Harness) -> None:
        requester, approver = await admins(h)
        scene = await build_scene(h)
        inspection_id = await ready_inspection(h, scene, geo=None)
        assert (await submit(h, scene.unit, inspection_id)).status_code != 200
        assert (await inspection_row(h, inspection_id))["status"] == "REJECTED"
        override = await requested(h, requester, **reopen(inspection_id))

        assert (await approve(h, approver, override["id"])).status_code == 200

        row = await inspection_row(h, inspection_id)
        assert row["status"] == "PENDING" and row["rejection_code"] is None

    async def test_a_passed_inspection_is_not_reopened(self, h: Harness) -> None:
        requester, _ = await admins(h)
        scene = await build_scene(h)
        inspection_id = await ready_inspection(h, scene)
        assert (await submit(h, scene.unit, inspection_id)).status_code == 200
        assert_error(await request_override(h, requester, **reopen(inspection_id)), 409, "INVALID_STATE")

    async def test_a_superseded_or_pending_inspection_is_not_reopened(self, h: Harness) -> None:
        requester, _ = await admins(h)
        scene = await build_scene(h)
        first = await ready_inspection(h, scene)
        assert (
            await submit(h, scene.unit, first, result="FAILED", checklist={**ALL_OK, "body": False})
        ).status_code == 200
        h.clock.advance(seconds=60)
        second = await ready_inspection(h, scene)

        assert_error(await request_override(h, requester, **reopen(first)), 409, "INVALID_STATE")
        assert_error(await request_override(h, requester, **reopen(second)), 409, "INVALID_STATE")

    async def test_reopened_meanwhile_is_409_at_approval(self, h: Harness) -> None:
        requester, approver = await admins(h)
        scene = await build_scene(h)
        inspection_id = await ready_inspection(h, scene)
        assert (
            await submit(h, scene.unit, inspection_id, result="FAILED", checklist={**ALL_OK, "body": False})
        ).status_code == 200
        first = await requested(h, requester, **reopen(inspection_id))
        second = await requested(h, requester, **reopen(inspection_id))
        assert (await approve(h, approver, first["id"])).status_code == 200

        assert_error(await approve(h, approver, second["id"]), 409, "INVALID_STATE")
        assert (await override_row(h, second["id"]))["status"] == "PENDING"

    async def test_an_unknown_inspection_is_404(self, h: Harness) -> None:
        requester, _ = await admins(h)
        assert (await request_override(h, requester, **reopen("INS-unknown"))).status_code == 404
