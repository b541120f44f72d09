"""API models of the ledger. Amounts cross the API in rupees (numbers, at most 2 decimals) and
are exact paise inside (PRODUCT §2)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema

from rodistaa.core.money import paise_to_rupees, paise_to_rupees_number, rupees_to_paise
from rodistaa.ledger.repo import Account, Direction, Entry, EntryType

CURRENCY: Literal["INR"] = "INR"
# ₹1 crore per deposit: far above any sensible prepayment of bidding fees, so a larger amount
# is a typing or integration mistake to refuse rather than credit.
MAX_DEPOSIT_PAISE = 1_000_000_000
# Identifiers chosen outside the platform (bank or payment references, provider event ids):
# visible ASCII without spaces, so two references that look alike are alike.
REFERENCE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:/#-]*$"

Reference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=REFERENCE_PATTERN),
    Field(examples=["UTR-HDFC-240115-000731"]),
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
OperatorId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def deposit_paise(rupees: object) -> int:
    """Paise of a deposit given in rupees; ValueError (with a message for the client) unless
    it is a JSON number with at most 2 decimals, above zero and at most the deposit limit."""
    if isinstance(rupees, bool) or not isinstance(rupees, int | float | Decimal):
        raise ValueError("must be a number")
    paise = rupees_to_paise(rupees)
    return check_deposit_paise(paise)


def check_deposit_paise(paise: int) -> int:
    if paise <= 0:
        raise ValueError("must be greater than 0")
    if paise > MAX_DEPOSIT_PAISE:
        raise ValueError(f"must be at most {paise_to_rupees_number(MAX_DEPOSIT_PAISE):.2f}")
    return paise


def _rupee_amount(value: object) -> Decimal:
    return paise_to_rupees(deposit_paise(value))


RupeeAmount = Annotated[
    Decimal,
    BeforeValidator(_rupee_amount),
    WithJsonSchema({"type": "number", "description": "Rupees, at most 2 decimals, > 0"}),
]


class DepositRequest(BaseModel):
    """A deposit an admin records from an external payment (bank transfer, cash receipt)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "operatorId": "USR-OP-01J9Z6R8K2M4P6Q8S0V2W4Y6A8",
                    "amount": 5000,
                    "externalReference": "UTR-HDFC-240115-000731",
                    "description": "NEFT from Sharma Roadlines",
                }
            ]
        },
    )

    operatorId: OperatorId
    amount: RupeeAmount
    externalReference: Reference = Field(
        description="The payment's reference outside the platform; the idempotency key of the deposit"
    )
    description: Description | None = None

    @property
    def amount_paise(self) -> int:
        return rupees_to_paise(self.amount)


class LedgerBalanceOut(BaseModel):
    """The contract's LedgerBalance."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "operatorId": "USR-OP-01J9Z6R8K2M4P6Q8S0V2W4Y6A8",
                    "balance": 4825,
                    "currency": "INR",
                    "updatedAt": "2024-01-15T11:00:00Z",
                }
            ]
        }
    )

    operatorId: str
    balance: float = Field(description="Rupees")
    currency: Literal["INR"] = CURRENCY
    updatedAt: datetime | None = Field(description="Time of the last entry; null before the first one")

    @classmethod
    def of(cls, operator_id: str, account: Account | None) -> LedgerBalanceOut:
        return cls(
            operatorId=operator_id,
            balance=paise_to_rupees_number(account.balance_paise if account else 0),
            updatedAt=account.updated_at if account else None,
        )


class LedgerTransactionOut(BaseModel):
    """The contract's LedgerTransaction (`type` CREDIT/DEBIT, `amount` always positive), plus
    PRODUCT §7's entry type, balance after and reference."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "LDG-01J9ZA1B3C5D7E9F1G3H5J7K9M",
                    "operatorId": "USR-OP-01J9Z6R8K2M4P6Q8S0V2W4Y6A8",
                    "type": "DEBIT",
                    "entryType": "BIDDING_FEE",
                    "amount": 175,
                    "balanceAfter": 4825,
                    "currency": "INR",
                    "description": (
                        "Bidding fee for bid BK-01J9Z7A2M4Q8R6T1V3X5Z7B9D2 on booking RID-20240115-0001"
                    ),
                    "referenceType": "BID",
                    "referenceId": "BK-01J9Z7A2M4Q8R6T1V3X5Z7B9D2",
                    "externalReference": None,
                    "createdAt": "2024-01-15T11:00:00Z",
                }
            ]
        }
    )

    id: str
    operatorId: str
    type: Direction
    entryType: EntryType
    amount: float = Field(description="Rupees, positive; `type` gives the direction")
    balanceAfter: float = Field(description="Rupees")
    currency: Literal["INR"] = CURRENCY
    description: str
    referenceType: str | None
    referenceId: str | None
    externalReference: str | None
    createdAt: datetime

    @classmethod
    def of(cls, entry: Entry) -> LedgerTransactionOut:
        return cls(
            id=entry.id,
            operatorId=entry.operator_id,
            type=entry.direction,
            entryType=entry.entry_type,
            amount=paise_to_rupees_number(abs(entry.amount_paise)),
            balanceAfter=paise_to_rupees_number(entry.balance_after_paise),
            description=entry.description,
            referenceType=entry.reference_type,
            referenceId=entry.reference_id,
            externalReference=entry.external_reference,
            createdAt=entry.created_at,
        )


class WebhookAckOut(BaseModel):
    received: bool = True
    outcome: Literal["CREDITED", "DUPLICATE", "IGNORED"] = Field(
        description="CREDITED: a new entry; DUPLICATE: already recorded, nothing written; "
        "IGNORED: an event type the platform does not act on"
    )
    transactionId: str | None = Field(description="The ledger entry of the payment, when there is one")
