"""All SQL of the operator ledger: the balance row, its entries, and the outbox rows a payment
writes. Nothing here commits; the caller's transaction decides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.ledger.tables import ledger_accounts, ledger_entries


class EntryType(StrEnum):
    """PRODUCT §7: DEPOSIT credits, BIDDING_FEE debits, REFUND and ADJUSTMENT go either way."""

    DEPOSIT = "DEPOSIT"
    BIDDING_FEE = "BIDDING_FEE"
    REFUND = "REFUND"
    ADJUSTMENT = "ADJUSTMENT"


class Direction(StrEnum):
    """The contract's `LedgerTransaction.type`: the sign of the amount."""

    CREDIT = "CREDIT"
    DEBIT = "DEBIT"


@dataclass(frozen=True)
class Entry:
    id: str
    operator_id: str
    entry_type: EntryType
    # Signed: credits positive, debits negative.
    amount_paise: int
    balance_after_paise: int
    description: str
    reference_type: str | None
    reference_id: str | None
    external_reference: str | None
    provider_event_id: str | None
    created_by: str
    created_at: datetime

    @property
    def direction(self) -> Direction:
        return Direction.CREDIT if self.amount_paise > 0 else Direction.DEBIT

    @classmethod
    def from_row(cls, row: RowMapping) -> Entry:
        return cls(
            id=row["id"],
            operator_id=row["operator_id"],
            entry_type=EntryType(row["type"]),
            amount_paise=row["amount_paise"],
            balance_after_paise=row["balance_after_paise"],
            description=row["description"],
            reference_type=row["reference_type"],
            reference_id=row["reference_id"],
            external_reference=row["external_reference"],
            provider_event_id=row["provider_event_id"],
            created_by=row["created_by"],
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class Account:
    operator_id: str
    balance_paise: int
    updated_at: datetime


@dataclass(frozen=True)
class BalanceChange:
    """The balance after a change, and the account's `updated_at` from before it (the time of
    the previous entry), which orders the new entry after it."""

    balance_paise: int
    previous_updated_at: datetime


def readable_entries(actor: Actor) -> Select[Any]:
    """The entries `actor` may see: an admin every operator's, an operator only its own,
    anyone else none. Every read of entries on behalf of a caller starts here."""
    query = select(ledger_entries)
    if actor.role is Role.ADMIN:
        return query
    if actor.role is Role.OPERATOR:
        return query.where(ledger_entries.c.operator_id == actor.user_id)
    return query.where(ledger_entries.c.id.is_(None))


def readable_accounts(actor: Actor) -> Select[Any]:
    """Same rule as `readable_entries`, for balances."""
    query = select(ledger_accounts)
    if actor.role is Role.ADMIN:
        return query
    if actor.role is Role.OPERATOR:
        return query.where(ledger_accounts.c.operator_id == actor.user_id)
    return query.where(ledger_accounts.c.operator_id.is_(None))


async def ensure_account(conn: AsyncConnection, operator_id: str, *, now: datetime) -> bool:
    """Create the operator's zero balance if it has none; True when this call created it.
    A concurrent creation is not an error: the loser's insert does nothing."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    result = await conn.execute(
        insert(ledger_accounts)
        .values(operator_id=operator_id, balance_paise=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=[ledger_accounts.c.operator_id])
    )
    return result.rowcount == 1


async def add_to_balance(conn: AsyncConnection, operator_id: str, amount_paise: int) -> BalanceChange:
    """Credit an existing account (see `ensure_account`). The row stays locked until commit,
    so entries of one operator are written one at a time."""
    statement = (
        update(ledger_accounts)
        .where(ledger_accounts.c.operator_id == operator_id)
        .values(balance_paise=ledger_accounts.c.balance_paise + amount_paise)
        .returning(ledger_accounts.c.balance_paise, ledger_accounts.c.updated_at)
    )
    row = (await conn.execute(statement)).one()
    return BalanceChange(row.balance_paise, row.updated_at)


async def take_from_balance(
    conn: AsyncConnection, operator_id: str, amount_paise: int
) -> BalanceChange | None:
    """Debit `amount_paise` only if the balance covers it; None (and nothing changed) when it
    does not, or when the operator has no account yet.

    The condition is part of the UPDATE, so it is evaluated against the row as it is when
    the write happens, never against a balance read earlier: two concurrent debits cannot
    both pass a check that only one of them can afford (PostgreSQL re-evaluates the WHERE
    after waiting for the other writer's row lock; SQLite runs one writer at a time). The
    CHECK constraint `balance_paise >= 0` backs it up.
    """
    statement = (
        update(ledger_accounts)
        .where(
            ledger_accounts.c.operator_id == operator_id,
            ledger_accounts.c.balance_paise >= amount_paise,
        )
        .values(balance_paise=ledger_accounts.c.balance_paise - amount_paise)
        .returning(ledger_accounts.c.balance_paise, ledger_accounts.c.updated_at)
    )
    row = (await conn.execute(statement)).first()
    return BalanceChange(row.balance_paise, row.updated_at) if row else None


async def stamp_account(conn: AsyncConnection, operator_id: str, at: datetime) -> None:
    """Record the time of the entry just written (the row is already locked by this
    transaction's balance change)."""
    await conn.execute(
        update(ledger_accounts).where(ledger_accounts.c.operator_id == operator_id).values(updated_at=at)
    )


async def insert_entry(conn: AsyncConnection, entry: Entry) -> None:
    """Raises IntegrityError when the external reference or provider event id is taken."""
    await conn.execute(
        ledger_entries.insert().values(
            id=entry.id,
            operator_id=entry.operator_id,
            type=entry.entry_type.value,
            amount_paise=entry.amount_paise,
            balance_after_paise=entry.balance_after_paise,
            description=entry.description,
            reference_type=entry.reference_type,
            reference_id=entry.reference_id,
            external_reference=entry.external_reference,
            provider_event_id=entry.provider_event_id,
            created_by=entry.created_by,
            created_at=entry.created_at,
        )
    )


async def get_account(conn: AsyncConnection, actor: Actor, operator_id: str) -> Account | None:
    query = readable_accounts(actor).where(ledger_accounts.c.operator_id == operator_id)
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    return Account(row["operator_id"], row["balance_paise"], row["updated_at"])


async def balance_of(conn: AsyncConnection, operator_id: str) -> int:
    """The operator's balance in paise (0 without an account). For services that need it as a
    fact (ACS RF13); the debit itself never relies on a balance read beforehand."""
    query = select(ledger_accounts.c.balance_paise).where(ledger_accounts.c.operator_id == operator_id)
    balance: int | None = (await conn.execute(query)).scalar_one_or_none()
    return balance or 0


async def get_by_external_reference(conn: AsyncConnection, reference: str) -> Entry | None:
    query = select(ledger_entries).where(ledger_entries.c.external_reference == reference)
    row = (await conn.execute(query)).mappings().first()
    return Entry.from_row(row) if row else None


async def get_by_provider_event_id(conn: AsyncConnection, event_id: str) -> Entry | None:
    query = select(ledger_entries).where(ledger_entries.c.provider_event_id == event_id)
    row = (await conn.execute(query)).mappings().first()
    return Entry.from_row(row) if row else None


async def list_entries(
    conn: AsyncConnection,
    actor: Actor,
    operator_id: str,
    *,
    direction: Direction | None,
    entry_type: EntryType | None,
    offset: int,
    limit: int,
) -> tuple[list[Entry], int]:
    """One operator's entries visible to `actor`, newest first. Entry times of one operator
    strictly increase in the order the balance changed (see the service), so this is also
    the order of `balanceAfter`."""
    query = readable_entries(actor).where(ledger_entries.c.operator_id == operator_id)
    if direction is Direction.CREDIT:
        query = query.where(ledger_entries.c.amount_paise > 0)
    elif direction is Direction.DEBIT:
        query = query.where(ledger_entries.c.amount_paise < 0)
    if entry_type is not None:
        query = query.where(ledger_entries.c.type == entry_type.value)
    ordered = query.order_by(ledger_entries.c.created_at.desc(), ledger_entries.c.id.desc())
    rows = (await conn.execute(ordered.offset(offset).limit(limit))).mappings()
    entries = [Entry.from_row(row) for row in rows]
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    return entries, total
