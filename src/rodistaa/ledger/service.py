"""The operator ledger (PRODUCT §7): one balance per operator that never goes below zero, and
append-only entries, each audited.

Two faces:

- `credit`, `debit` and `adjust` work INSIDE the caller's transaction (the bids service debits
  the bidding fee in the transaction that inserts the bid, so both commit or neither does).
- `LedgerService` holds the HTTP use cases: balance and entries, admin deposits and the
  payment provider's webhook, each in one transaction of its own.

Entry times of one operator strictly increase in the order its balance changed (each entry is
stamped after the previous one even when the caller's clock reading is older), so "newest
first" is also the order of `balanceAfter`, and the last entry's `balanceAfter` is the balance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound, ValidationFailed
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.db.outbox import insert_outbox_event
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.ledger import repo
from rodistaa.ledger.errors import InsufficientBalance, ReferenceAlreadyUsed
from rodistaa.ledger.repo import Account, Direction, Entry, EntryType
from rodistaa.ledger.webhook import (
    PAYMENT_SUCCEEDED,
    PaymentSucceeded,
    parse_event,
    payment_of,
    verify_signature,
)
from rodistaa.users import repo as users_repo

log = structlog.get_logger("rodistaa.ledger")

PAYMENT_PROVIDER_ACTOR = "system:payment-provider"
# `referenceType` values written here; the bids service adds its own (e.g. "BID").
REFERENCE_PAYMENT_EVENT = "PAYMENT_EVENT"
REFERENCE_MANUAL_DEPOSIT = "MANUAL_DEPOSIT"
REFERENCE_OVERRIDE = "OVERRIDE"
# Their ids were chosen outside the platform and could hold anything (a UPI id looks like an
# e-mail): the audit log gets their SHA-256, never the text.
_EXTERNAL_REFERENCE_TYPES = frozenset({REFERENCE_PAYMENT_EVENT, REFERENCE_MANUAL_DEPOSIT})
CREDIT_TYPES = frozenset({EntryType.DEPOSIT, EntryType.REFUND, EntryType.ADJUSTMENT})
DEBIT_TYPES = frozenset({EntryType.BIDDING_FEE, EntryType.REFUND, EntryType.ADJUSTMENT})
MAX_DESCRIPTION_LENGTH = 256
_TICK = timedelta(microseconds=1)


# --- inside the caller's transaction --------------------------------------------------------


async def credit(
    conn: AsyncConnection,
    operator_id: str,
    amount_paise: int,
    entry_type: EntryType,
    description: str,
    reference_type: str | None,
    reference_id: str | None,
    *,
    created_by: str,
    now: datetime,
    external_reference: str | None = None,
    provider_event_id: str | None = None,
) -> Entry:
    """Add `amount_paise` (> 0) to the operator's balance, creating its account on the first
    credit, and append the entry and its audit entry (`ledger.entry`).

    Raises IntegrityError when `external_reference` or `provider_event_id` already names an
    entry (the caller's transaction is then unusable: roll it back), ValueError for an amount,
    type or description no caller should pass.
    """
    entry = await _post_credit(
        conn,
        operator_id,
        amount_paise,
        entry_type,
        description,
        reference_type,
        reference_id,
        created_by=created_by,
        now=now,
        external_reference=external_reference,
        provider_event_id=provider_event_id,
    )
    await _audit(conn, entry, now=now)
    return entry


async def debit(
    conn: AsyncConnection,
    operator_id: str,
    amount_paise: int,
    entry_type: EntryType,
    description: str,
    reference_type: str | None,
    reference_id: str | None,
    *,
    created_by: str,
    now: datetime,
) -> Entry:
    """Take `amount_paise` (> 0) from the operator's balance and append the entry and its
    audit entry. The balance may reach exactly zero, never less.

    Race prevented: the balance check is the WHERE clause of the UPDATE that changes it
    (`... SET balance = balance - :a WHERE operator_id = :o AND balance >= :a`), so two
    concurrent debits that each fit the balance alone but not together can never both
    succeed: the second waits for the first's row lock and then finds too little.

    Call it late in your transaction (after your own claims, before your own audit append):
    from here until commit the transaction holds the operator's ledger row and the audit head.

    Raises `InsufficientBalance` (422) when the balance does not cover the amount or the
    operator has no account; nothing is written then. ValueError as for `credit`.
    """
    _check_posting(amount_paise, entry_type, description, allowed=DEBIT_TYPES)
    change = await repo.take_from_balance(conn, operator_id, amount_paise)
    if change is None:
        raise InsufficientBalance()
    at = _entry_time(change.previous_updated_at, now)
    entry = Entry(
        id=new_id("LDG"),
        operator_id=operator_id,
        entry_type=entry_type,
        amount_paise=-amount_paise,
        balance_after_paise=change.balance_paise,
        description=description,
        reference_type=reference_type,
        reference_id=reference_id,
        external_reference=None,
        provider_event_id=None,
        created_by=created_by,
        created_at=at,
    )
    await _write(conn, entry)
    await _audit(conn, entry, now=now)
    return entry


async def adjust(
    conn: AsyncConnection,
    operator_id: str,
    amount_paise: int,
    *,
    override_id: str,
    description: str,
    created_by: str,
    now: datetime,
) -> Entry:
    """An ADJUSTMENT of `amount_paise` (positive credits, negative debits) executing an
    approved override (PRODUCT §8); deciding that the override is approved is the override
    executor's job. Raises `InsufficientBalance` when a negative adjustment exceeds the
    balance, ValueError for a zero amount."""
    if amount_paise > 0:
        return await credit(
            conn,
            operator_id,
            amount_paise,
            EntryType.ADJUSTMENT,
            description,
            REFERENCE_OVERRIDE,
            override_id,
            created_by=created_by,
            now=now,
        )
    return await debit(
        conn,
        operator_id,
        -amount_paise,
        EntryType.ADJUSTMENT,
        description,
        REFERENCE_OVERRIDE,
        override_id,
        created_by=created_by,
        now=now,
    )


async def balance_paise(conn: AsyncConnection, operator_id: str) -> int:
    """The balance as a fact (ACS RF13's `operator.ledgerBalance`); 0 without an account."""
    return await repo.balance_of(conn, operator_id)


async def _post_credit(
    conn: AsyncConnection,
    operator_id: str,
    amount_paise: int,
    entry_type: EntryType,
    description: str,
    reference_type: str | None,
    reference_id: str | None,
    *,
    created_by: str,
    now: datetime,
    external_reference: str | None,
    provider_event_id: str | None,
) -> Entry:
    _check_posting(amount_paise, entry_type, description, allowed=CREDIT_TYPES)
    created = await repo.ensure_account(conn, operator_id, now=now)
    change = await repo.add_to_balance(conn, operator_id, amount_paise)
    entry = Entry(
        id=new_id("LDG"),
        operator_id=operator_id,
        entry_type=entry_type,
        amount_paise=amount_paise,
        balance_after_paise=change.balance_paise,
        description=description,
        reference_type=reference_type,
        reference_id=reference_id,
        external_reference=external_reference,
        provider_event_id=provider_event_id,
        created_by=created_by,
        created_at=now if created else _entry_time(change.previous_updated_at, now),
    )
    await _write(conn, entry)
    return entry


def _check_posting(
    amount_paise: int, entry_type: EntryType, description: str, *, allowed: frozenset[EntryType]
) -> None:
    if isinstance(amount_paise, bool) or not isinstance(amount_paise, int) or amount_paise <= 0:
        raise ValueError("amount_paise must be a positive integer")
    if entry_type not in allowed:
        raise ValueError(f"{entry_type} cannot be posted in this direction")
    if not description or len(description) > MAX_DESCRIPTION_LENGTH:
        raise ValueError(f"description must have 1 to {MAX_DESCRIPTION_LENGTH} characters")


def _entry_time(previous: datetime, now: datetime) -> datetime:
    """`now`, unless the account's last entry is not older: then just after it. A request
    that read the clock first may reach the row lock second."""
    return now if now > previous else previous + _TICK


async def _write(conn: AsyncConnection, entry: Entry) -> None:
    await repo.stamp_account(conn, entry.operator_id, entry.created_at)
    await repo.insert_entry(conn, entry)


async def _audit(conn: AsyncConnection, entry: Entry, *, now: datetime) -> None:
    data: dict[str, Any] = {
        "operatorId": entry.operator_id,
        "entryType": entry.entry_type.value,
        "amountPaise": entry.amount_paise,
        "balanceAfterPaise": entry.balance_after_paise,
        "referenceType": entry.reference_type,
    }
    if entry.reference_id is not None and entry.reference_type not in _EXTERNAL_REFERENCE_TYPES:
        data["referenceId"] = entry.reference_id
    if entry.external_reference is not None:
        data["externalReferenceSha256"] = _sha256(entry.external_reference)
    if entry.provider_event_id is not None:
        data["providerEventIdSha256"] = _sha256(entry.provider_event_id)
    draft = AuditEntryDraft(entry.created_by, "ledger.entry", "ledger_entry", entry.id, data)
    await append(conn, draft, now=now)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- HTTP use cases -------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    entry: Entry
    created: bool


@dataclass(frozen=True)
class WebhookOutcome:
    outcome: Literal["CREDITED", "DUPLICATE", "IGNORED"]
    entry_id: str | None


class LedgerService:
    def __init__(self, services: Services) -> None:
        self._db = services.db
        self._clock = services.clock
        self._webhook_secret = services.settings.payment_webhook_secret

    async def balance(self, actor: Actor, operator_id: str | None) -> tuple[str, Account | None]:
        """The operator whose ledger is read, and its account (None before its first entry)."""
        async with self._db.read() as conn:
            target = await _operator_to_read(conn, actor, operator_id)
            return target, await repo.get_account(conn, actor, target)

    async def transactions(
        self,
        actor: Actor,
        operator_id: str | None,
        *,
        direction: Direction | None,
        entry_type: EntryType | None,
        page: PageRequest,
    ) -> tuple[list[Entry], int]:
        async with self._db.read() as conn:
            target = await _operator_to_read(conn, actor, operator_id)
            return await repo.list_entries(
                conn,
                actor,
                target,
                direction=direction,
                entry_type=entry_type,
                offset=page.offset,
                limit=page.limit,
            )

    async def deposit(
        self,
        actor: Actor,
        *,
        operator_id: str,
        amount_paise: int,
        external_reference: str,
        description: str | None,
    ) -> Recorded:
        """Credit a DEPOSIT an admin records. Idempotent by `external_reference`: a repeat for
        the same operator and amount returns the recorded entry (created=False); the same
        reference for anything else is 409. Raises 400 on `operatorId` unless it names an
        operator."""
        try:
            return await self._deposit_once(actor, operator_id, amount_paise, external_reference, description)
        except IntegrityError:
            # A concurrent request with this reference committed first (PostgreSQL: both found
            # nothing, the unique index refused the second). SQLite's writers queue instead.
            async with self._db.read() as conn:
                existing = await repo.get_by_external_reference(conn, external_reference)
            if existing is None:
                raise
            _ensure_same_deposit(existing, operator_id, amount_paise, field="externalReference")
            return Recorded(existing, created=False)

    async def _deposit_once(
        self,
        actor: Actor,
        operator_id: str,
        amount_paise: int,
        external_reference: str,
        description: str | None,
    ) -> Recorded:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            existing = await repo.get_by_external_reference(conn, external_reference)
            if existing is not None:
                _ensure_same_deposit(existing, operator_id, amount_paise, field="externalReference")
                return Recorded(existing, created=False)
            await _require_operator(conn, operator_id, field="operatorId")
            entry = await credit(
                conn,
                operator_id,
                amount_paise,
                EntryType.DEPOSIT,
                description or "Deposit recorded by an admin",
                REFERENCE_MANUAL_DEPOSIT,
                external_reference,
                created_by=actor.user_id,
                now=now,
                external_reference=external_reference,
            )
        log.info("ledger_deposit_recorded", entry_id=entry.id, operator_id=operator_id)
        return Recorded(entry, created=True)

    async def receive_payment_event(self, body: bytes, signature: str | None) -> WebhookOutcome:
        """A signed event from the payment provider. `payment.succeeded` credits a DEPOSIT
        referencing the provider event and writes a `payment.succeeded` outbox event in the
        same transaction; other types are acknowledged and ignored. Idempotent by provider
        event id, and by payment reference across both deposit paths (a payment an admin has
        already recorded is not credited twice). Raises `InvalidSignature` (401), 400 naming
        the field, 409 when the reference records a different deposit."""
        verify_signature(self._webhook_secret, signature, body, now=self._clock.now())
        event = parse_event(body)
        if event.event_type != PAYMENT_SUCCEEDED:
            log.info("payment_webhook_ignored", event_type=event.event_type)
            return WebhookOutcome("IGNORED", None)
        payment = payment_of(event)
        try:
            return await self._record_payment(payment)
        except IntegrityError:
            # A concurrent delivery of the same event (or payment) committed first.
            async with self._db.read() as conn:
                known = await _known_payment(conn, payment)
            if known is None:
                raise
            return known

    async def _record_payment(self, payment: PaymentSucceeded) -> WebhookOutcome:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            known = await _known_payment(conn, payment)
            if known is not None:
                return known
            await _require_operator(conn, payment.operator_id, field="data.operatorId")
            entry = await _post_credit(
                conn,
                payment.operator_id,
                payment.amount_paise,
                EntryType.DEPOSIT,
                "Payment received",
                REFERENCE_PAYMENT_EVENT,
                payment.event_id,
                created_by=PAYMENT_PROVIDER_ACTOR,
                now=now,
                external_reference=payment.reference,
                provider_event_id=payment.event_id,
            )
            await insert_outbox_event(conn, name=PAYMENT_SUCCEEDED, payload=_payment_payload(entry), now=now)
            await _audit(conn, entry, now=now)
        log.info("ledger_payment_credited", entry_id=entry.id, operator_id=entry.operator_id)
        return WebhookOutcome("CREDITED", entry.id)


async def _operator_to_read(conn: AsyncConnection, actor: Actor, operator_id: str | None) -> str:
    """Whose ledger `actor` reads: an operator its own (another operator's does not exist for
    it: 404), an admin the operator it names."""
    if actor.role is Role.OPERATOR:
        if operator_id is not None and operator_id != actor.user_id:
            raise NotFound()
        return actor.user_id
    if operator_id is None:
        raise ValidationFailed.for_field("query.operatorId", "is required for an admin")
    user = await users_repo.get_by_id(conn, operator_id)
    if user is None or user.role is not Role.OPERATOR:
        raise NotFound()
    return operator_id


async def _require_operator(conn: AsyncConnection, operator_id: str, *, field: str) -> None:
    user = await users_repo.get_by_id(conn, operator_id)
    if user is None or user.role is not Role.OPERATOR:
        raise ValidationFailed.for_field(field, "must be the id of an operator")


def _ensure_same_deposit(existing: Entry, operator_id: str, amount_paise: int, *, field: str) -> None:
    if existing.operator_id != operator_id or existing.amount_paise != amount_paise:
        raise ReferenceAlreadyUsed(details={"field": field})


async def _known_payment(conn: AsyncConnection, payment: PaymentSucceeded) -> WebhookOutcome | None:
    """The outcome of a payment already recorded (by this event, or under its reference by an
    admin or another event); None when it is new. 409 when the reference records another."""
    by_event = await repo.get_by_provider_event_id(conn, payment.event_id)
    if by_event is not None:
        return WebhookOutcome("DUPLICATE", by_event.id)
    by_reference = await repo.get_by_external_reference(conn, payment.reference)
    if by_reference is not None:
        _ensure_same_deposit(by_reference, payment.operator_id, payment.amount_paise, field="data.reference")
        return WebhookOutcome("DUPLICATE", by_reference.id)
    return None


def _payment_payload(entry: Entry) -> dict[str, Any]:
    return {
        "transactionId": entry.id,
        "operatorId": entry.operator_id,
        "amountPaise": entry.amount_paise,
        "currency": "INR",
        "providerEventId": entry.provider_event_id,
        "reference": entry.external_reference,
        "createdAt": entry.created_at.isoformat(),
    }
