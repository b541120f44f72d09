"""Bids: an operator's price for a booking, with the bidding fee it paid (never refunded)."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, text

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

BID_STATUSES = ("ACTIVE", "ACCEPTED", "REJECTED", "WITHDRAWN", "EXPIRED")

bids = Table(
    "bids",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("booking_id", String(32), ForeignKey("bookings.id"), nullable=False),
    Column("operator_id", String(64), ForeignKey("users.id"), nullable=False),
    Column("truck_id", String(64), ForeignKey("trucks.id"), nullable=True),
    Column("amount_paise", BigInteger, nullable=False),
    Column("fee_paise", BigInteger, nullable=False),
    Column("notes", String(500), nullable=True),
    Column("status", String(16), nullable=False),
    Column("modification_count", Integer, nullable=False, server_default=text("0")),
    _ts("created_at"),
    _ts("updated_at"),
    # One ACTIVE bid per operator per booking, enforced by the database (PRODUCT §6): two
    # concurrent bids of one operator cannot both commit, whatever the code read before.
    Index(
        "uq_bids_active_operator_booking",
        "booking_id",
        "operator_id",
        unique=True,
        postgresql_where=text("status = 'ACTIVE'"),
        sqlite_where=text("status = 'ACTIVE'"),
    ),
    # The finalizer's candidate order: (amount, createdAt, operatorId) among ACTIVE bids.
    Index(None, "booking_id", "status", "amount_paise", "created_at"),
    Index(None, "operator_id", "created_at"),
    CheckConstraint("status IN ('" + "','".join(BID_STATUSES) + "')", name="status"),
    CheckConstraint("amount_paise > 0", name="amount_positive"),
    CheckConstraint("fee_paise >= 0", name="fee_not_negative"),
)
