"""The operator ledger through HTTP on both databases: balance and entries (own, or any
operator's for an admin), deposits recorded by an admin (validated, audited, idempotent by
external reference, one entry under concurrent duplicates), and the payment provider's signed
webhook (signature refusals, idempotency by event id under concurrent deliveries, outbox event,
cross-path duplicate payments)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping

from rodistaa.acs.tables import outbox_events
from rodistaa.core.roles import Role
from rodistaa.ledger.repo import EntryType
from rodistaa.ledger.service import debit
from rodistaa.ledger.tables import ledger_accounts, ledger_entries
from rodistaa.ledger.webhook import MAX_BODY_BYTES, sign
from tests.api.flows import Session, create_user_directly, sign_in, sign_up
from tests.api.ledger_flows import (
    WEBHOOK_SECRET,
    WEBHOOK_SETTINGS,
    deposit,
    ledger_admin_session,
    ledger_balance,
    ledger_transactions,
    payment_event,
    post_payment_event,
)
from tests.conftest import Harness, make_settings, running_app

OPERATOR_MOBILE = "+919811000001"
OTHER_OPERATOR_MOBILE = "+919811000002"
SHIPPER_MOBILE = "+919811000003"
STAFF_MOBILE = "+919811000004"
DEPOSITS = "/v1/admin/ledger/deposits"
WEBHOOK = "/v1/webhooks/payments"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(WEBHOOK_SETTINGS)


# --- helpers --------------------------------------------------------------------------------


async def operator(h: Harness, mobile: str = OPERATOR_MOBILE) -> Session:
    return await sign_up(h, mobile, role=Role.OPERATOR, name="Veer Roadlines")


async def staff(h: Harness, role: Role, mobile: str = STAFF_MOBILE) -> Session:
    if role is Role.SHIPPER:
        return await sign_up(h, mobile, role=Role.SHIPPER)
    await create_user_directly(h, mobile, role)
    return await sign_in(h, mobile)


async def entry_rows(h: Harness, operator_id: str | None = None) -> list[RowMapping]:
    query = select(ledger_entries).order_by(ledger_entries.c.created_at, ledger_entries.c.id)
    if operator_id is not None:
        query = query.where(ledger_entries.c.operator_id == operator_id)
    async with h.app.state.services.db.read() as conn:
        return list((await conn.execute(query)).mappings())


async def stored_balance(h: Harness, operator_id: str) -> int | None:
    query = select(ledger_accounts.c.balance_paise).where(ledger_accounts.c.operator_id == operator_id)
    async with h.app.state.services.db.read() as conn:
        balance: int | None = (await conn.execute(query)).scalar_one_or_none()
        return balance


async def outbox_rows(h: Harness, name: str = "payment.succeeded") -> list[RowMapping]:
    async with h.app.state.services.db.read() as conn:
        query = select(outbox_events).where(outbox_events.c.name == name)
        return list((await conn.execute(query)).mappings())


async def count_entries(h: Harness) -> int:
    async with h.app.state.services.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(ledger_entries))).scalar_one())


async def audit_of(h: Harness, admin: Session, entity_id: str) -> list[dict[str, Any]]:
    response = await h.client.get(
        "/v1/admin/audit", params={"entityId": entity_id, "action": "ledger.entry"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def fee_debit(h: Harness, operator_id: str, amount_paise: int, *, bid_id: str = "BK-TEST") -> None:
    """What the bids service does inside its own transaction."""
    services = h.app.state.services
    async with services.db.transaction() as conn:
        await debit(
            conn,
            operator_id,
            amount_paise,
            EntryType.BIDDING_FEE,
            "Bidding fee",
            "BID",
            bid_id,
            created_by=operator_id,
            now=services.clock.now(),
        )


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    return dict(response.json())


def assert_field_error(response: httpx.Response, field: str) -> None:
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert body["details"]["field"] == field, body


# --- GET /v1/ledger -------------------------------------------------------------------------


class TestBalance:
    async def test_anonymous_is_401(self, harness: Harness) -> None:
        assert_error(await harness.client.get("/v1/ledger"), 401, "UNAUTHORIZED")

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.DRIVER, Role.KYC_ADMIN, Role.FRANCHISE_UNIT])
    async def test_other_roles_are_403(self, harness: Harness, role: Role) -> None:
        session = await staff(harness, role)
        response = await harness.client.get("/v1/ledger", headers=session.headers)
        assert_error(response, 403, "FORBIDDEN")

    async def test_operator_without_entries_has_zero(self, harness: Harness) -> None:
        op = await operator(harness)
        body = await ledger_balance(harness, op)
        assert body == {"operatorId": op.user_id, "balance": 0.0, "currency": "INR", "updatedAt": None}
        assert await stored_balance(harness, op.user_id) is None

    async def test_operator_sees_own_balance_in_rupees(self, harness: Harness) -> None:
        op = await operator(harness)
        admin = await ledger_admin_session(harness)
        await deposit(harness, admin, op.user_id, 250.5)
        await deposit(harness, admin, op.user_id, 0.25)
        await fee_debit(harness, op.user_id, 6825)
        body = await ledger_balance(harness, op)
        assert body["balance"] == 182.50
        assert body["operatorId"] == op.user_id
        assert body["updatedAt"] is not None
        assert await stored_balance(harness, op.user_id) == 18250

    async def test_operator_may_name_itself(self, harness: Harness) -> None:
        op = await operator(harness)
        assert (await ledger_balance(harness, op, op.user_id))["operatorId"] == op.user_id

    async def test_another_operators_ledger_is_404(self, harness: Harness) -> None:
        op = await operator(harness)
        other = await operator(harness, OTHER_OPERATOR_MOBILE)
        await deposit(harness, await ledger_admin_session(harness), other.user_id, 100)
        response = await harness.client.get(
            "/v1/ledger", params={"operatorId": other.user_id}, headers=op.headers
        )
        assert_error(response, 404, "NOT_FOUND")

    async def test_admin_reads_any_operator(self, harness: Harness) -> None:
        op = await operator(harness)
        admin = await ledger_admin_session(harness)
        await deposit(harness, admin, op.user_id, 99.99)
        body = await ledger_balance(harness, admin, op.user_id)
        assert (body["operatorId"], body["balance"]) == (op.user_id, 99.99)

    async def test_admin_must_name_the_operator(self, harness: Harness) -> None:
        admin = await ledger_admin_session(harness)
        response = await harness.client.get("/v1/ledger", headers=admin.headers)
        assert_field_error(response, "query.operatorId")

    async def test_admin_naming_a_non_operator_is_404(self, harness: Harness) -> None:
        admin = await ledger_admin_session(harness)
        shipper = await staff(harness, Role.SHIPPER, SHIPPER_MOBILE)
        for operator_id in (shipper.user_id, "USR-OP-01ARZ3NDEKTSV4RRFFQ69G5FAV"):
            response = await harness.client.get(
                "/v1/ledger", params={"operatorId": operator_id}, headers=admin.headers
            )
            assert_error(response, 404, "NOT_FOUND")

    async def test_overlong_operator_id_is_400(self, harness: Harness) -> None:
        admin = await ledger_admin_session(harness)
        response = await harness.client.get(
            "/v1/ledger", params={"operatorId": "X" * 65}, headers=admin.headers
        )
        assert_field_error(response, "query.operatorId")


# --- GET /v1/ledger/transactions ------------------------------------------------------------


class TestTransactions:
    async def test_anonymous_is_401(self, harness: Harness) -> None:
        assert_error(await harness.client.get("/v1/ledger/transactions"), 401, "UNAUTHORIZED")

    @pytest.mark.parametrize("role", [Role.SHIPPER, Role.DRIVER, Role.KYC_ADMIN, Role.FRANCHISE_DISTRICT])
    async def test_other_roles_are_403(self, harness: Harness, role: Role) -> None:
        session = await staff(harness, role)
        response = await harness.client.get("/v1/ledger/transactions", headers=session.headers)
        assert_error(response, 403, "FORBIDDEN")

    async def test_newest_first_with_contract_fields(self, harness: Harness) -> None:
        op = await operator(harness)
        admin = await ledger_admin_session(harness)
        first = await deposit(harness, admin, op.user_id, 500, reference="UTR-FIRST")
        harness.clock.advance(minutes=1)
        await fee_debit(harness, op.user_id, 17500, bid_id="BK-ONE")
        harness.clock.advance(minutes=1)
        await fee_debit(harness, op.user_id, 6825, bid_id="BK-TWO")

        body = await ledger_transactions(harness, op)
        assert body["meta"] == {"page": 1, "pageSize": 20, "total": 3, "totalPages": 1}
        newest, middle, oldest = body["data"]
        assert newest == {
            "id": newest["id"],
            "operatorId": op.user_id,
            "type": "DEBIT",
            "entryType": "BIDDING_FEE",
            "amount": 68.25,
            "balanceAfter": 256.75,
            "currency": "INR",
            "description": "Bidding fee",
            "referenceType": "BID",
            "referenceId": "BK-TWO",
            "externalReference": None,
            "createdAt": newest["createdAt"],
        }
        assert (middle["type"], middle["amount"], middle["balanceAfter"]) == ("DEBIT", 175.0, 325.0)
        assert oldest["id"] == first["id"]
        assert (oldest["type"], oldest["entryType"], oldest["amount"]) == ("CREDIT", "DEPOSIT", 500.0)
        assert (oldest["referenceType"], oldest["externalReference"]) == ("MANUAL_DEPOSIT", "UTR-FIRST")
        assert newest["id"].startswith("LDG-")
        rows = await entry_rows(harness, op.user_id)
        assert [r["amount_paise"] for r in rows] == [50000, -17500, -6825]
        assert [r["balance_after_paise"] for r in rows] == [50000, 32500, 25675]

    async def test_pagination_and_filters(self, harness: Harness) -> None:
        op = await operator(harness)
        admin = await ledger_admin_session(harness)
        for amount in (100, 200, 300):
            await deposit(harness, admin, op.user_id, amount)
        await fee_debit(harness, op.user_id, 5000)

        page = await ledger_transactions(harness, op, page=2, pageSize=3)
        assert page["meta"] == {"page": 2, "pageSize": 3, "total": 4, "totalPages": 2}
        assert [e["amount"] for e in page["data"]] == [100.0]
        debits = await ledger_transactions(harness, op, type="DEBIT")
        assert [(e["type"], e["amount"]) for e in debits["data"]] == [("DEBIT", 50.0)]
        credits = await ledger_transactions(harness, op, type="CREDIT")
        assert [e["amount"] for e in credits["data"]] == [300.0, 200.0, 100.0]
        fees = await ledger_transactions(harness, op, entryType="BIDDING_FEE")
        assert fees["meta"]["total"] == 1

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"type": "REFUND"}, "query.type"),
            ({"entryType": "BONUS"}, "query.entryType"),
            ({"pageSize": 101}, "query.pageSize"),
            ({"page": 0}, "query.page"),
        ],
    )
    async def test_invalid_query_is_400(self, harness: Harness, params: dict[str, Any], field: str) -> None:
        op = await operator(harness)
        response = await harness.client.get("/v1/ledger/transactions", params=params, headers=op.headers)
        assert_field_error(response, field)

    async def test_operator_sees_only_own_entries(self, harness: Harness) -> None:
        op = await operator(harness)
        other = await operator(harness, OTHER_OPERATOR_MOBILE)
        admin = await ledger_admin_session(harness)
        await deposit(harness, admin, op.user_id, 10)
        await deposit(harness, admin, other.user_id, 20)
        own = await ledger_transactions(harness, op)
        assert [(e["operatorId"], e["amount"]) for e in own["data"]] == [(op.user_id, 10.0)]
        response = await harness.client.get(
            "/v1/ledger/transactions", params={"operatorId": other.user_id}, headers=op.headers
        )
        assert_error(response, 404, "NOT_FOUND")

    async def test_admin_reads_any_operators_entries(self, harness: Harness) -> None:
        op = await operator(harness)
        admin = await ledger_admin_session(harness)
        await deposit(harness, admin, op.user_id, 42)
        body = await ledger_transactions(harness, admin, operatorId=op.user_id)
        assert [(e["operatorId"], e["amount"]) for e in body["data"]] == [(op.user_id, 42.0)]
        response = await harness.client.get("/v1/ledger/transactions", headers=admin.headers)
        assert_field_error(response, "query.operatorId")


# --- POST /v1/admin/ledger/deposits ---------------------------------------------------------


class TestDeposits:
    async def test_anonymous_is_401(self, harness: Harness) -> None:
        response = await harness.client.post(
            DEPOSITS, json={"operatorId": "USR-OP-X", "amount": 1, "externalReference": "R1"}
        )
        assert_error(response, 401, "UNAUTHORIZED")

    @pytest.mark.parametrize("role", [Role.OPERATOR, Role.KYC_ADMIN, Role.SHIPPER])
    async def test_other_roles_are_403(self, harness: Harness, role: Role) -> None:
        op = await operator(harness)
        session = op if role is Role.OPERATOR else await staff(harness, role)
        body = {"operatorId": op.user_id, "amount": 100, "externalReference": "UTR-SELF"}
        response = await harness.client.post(DEPOSITS, json=body, headers=session.headers)
        assert_error(response, 403, "FORBIDDEN")
        assert await count_entries(harness) == 0

    async def test_deposit_is_credited_and_audited(self, harness: Harness) -> None:
        op = await operator(harness)
        admin = await ledger_admin_session(harness)
        body = {
            "operatorId": op.user_id,
            "amount": 1234.56,
            "externalReference": "UTR-202401150001",
            "description": "NEFT from the operator's current account",
        }
        response = await harness.client.post(DEPOSITS, json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
        entry = response.json()
        assert entry == {
            "id": entry["id"],
            "operatorId": op.user_id,
            "type": "CREDIT",
            "entryType": "DEPOSIT",
            "amount": 1234.56,
            "balanceAfter": 1234.56,
            "currency": "INR",
            "description": "NEFT from the operator's current account",
            "referenceType": "MANUAL_DEPOSIT",
            "referenceId": "UTR-202401150001",
            "externalReference": "UTR-202401150001",
            "createdAt": entry["createdAt"],
        }
        [row] = await entry_rows(harness, op.user_id)
        assert (row["id"], row["type"], row["amount_paise"], row["balance_after_paise"]) == (
            entry["id"],
            "DEPOSIT",
            123456,
            123456,
        )
        assert (row["created_by"], row["external_reference"], row["provider_event_id"]) == (
            admin.user_id,
            "UTR-202401150001",
            None,
        )
        assert await stored_balance(harness, op.user_id) == 123456

        [audit] = await audit_of(harness, admin, entry["id"])
        assert audit["performedBy"] == admin.user_id
        assert audit["entityType"] == "ledger_entry"
        assert audit["metadata"] == {
            "operatorId": op.user_id,
            "entryType": "DEPOSIT",
            "amountPaise": 123456,
            "balanceAfterPaise": 123456,
            "referenceType": "MANUAL_DEPOSIT",
            "externalReferenceSha256": hashlib.sha256(b"UTR-202401150001").hexdigest(),
        }

    async def test_default_description(self, harness: Harness) -> None:
        op = await operator(harness)
        entry = await deposit(harness, await ledger_admin_session(harness), op.user_id, 5)
        assert entry["description"] == "Deposit recorded by an admin"

    async def test_repeat_returns_the_same_entry_with_200(self, harness: Harness) -> None:
        op = await operator(harness)
        admin = await ledger_admin_session(harness)
        body = {"operatorId": op.user_id, "amount": 300, "externalReference": "UTR-REPEAT"}
        first = await harness.client.post(DEPOSITS, json=body, headers=admin.headers)
        again = await harness.client.post(DEPOSITS, json=body, headers=admin.headers)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        assert len(await entry_rows(harness, op.user_id)) == 1
        assert await stored_balance(harness, op.user_id) == 30000

    async def test_same_reference_for_another_deposit_is_409(self, harness: Harness) -> None:
        op = await operator(harness)
        other = await operator(harness, OTHER_OPERATOR_MOBILE)
        admin = await ledger_admin_session(harness)
        await deposit(harness, admin, op.user_id, 300, reference="UTR-ONCE")
        for changed in ({"amount": 301}, {"operatorId": other.user_id}):
            body = {"operatorId": op.user_id, "amount": 300, "externalReference": "UTR-ONCE", **changed}
            response = await harness.client.post(DEPOSITS, json=body, headers=admin.headers)
            details = assert_error(response, 409, "CONFLICT")["details"]
            assert details == {"field": "externalReference"}
        assert await count_entries(harness) == 1
        assert await stored_balance(harness, op.user_id) == 30000
        assert await stored_balance(harness, other.user_id) is None

    async def test_concurrent_duplicates_credit_once(self, harness: Harness) -> None:
        op = await operator(harness)
        admin = await ledger_admin_session(harness)
        body = {"operatorId": op.user_id, "amount": 750.25, "externalReference": "UTR-RACE"}
        responses = await asyncio.gather(
            *(harness.client.post(DEPOSITS, json=body, headers=admin.headers) for _ in range(10))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 9 + [201], [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        assert len(await entry_rows(harness, op.user_id)) == 1
        assert await stored_balance(harness, op.user_id) == 75025

    async def test_a_payment_the_provider_reported_is_not_recorded_twice(self, harness: Harness) -> None:
        op = await operator(harness)
        event = payment_event(op.user_id, amount_paise=4200, reference="pay_Y")
        paid = await post_payment_event(harness, event)
        assert paid.json()["outcome"] == "CREDITED", paid.text
        admin = await ledger_admin_session(harness)
        body = {"operatorId": op.user_id, "amount": 42, "externalReference": "pay_Y"}
        response = await harness.client.post(DEPOSITS, json=body, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == paid.json()["transactionId"]
        assert response.json()["referenceType"] == "PAYMENT_EVENT"
        assert len(await entry_rows(harness, op.user_id)) == 1
        assert await stored_balance(harness, op.user_id) == 4200

    async def test_amount_is_exact_in_paise(self, harness: Harness) -> None:
        op = await operator(harness)
        admin = await ledger_admin_session(harness)
        for amount in (0.1, 0.29, 1.15, 100.05, 10_000_000):
            await deposit(harness, admin, op.user_id, amount)
        rows = await entry_rows(harness, op.user_id)
        assert sorted(r["amount_paise"] for r in rows) == [10, 29, 115, 10005, 1_000_000_000]

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"amount": 10.001}, "amount"),
            ({"amount": -5}, "amount"),
            ({"amount": 0}, "amount"),
            ({"amount": 0.0}, "amount"),
            ({"amount": "100"}, "amount"),
            ({"amount": True}, "amount"),
            ({"amount": None}, "amount"),
            ({"amount": 10_000_000.01}, "amount"),
            ({"externalReference": None}, "externalReference"),
            ({"externalReference": ""}, "externalReference"),
            ({"externalReference": "   "}, "externalReference"),
            ({"externalReference": "UTR 123"}, "externalReference"),
            ({"externalReference": "R" * 129}, "externalReference"),
            ({"operatorId": None}, "operatorId"),
            ({"description": ""}, "description"),
            ({"description": "d" * 257}, "description"),
            ({"balance": 5}, "balance"),
        ],
    )
    async def test_invalid_body_is_400_and_writes_nothing(
        self, harness: Harness, changes: dict[str, Any], field: str
    ) -> None:
        op = await operator(harness)
        admin = await ledger_admin_session(harness)
        body: dict[str, Any] = {"operatorId": op.user_id, "amount": 100, "externalReference": "UTR-OK"}
        body.update(changes)
        body = {key: value for key, value in body.items() if value is not None}
        response = await harness.client.post(DEPOSITS, json=body, headers=admin.headers)
        assert_field_error(response, field)
        assert await count_entries(harness) == 0

    @pytest.mark.parametrize("who", ["unknown", "shipper", "admin"])
    async def test_operator_id_must_name_an_operator(self, harness: Harness, who: str) -> None:
        admin = await ledger_admin_session(harness)
        target = {
            "unknown": "USR-OP-01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "shipper": (await staff(harness, Role.SHIPPER, SHIPPER_MOBILE)).user_id,
            "admin": admin.user_id,
        }[who]
        body = {"operatorId": target, "amount": 100, "externalReference": "UTR-WHO"}
        response = await harness.client.post(DEPOSITS, json=body, headers=admin.headers)
        assert_field_error(response, "operatorId")
        assert await count_entries(harness) == 0


# --- POST /v1/webhooks/payments -------------------------------------------------------------


class TestPaymentWebhook:
    async def test_payment_is_credited_with_outbox_event_and_audit(self, harness: Harness) -> None:
        op = await operator(harness)
        body = payment_event(op.user_id, amount_paise=250_075, event_id="evt_1001", reference="pay_ABC123")
        response = await post_payment_event(harness, body)
        assert response.status_code == 200, response.text
        ack = response.json()
        assert (ack["received"], ack["outcome"]) == (True, "CREDITED")

        [row] = await entry_rows(harness, op.user_id)
        assert row["id"] == ack["transactionId"]
        assert (row["type"], row["amount_paise"], row["balance_after_paise"]) == ("DEPOSIT", 250_075, 250_075)
        assert (row["reference_type"], row["reference_id"], row["provider_event_id"]) == (
            "PAYMENT_EVENT",
            "evt_1001",
            "evt_1001",
        )
        assert (row["external_reference"], row["created_by"]) == ("pay_ABC123", "system:payment-provider")

        [outbox] = await outbox_rows(harness)
        assert json.loads(outbox["payload"]) == {
            "transactionId": row["id"],
            "operatorId": op.user_id,
            "amountPaise": 250_075,
            "currency": "INR",
            "providerEventId": "evt_1001",
            "reference": "pay_ABC123",
            "createdAt": row["created_at"].isoformat(),
        }
        assert outbox["published_at"] is None

        assert (await ledger_balance(harness, op))["balance"] == 2500.75
        [listed] = (await ledger_transactions(harness, op))["data"]
        assert (listed["referenceType"], listed["referenceId"]) == ("PAYMENT_EVENT", "evt_1001")
        admin = await ledger_admin_session(harness)
        [audit] = await audit_of(harness, admin, row["id"])
        assert audit["performedBy"] == "system:payment-provider"
        assert audit["metadata"]["amountPaise"] == 250_075
        assert audit["metadata"]["providerEventIdSha256"] == hashlib.sha256(b"evt_1001").hexdigest()
        assert "evt_1001" not in json.dumps(audit["metadata"])

    async def test_amount_in_rupees_is_exact(self, harness: Harness) -> None:
        op = await operator(harness)
        body = (
            b'{"id":"evt_r","type":"payment.succeeded","data":{"operatorId":"%s","amount":1234.57,'
            % (op.user_id.encode())
            + b'"currency":"INR","reference":"pay_R"}}'
        )
        response = await post_payment_event(harness, body)
        assert response.status_code == 200, response.text
        assert [r["amount_paise"] for r in await entry_rows(harness, op.user_id)] == [123457]

    async def test_repeat_delivery_writes_nothing_more(self, harness: Harness) -> None:
        op = await operator(harness)
        body = payment_event(op.user_id, amount_paise=5_000)
        first = await post_payment_event(harness, body)
        harness.clock.advance(seconds=30)
        again = await post_payment_event(harness, body)
        assert (first.status_code, again.status_code) == (200, 200)
        assert (first.json()["outcome"], again.json()["outcome"]) == ("CREDITED", "DUPLICATE")
        assert again.json()["transactionId"] == first.json()["transactionId"]
        assert len(await entry_rows(harness, op.user_id)) == 1
        assert len(await outbox_rows(harness)) == 1
        assert await stored_balance(harness, op.user_id) == 5_000

    async def test_concurrent_identical_deliveries_credit_once(self, harness: Harness) -> None:
        op = await operator(harness)
        body = payment_event(op.user_id, amount_paise=9_900)
        responses = await asyncio.gather(*(post_payment_event(harness, body) for _ in range(10)))
        assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
        outcomes = sorted(r.json()["outcome"] for r in responses)
        assert outcomes == ["CREDITED"] + ["DUPLICATE"] * 9
        assert len({r.json()["transactionId"] for r in responses}) == 1
        assert len(await entry_rows(harness, op.user_id)) == 1
        assert len(await outbox_rows(harness)) == 1
        assert await stored_balance(harness, op.user_id) == 9_900

    async def test_unknown_event_type_is_acknowledged_and_ignored(self, harness: Harness) -> None:
        op = await operator(harness)
        for body in (
            payment_event(op.user_id, event_type="payment.refunded"),
            b'{"id":"evt_x","type":"customer.updated","data":["anything"]}',
        ):
            response = await post_payment_event(harness, body)
            assert response.status_code == 200, response.text
            assert response.json() == {"received": True, "outcome": "IGNORED", "transactionId": None}
        assert await count_entries(harness) == 0
        assert await outbox_rows(harness) == []

    async def test_a_payment_an_admin_recorded_is_not_credited_twice(self, harness: Harness) -> None:
        op = await operator(harness)
        recorded = await deposit(
            harness, await ledger_admin_session(harness), op.user_id, 50, reference="pay_X1"
        )
        response = await post_payment_event(
            harness, payment_event(op.user_id, amount_paise=5000, reference="pay_X1")
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"received": True, "outcome": "DUPLICATE", "transactionId": recorded["id"]}
        clash = await post_payment_event(
            harness, payment_event(op.user_id, amount_paise=5001, reference="pay_X1")
        )
        assert assert_error(clash, 409, "CONFLICT")["details"] == {"field": "data.reference"}
        assert len(await entry_rows(harness, op.user_id)) == 1
        assert await outbox_rows(harness) == []

    async def test_bearer_token_is_not_needed_nor_enough(self, harness: Harness) -> None:
        op = await operator(harness)
        body = payment_event(op.user_id)
        response = await harness.client.post(
            WEBHOOK, content=body, headers={**op.headers, "Content-Type": "application/json"}
        )
        assert_error(response, 401, "INVALID_SIGNATURE")
        assert await count_entries(harness) == 0

    @pytest.mark.parametrize(
        ("header", "reason"),
        [
            ("", "missing"),
            ("v1=" + "0" * 64, "malformed"),
            ("t=1700000000", "malformed"),
            ("t=abc,v1=" + "0" * 64, "malformed"),
            ("t=1700000000,v1=XYZ", "malformed"),
            ("garbage", "malformed"),
            ("t=1,t=2,v1=" + "0" * 64, "malformed"),
        ],
    )
    async def test_missing_or_malformed_signature_is_401(
        self, harness: Harness, header: str, reason: str
    ) -> None:
        op = await operator(harness)
        response = await post_payment_event(harness, payment_event(op.user_id), header=header)
        assert assert_error(response, 401, "INVALID_SIGNATURE")["details"] == {"reason": reason}
        assert await count_entries(harness) == 0

    async def test_header_absent_is_401(self, harness: Harness) -> None:
        op = await operator(harness)
        response = await harness.client.post(WEBHOOK, content=payment_event(op.user_id))
        assert assert_error(response, 401, "INVALID_SIGNATURE")["details"] == {"reason": "missing"}

    async def test_wrong_secret_is_401(self, harness: Harness) -> None:
        op = await operator(harness)
        response = await post_payment_event(harness, payment_event(op.user_id), secret="not-the-secret")
        assert assert_error(response, 401, "INVALID_SIGNATURE")["details"] == {"reason": "mismatch"}
        assert await count_entries(harness) == 0

    async def test_tampered_body_is_401(self, harness: Harness) -> None:
        op = await operator(harness)
        body = payment_event(op.user_id, amount_paise=100)
        at = int(harness.clock.now().timestamp())
        header = f"t={at},v1={sign(WEBHOOK_SECRET, at, body)}"
        tampered = body.replace(b'"amountPaise": 100', b'"amountPaise": 100000')
        assert tampered != body
        response = await post_payment_event(harness, tampered, header=header)
        assert_error(response, 401, "INVALID_SIGNATURE")
        retimed = await post_payment_event(
            harness, body, header=f"t={at + 1},v1={sign(WEBHOOK_SECRET, at, body)}"
        )
        assert_error(retimed, 401, "INVALID_SIGNATURE")
        assert await count_entries(harness) == 0

    @pytest.mark.parametrize("offset_s", [-301, 301, -3600])
    async def test_stale_or_future_timestamp_is_401(self, harness: Harness, offset_s: int) -> None:
        op = await operator(harness)
        at = int(harness.clock.now().timestamp()) + offset_s
        response = await post_payment_event(harness, payment_event(op.user_id), timestamp=at)
        assert assert_error(response, 401, "INVALID_SIGNATURE")["details"] == {"reason": "stale"}
        assert await count_entries(harness) == 0

    async def test_timestamp_five_minutes_old_is_accepted(self, harness: Harness) -> None:
        op = await operator(harness)
        at = int(harness.clock.now().timestamp()) - 299
        response = await post_payment_event(harness, payment_event(op.user_id), timestamp=at)
        assert response.json()["outcome"] == "CREDITED", response.text

    async def test_second_signature_during_provider_rotation_is_accepted(self, harness: Harness) -> None:
        op = await operator(harness)
        body = payment_event(op.user_id)
        at = int(harness.clock.now().timestamp())
        header = f"t={at},v1={sign('old-secret', at, body)},v1={sign(WEBHOOK_SECRET, at, body)}"
        response = await post_payment_event(harness, body, header=header)
        assert response.json()["outcome"] == "CREDITED", response.text

    async def test_oversized_body_is_413(self, harness: Harness) -> None:
        op = await operator(harness)
        body = payment_event(op.user_id, padding="x" * MAX_BODY_BYTES)
        response = await post_payment_event(harness, body)
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert await count_entries(harness) == 0

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (b"not json", "body"),
            (b"[1,2]", "body"),
            (b'{"type":"payment.succeeded","data":{}}', "id"),
            (b'{"id":"evt_1","data":{}}', "type"),
            (b'{"id":"evt 1","type":"payment.succeeded","data":{}}', "id"),
            (b'{"id":"evt_1","type":"payment.succeeded"}', "data"),
            (b'{"id":"evt_1","type":"payment.succeeded","data":{"amount":NaN}}', "body"),
        ],
    )
    async def test_malformed_event_is_400(self, harness: Harness, body: bytes, field: str) -> None:
        response = await post_payment_event(harness, body)
        assert_field_error(response, field)
        assert await count_entries(harness) == 0

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"operatorId": None}, "data.operatorId"),
            ({"currency": "USD"}, "data.currency"),
            ({"currency": None}, "data.currency"),
            ({"reference": None}, "data.reference"),
            ({"amountPaise": None}, "data.amountPaise"),
            ({"amountPaise": -100}, "data.amountPaise"),
            ({"amountPaise": 0}, "data.amountPaise"),
            ({"amountPaise": 100.5}, "data.amountPaise"),
            ({"amountPaise": "100"}, "data.amountPaise"),
            ({"amountPaise": 1_000_000_001}, "data.amountPaise"),
            ({"amountPaise": None, "amount": 10.005}, "data.amount"),
            ({"amountPaise": None, "amount": -1}, "data.amount"),
            ({"amountPaise": None, "amount": "10"}, "data.amount"),
            ({"amountPaise": 1000, "amount": 10.01}, "data.amount"),
        ],
    )
    async def test_invalid_payment_is_400_and_writes_nothing(
        self, harness: Harness, changes: dict[str, Any], field: str
    ) -> None:
        op = await operator(harness)
        data: dict[str, Any] = {
            "operatorId": op.user_id,
            "amountPaise": 1000,
            "currency": "INR",
            "reference": "pay_Z",
        }
        data.update(changes)
        data = {key: value for key, value in data.items() if value is not None}
        body = json.dumps({"id": "evt_bad", "type": "payment.succeeded", "data": data}).encode()
        response = await post_payment_event(harness, body)
        assert_field_error(response, field)
        assert await count_entries(harness) == 0

    async def test_agreeing_amounts_are_accepted(self, harness: Harness) -> None:
        op = await operator(harness)
        response = await post_payment_event(
            harness, payment_event(op.user_id, amount_paise=1001, amount=10.01)
        )
        assert response.json()["outcome"] == "CREDITED", response.text

    @pytest.mark.parametrize("who", ["unknown", "shipper"])
    async def test_payment_for_a_non_operator_is_400(self, harness: Harness, who: str) -> None:
        target = (
            "USR-OP-01ARZ3NDEKTSV4RRFFQ69G5FAV"
            if who == "unknown"
            else (await staff(harness, Role.SHIPPER, SHIPPER_MOBILE)).user_id
        )
        response = await post_payment_event(harness, payment_event(target))
        assert_field_error(response, "data.operatorId")
        assert await count_entries(harness) == 0
        assert await outbox_rows(harness) == []


class TestWebhookWithoutSecret:
    async def test_every_delivery_is_refused(self, clean_database: str) -> None:
        """A deployment without PAYMENT_WEBHOOK_SECRET (refused in production) credits
        nothing, even for a MAC made with the empty secret."""
        async with running_app(make_settings(clean_database, payment_webhook_secret="")) as h:
            op = await operator(h)
            for secret in ("", WEBHOOK_SECRET):
                response = await post_payment_event(h, payment_event(op.user_id), secret=secret)
                assert_error(response, 401, "INVALID_SIGNATURE")
            assert await count_entries(h) == 0


class TestClockOrdering:
    async def test_an_entry_after_the_clock_moved_back_still_sorts_last(self, harness: Harness) -> None:
        """A request whose clock reading is older than the last entry (it read the clock, then
        waited for the ledger row) is still listed as the newest, with the current balance."""
        op = await operator(harness)
        await deposit(harness, await ledger_admin_session(harness), op.user_id, 100)
        harness.clock.advance(seconds=-10)
        await fee_debit(harness, op.user_id, 2500)
        body = await ledger_transactions(harness, op)
        assert [(e["type"], e["balanceAfter"]) for e in body["data"]] == [("DEBIT", 75.0), ("CREDIT", 100.0)]
        rows = await entry_rows(harness, op.user_id)
        assert rows[1]["created_at"] - rows[0]["created_at"] == timedelta(microseconds=1)
        assert (await ledger_balance(harness, op))["balance"] == 75.0
