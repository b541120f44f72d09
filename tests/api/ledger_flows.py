"""The operator ledger through the API, for any test that needs money on an operator's ledger
(bids pay a fee) or a payment from the provider. Every step asserts its own status.

    await fund_operator(h, operator.user_id, 500)          # ₹500 deposited by an admin
    response = await post_payment_event(h, payment_event(operator.user_id, amount_paise=10_000))

The webhook helpers need the app to know the secret: a module that uses them sets
`settings_overrides` to include `WEBHOOK_SETTINGS`.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from typing import Any

import httpx

from rodistaa.core.roles import Role
from rodistaa.ledger.webhook import SIGNATURE_HEADER, signature_header
from rodistaa.users.errors import MobileTaken
from tests.api.flows import Session, create_user_directly, sign_in
from tests.conftest import Harness

LEDGER_ADMIN_MOBILE = "+919000000055"
WEBHOOK_SECRET = "test-payment-webhook-secret-6f1d0c9b2a8e4f7d"
WEBHOOK_SETTINGS: dict[str, Any] = {"payment_webhook_secret": WEBHOOK_SECRET}


async def ledger_admin_session(h: Harness, mobile: str = LEDGER_ADMIN_MOBILE) -> Session:
    """An admin for ledger steps; signs in again when the test already made one."""
    with contextlib.suppress(MobileTaken):
        await create_user_directly(h, mobile, Role.ADMIN, "Finance Desk")
    return await sign_in(h, mobile)


def new_reference(prefix: str = "UTR") -> str:
    return f"{prefix}-{secrets.token_hex(8).upper()}"


async def deposit(
    h: Harness,
    admin: Session,
    operator_id: str,
    amount: float | int,
    *,
    reference: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Record a deposit; returns the LedgerTransaction (201 asserted)."""
    body: dict[str, Any] = {
        "operatorId": operator_id,
        "amount": amount,
        "externalReference": reference or new_reference(),
    }
    if description is not None:
        body["description"] = description
    response = await h.client.post("/v1/admin/ledger/deposits", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def fund_operator(
    h: Harness, operator_id: str, amount: float | int, *, admin: Session | None = None
) -> dict[str, Any]:
    """Deposit `amount` rupees for the operator. Without `admin` each call signs the ledger
    admin in again (login codes are rate limited per phone): pass one when funding often."""
    return await deposit(h, admin or await ledger_admin_session(h), operator_id, amount)


async def ledger_balance(h: Harness, session: Session, operator_id: str | None = None) -> dict[str, Any]:
    params = {"operatorId": operator_id} if operator_id else {}
    response = await h.client.get("/v1/ledger", params=params, headers=session.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def ledger_transactions(h: Harness, session: Session, **params: Any) -> dict[str, Any]:
    response = await h.client.get("/v1/ledger/transactions", params=params, headers=session.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def payment_event(
    operator_id: str,
    *,
    amount_paise: int | None = 10_000,
    event_id: str | None = None,
    reference: str | None = None,
    event_type: str = "payment.succeeded",
    **data: Any,
) -> bytes:
    """A provider event body (the exact bytes that get signed)."""
    payload: dict[str, Any] = {
        "operatorId": operator_id,
        "currency": "INR",
        "reference": reference or new_reference("pay"),
    }
    if amount_paise is not None:
        payload["amountPaise"] = amount_paise
    payload.update(data)
    event = {"id": event_id or new_reference("evt"), "type": event_type, "data": payload}
    return json.dumps(event).encode()


async def post_payment_event(
    h: Harness,
    body: bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    header: str | None = None,
) -> httpx.Response:
    """POST the body signed at `timestamp` (default: the app's clock), or with `header` as
    given. No bearer token: the provider has none."""
    at = int(h.clock.now().timestamp()) if timestamp is None else timestamp
    signature = header if header is not None else signature_header(secret, at, body)
    return await h.client.post(
        "/v1/webhooks/payments",
        content=body,
        headers={SIGNATURE_HEADER: signature, "Content-Type": "application/json"},
    )
