"""HTTP for the operator ledger: balance and entries (the operator's own; an admin names the
operator), deposits recorded by an admin, and the payment provider's signed webhook.

There is deliberately no endpoint that adjusts a balance: adjustments only execute an approved
override (PRODUCT §1, §7), through `service.adjust`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.http.auth import AdminActor, require_role
from rodistaa.http.errors import ERROR_RESPONSES, ErrorBody, documented_error
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services
from rodistaa.ledger.errors import WebhookPayloadTooLarge
from rodistaa.ledger.repo import Direction, EntryType
from rodistaa.ledger.schemas import (
    DepositRequest,
    LedgerBalanceOut,
    LedgerTransactionOut,
    OperatorId,
    WebhookAckOut,
)
from rodistaa.ledger.service import LedgerService
from rodistaa.ledger.webhook import MAX_BODY_BYTES, SIGNATURE_HEADER

router = APIRouter(tags=["ledger"])
LedgerReader = Annotated[Actor, Depends(require_role(Role.OPERATOR, Role.ADMIN))]


async def get_ledger_service(services: Annotated[Services, Depends(get_services)]) -> LedgerService:
    return LedgerService(services)


LedgerServiceDep = Annotated[LedgerService, Depends(get_ledger_service)]
OperatorQuery = Annotated[
    OperatorId | None,
    Query(alias="operatorId", description="Admins: the operator to read (required). Operators: own id only"),
]

_UNKNOWN_OPERATOR = documented_error(404, "NOT_FOUND: no operator with the `operatorId` given")
_DEPOSIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {"model": LedgerTransactionOut, "description": "A repeat of a recorded deposit: the same entry"},
    409: {"model": ErrorBody, "description": "The external reference records a different deposit"},
}
_WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: ERROR_RESPONSES[400],
    401: {"model": ErrorBody, "description": "INVALID_SIGNATURE: missing, malformed, wrong or stale"},
    409: {"model": ErrorBody, "description": "The payment reference records a different deposit"},
    413: {"model": ErrorBody, "description": f"The body is larger than {MAX_BODY_BYTES} bytes"},
}
_WEBHOOK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["id", "type"],
                    "properties": {
                        "id": {"type": "string", "description": "Provider event id (idempotency key)"},
                        "type": {"type": "string", "example": "payment.succeeded"},
                        "data": {
                            "type": "object",
                            "required": ["operatorId", "currency", "reference"],
                            "properties": {
                                "operatorId": {"type": "string"},
                                "amountPaise": {"type": "integer"},
                                "amount": {"type": "number", "description": "Rupees (or amountPaise)"},
                                "currency": {"type": "string", "enum": ["INR"]},
                                "reference": {"type": "string", "description": "Provider payment reference"},
                            },
                        },
                    },
                }
            }
        },
    }
}


@router.get("/ledger", response_model=LedgerBalanceOut, responses=ERROR_RESPONSES | _UNKNOWN_OPERATOR)
async def get_balance(
    actor: LedgerReader, ledger: LedgerServiceDep, operator_id: OperatorQuery = None
) -> LedgerBalanceOut:
    """The balance in rupees; 0 (and `updatedAt` null) before the first entry."""
    target, account = await ledger.balance(actor, operator_id)
    return LedgerBalanceOut.of(target, account)


@router.get(
    "/ledger/transactions",
    response_model=Page[LedgerTransactionOut],
    responses=ERROR_RESPONSES | _UNKNOWN_OPERATOR,
)
async def list_transactions(
    actor: LedgerReader,
    ledger: LedgerServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    operator_id: OperatorQuery = None,
    direction: Annotated[Direction | None, Query(alias="type")] = None,
    entry_type: Annotated[EntryType | None, Query(alias="entryType")] = None,
) -> dict[str, Any]:
    """Entries newest first; `type` filters credits or debits, `entryType` one kind of entry."""
    entries, total = await ledger.transactions(
        actor, operator_id, direction=direction, entry_type=entry_type, page=page
    )
    return build_page([LedgerTransactionOut.of(entry) for entry in entries], total, page)


@router.post(
    "/admin/ledger/deposits",
    status_code=status.HTTP_201_CREATED,
    response_model=LedgerTransactionOut,
    responses=_DEPOSIT_RESPONSES,
    tags=["admin"],
)
async def record_deposit(
    body: DepositRequest, actor: AdminActor, ledger: LedgerServiceDep, response: Response
) -> LedgerTransactionOut:
    """Credit a deposit received outside the payment provider. Idempotent by
    `externalReference`: the same request again answers 200 with the recorded entry."""
    recorded = await ledger.deposit(
        actor,
        operator_id=body.operatorId,
        amount_paise=body.amount_paise,
        external_reference=body.externalReference,
        description=body.description,
    )
    if not recorded.created:
        response.status_code = status.HTTP_200_OK
    return LedgerTransactionOut.of(recorded.entry)


# Public: the provider has no bearer token. The HMAC signature is its authentication.
@router.post(
    "/webhooks/payments",
    response_model=WebhookAckOut,
    responses=_WEBHOOK_RESPONSES,
    tags=["webhooks"],
    openapi_extra=_WEBHOOK_BODY,
)
async def receive_payment_event(
    request: Request,
    ledger: LedgerServiceDep,
    signature: Annotated[
        str | None,
        Header(alias=SIGNATURE_HEADER, description="t=<unix seconds>,v1=<hex HMAC-SHA256>"),
    ] = None,
) -> WebhookAckOut:
    """The payment provider's events, signed with `PAYMENT_WEBHOOK_SECRET` over
    `"<t>." + raw body`. Every recognised delivery answers 200 (repeats included), so the
    provider stops retrying; unknown event types are acknowledged and ignored."""
    body = await _read_body(request)
    result = await ledger.receive_payment_event(body, signature)
    return WebhookAckOut(outcome=result.outcome, transactionId=result.entry_id)


async def _read_body(request: Request) -> bytes:
    """The raw bytes (the signature covers them exactly), at most `MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise WebhookPayloadTooLarge(details={"maxBytes": MAX_BODY_BYTES})
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise WebhookPayloadTooLarge(details={"maxBytes": MAX_BODY_BYTES})
    return bytes(body)
