"""What approved overrides do: a ledger adjustment in the ledger and the audit log, lifted
freezes and suspensions, a truck leaving its sticky BLOCKED status, and one execution when
admins approve concurrently."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import select

from rodistaa.core.roles import Role
from rodistaa.fleet.tables import trucks
from rodistaa.ledger.tables import ledger_entries
from rodistaa.shipments.status import ShipmentStatus
from tests.api.acs_setup import insert_block
from tests.api.bid_flows import audit_api
from tests.api.freight_setup import active_fleet_truck, seeded_trip, verified_user
from tests.api.ledger_flows import fund_operator
from tests.conftest import Harness
from tests.overrides.flows import (
    approve,
    assert_error,
    audit_rows,
    block_row,
    code_now,
    enrol,
    freeze_row,
    insert_freeze,
    insert_suspension,
    override_row,
    request_override,
    requested,
    suspension_row,
    user_session,
)


@pytest.fixture
async def h(harness: Harness) -> Harness:
    return harness


async def adjustment_entries(h: Harness, operator_id: str) -> list[dict[str, object]]:
    async with h.app.state.services.db.read() as conn:
        query = select(ledger_entries).where(
            ledger_entries.c.operator_id == operator_id, ledger_entries.c.type == "ADJUSTMENT"
        )
        return [dict(r) for r in (await conn.execute(query)).mappings()]


class TestLedgerAdjustment:
    async def test_approved_adjustment_is_in_the_ledger_and_the_audit_log(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        secret = await enrol(h, approver)
        operator = await verified_user(h, Role.OPERATOR)
        await fund_operator(h, operator.user_id, 100)
        override = await requested(
            h,
            requester,
            entityType="operator",
            entityId=operator.user_id,
            action="LEDGER_ADJUSTMENT",
            reason="Refund of a double fee",
            justification="Ticket T-1",
            params={"amount": -40.5},
        )
        assert override["critical"] is True and override["params"] == {"amount": -40.5}
        assert_error(
            await approve(h, approver, override["id"]), 403, "OVERRIDE_REQUIRES_2FA_AND_JUSTIFICATION"
        )
        assert await adjustment_entries(h, operator.user_id) == []

        response = await approve(h, approver, override["id"], totpCode=code_now(h, secret))
        assert response.status_code == 200, response.text

        listed = await h.client.get(
            "/v1/ledger/transactions", params={"operatorId": operator.user_id}, headers=approver.headers
        )
        assert listed.status_code == 200, listed.text
        newest = listed.json()["data"][0]
        assert newest["type"] == "DEBIT" and newest["amount"] == 40.5
        (entry,) = await adjustment_entries(h, operator.user_id)
        assert entry["amount_paise"] == -4050 and entry["reference_id"] == override["id"]
        assert entry["balance_after_paise"] == 10_000 - 4050 and entry["created_by"] == approver.user_id

        audited = await audit_api(h, approver, entityId=override["id"])
        executed = [a for a in audited if a["action"] == "override.executed"]
        assert len(executed) == 1
        (ledger_audit,) = await audit_rows(h, str(entry["id"]), "ledger.entry")
        assert (
            ledger_audit["data"]["amountPaise"] == -4050
            and ledger_audit["data"]["referenceId"] == override["id"]
        )
        (own,) = await audit_rows(h, override["id"], "override.executed")
        assert own["data"]["ledgerEntryId"] == entry["id"] and own["data"]["amountPaise"] == -4050

    async def test_a_debit_beyond_the_balance_rolls_back_and_stays_pending(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        secret = await enrol(h, approver)
        operator = await verified_user(h, Role.OPERATOR)
        await fund_operator(h, operator.user_id, 10)
        override = await requested(
            h,
            requester,
            entityType="operator",
            entityId=operator.user_id,
            action="LEDGER_ADJUSTMENT",
            reason="x",
            justification="y",
            params={"amount": -11},
        )
        response = await approve(h, approver, override["id"], totpCode=code_now(h, secret))
        assert response.status_code == 422, response.text
        row = await override_row(h, override["id"])
        assert row["status"] == "PENDING" and row["decided_by"] is None
        assert await adjustment_entries(h, operator.user_id) == []
        assert await audit_rows(h, override["id"], "override.executed") == []

    async def test_concurrent_approvals_execute_once(self, h: Harness) -> None:
        requester = await user_session(h, Role.ADMIN)
        approvers = [await user_session(h, Role.ADMIN) for _ in range(6)]
        secrets = [await enrol(h, a) for a in approvers]
        operator = await verified_user(h, Role.OPERATOR)
        override = await requested(
            h,
            requester,
            entityType="operator",
            entityId=operator.user_id,
            action="LEDGER_ADJUSTMENT",
            reason="x",
            justification="y",
            params={"amount": 25},
        )
        responses = await asyncio.gather(
            *(
                approve(h, a, override["id"], totpCode=code_now(h, s))
                for a, s in zip(approvers, secrets, strict=True)
            )
        )
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1, 409: 5}, [r.text for r in responses]
        (entry,) = await adjustment_entries(h, operator.user_id)
        assert entry["amount_paise"] == 2500
        assert len(await audit_rows(h, override["id"], "override.executed")) == 1
        winner = next(a for a, r in zip(approvers, responses, strict=True) if r.status_code == 200)
        assert (await override_row(h, override["id"]))["decided_by"] == winner.user_id


class TestLifts:
    async def test_unfreeze_lifts_the_shipments_freezes(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        secret = await enrol(h, approver)
        trip = await seeded_trip(h, status=ShipmentStatus.IN_TRANSIT)
        freeze_id = await insert_freeze(h, trip.shipment_id)  # by RF19, a critical rule
        override = await requested(
            h,
            requester,
            entityType="shipment",
            entityId=trip.shipment_id,
            action="UNFREEZE",
            reason="x",
            justification="Reviewed",
        )
        assert override["critical"] is True
        response = await approve(h, approver, override["id"], totpCode=code_now(h, secret))
        assert response.status_code == 200, response.text
        freeze = await freeze_row(h, freeze_id)
        assert freeze["lifted_at"] is not None and freeze["lifted_by"] == approver.user_id
        response = await request_override(
            h, requester, entityType="shipment", entityId=trip.shipment_id, action="UNFREEZE", reason="x"
        )
        assert_error(response, 409, "INVALID_STATE")

    async def test_unsuspend_lifts_the_accounts_suspension(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        operator = await verified_user(h, Role.OPERATOR)
        suspension_id = await insert_suspension(h, operator.user_id)
        override = await requested(
            h, requester, entityType="operator", entityId=operator.user_id, action="UNSUSPEND", reason="x"
        )
        assert override["critical"] is False
        assert (await approve(h, approver, override["id"])).status_code == 200
        assert (await suspension_row(h, suspension_id))["lifted_by"] == approver.user_id
        (entry,) = await audit_rows(h, override["id"], "override.executed")
        assert entry["data"]["liftedSuspensionIds"] == [suspension_id]

    async def test_unblocking_a_truck_recomputes_its_sticky_status(self, h: Harness) -> None:
        requester, approver = await user_session(h, Role.ADMIN), await user_session(h, Role.ADMIN)
        operator = await verified_user(h, Role.OPERATOR)
        truck_id = await active_fleet_truck(h, operator.user_id)
        block_id = await insert_block(h, "truck", truck_id)
        async with h.app.state.services.db.transaction() as conn:
            await conn.execute(trucks.update().where(trucks.c.id == truck_id).values(status="BLOCKED"))
        override = await requested(
            h, requester, entityType="truck", entityId=truck_id, action="UNBLOCK", reason="x"
        )
        assert (await approve(h, approver, override["id"])).status_code == 200
        assert (await block_row(h, block_id))["lifted_at"] is not None
        async with h.app.state.services.db.read() as conn:
            status = (await conn.execute(select(trucks.c.status).where(trucks.c.id == truck_id))).scalar()
        assert status != "BLOCKED"
        (entry,) = await audit_rows(h, override["id"], "override.executed")
        assert entry["data"]["truckStatusFrom"] == "BLOCKED" and entry["data"]["truckStatusTo"] == status
