"""The operator ledger: one balance per operator that can never go below zero, and an
append-only list of entries with the balance after each."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, String, Table

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("operator_id", String(64), ForeignKey("users.id"), primary_key=True),
    Column("balance_paise", BigInteger, nullable=False),
    _ts("updated_at"),
    # The last line of defence: whatever the code does, the database refuses a negative balance.
    CheckConstraint("balance_paise >= 0", name="balance_not_negative"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("operator_id", String(64), ForeignKey("users.id"), nullable=False),
    Column("type", String(16), nullable=False),
    # Signed: credits positive, debits negative.
    Column("amount_paise", BigInteger, nullable=False),
    Column("balance_after_paise", BigInteger, nullable=False),
    Column("description", String(256), nullable=False),
    Column("reference_type", String(32), nullable=True),
    Column("reference_id", String(128), nullable=True),
    # Idempotency: an admin deposit's external reference, a payment provider's event id.
    Column("external_reference", String(128), nullable=True, unique=True),
    Column("provider_event_id", String(128), nullable=True, unique=True),
    Column("created_by", String(64), nullable=False),
    _ts("created_at"),
    Index(None, "operator_id", "created_at"),
    CheckConstraint("type IN ('DEPOSIT','BIDDING_FEE','REFUND','ADJUSTMENT')", name="type"),
    CheckConstraint("amount_paise <> 0", name="amount_not_zero"),
    CheckConstraint("balance_after_paise >= 0", name="balance_after_not_negative"),
)
