"""Shipments: the trip a finalized booking becomes, and its delivery OTP.

`status` holds the workflow state. FROZEN is not stored: a shipment is frozen while an ACS or
admin freeze (or a shipment block) is active, and shows its stored state again once lifted, so
"unfreeze restores the previous state" holds by construction (see `shipments.status`)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    text,
)

from rodistaa.bookings.tables import place_columns
from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

SHIPMENT_STATUSES = (
    "ASSIGNED",
    "DRIVER_PENDING_APPROVAL",
    "APPROVED",
    "IN_TRANSIT",
    "OTP_PENDING",
    "COMPLETED",
    "CANCELLED",
    "FAILED",
)
# A driver is busy while one of their shipments is in one of these states.
DRIVER_BUSY_STATUSES = ("DRIVER_PENDING_APPROVAL", "APPROVED", "IN_TRANSIT", "OTP_PENDING")


shipments = Table(
    "shipments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("booking_id", String(32), ForeignKey("bookings.id"), nullable=False, unique=True),
    Column("bid_id", String(64), ForeignKey("bids.id"), nullable=False, unique=True),
    Column("shipper_id", String(64), ForeignKey("users.id"), nullable=False),
    Column("operator_id", String(64), ForeignKey("users.id"), nullable=False),
    Column("driver_id", String(64), ForeignKey("users.id"), nullable=True),
    Column("truck_id", String(64), ForeignKey("trucks.id"), nullable=True),
    *place_columns("pickup"),
    *place_columns("drop"),
    Column("goods_type", String(64), nullable=False),
    Column("tonnage", Numeric(8, 2), nullable=False),
    Column("distance_km", Numeric(10, 2), nullable=False),
    Column("agreed_price_paise", BigInteger, nullable=False),
    Column("status", String(24), nullable=False),
    Column("breakdown_reason", String(256), nullable=True),
    _ts("breakdown_reported_at", nullable=True),
    _ts("driver_approved_at", nullable=True),
    _ts("started_at", nullable=True),
    _ts("completed_at", nullable=True),
    _ts("cancelled_at", nullable=True),
    Column("cancel_reason", String(256), nullable=True),
    Column("cancelled_by", String(64), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Index(None, "shipper_id", "created_at"),
    Index(None, "operator_id", "created_at"),
    Index(None, "driver_id", "created_at"),
    Index(None, "status", "created_at"),
    # One active shipment per driver (PRODUCT §6), enforced by the database: two concurrent
    # assignments of one driver cannot both commit.
    Index(
        "uq_shipments_busy_driver",
        "driver_id",
        unique=True,
        postgresql_where=text("status IN ('" + "','".join(DRIVER_BUSY_STATUSES) + "')"),
        sqlite_where=text("status IN ('" + "','".join(DRIVER_BUSY_STATUSES) + "')"),
    ),
    CheckConstraint("status IN ('" + "','".join(SHIPMENT_STATUSES) + "')", name="status"),
    CheckConstraint("agreed_price_paise > 0", name="agreed_price_positive"),
)

# The delivery OTP of a shipment (one row; re-issuing replaces it). The code is kept twice: as an
# HMAC for checking what the driver types, and encrypted with the shipper's data key so the
# shipper (and only the shipper) can be shown it again. It is never stored in clear.
delivery_otps = Table(
    "delivery_otps",
    metadata,
    Column("shipment_id", String(64), ForeignKey("shipments.id"), primary_key=True),
    Column("code_hash", String(64), nullable=False),
    Column("code_ciphertext", String(512), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("issue_count", Integer, nullable=False, server_default=text("1")),
    _ts("issued_at"),
    _ts("expires_at"),
    _ts("locked_at", nullable=True),
    _ts("consumed_at", nullable=True),
    CheckConstraint("attempts >= 0", name="attempts_not_negative"),
)
