"""Bookings (loads posted by shippers). Ids are RID-YYYYMMDD-NNNN from the per-day counter."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Numeric,
    String,
    Table,
)

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

BOOKING_STATUSES = ("OPEN", "NEGOTIATION", "FINALIZED", "AUTO_FINALIZED", "CANCELLED")


def place_columns(prefix: str) -> list[Column[object]]:
    """A place as `<prefix>_*` columns (shipments copy the booking's places in the same shape)."""
    return [
        Column(f"{prefix}_address", String(256), nullable=False),
        Column(f"{prefix}_city", String(64), nullable=False),
        Column(f"{prefix}_state", String(64), nullable=False),
        Column(f"{prefix}_pincode", String(6), nullable=False),
        Column(f"{prefix}_lat", Float, nullable=False),
        Column(f"{prefix}_lng", Float, nullable=False),
    ]


bookings = Table(
    "bookings",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("shipper_id", String(64), ForeignKey("users.id"), nullable=False),
    *place_columns("pickup"),
    *place_columns("drop"),
    Column("goods_type", String(64), nullable=False),
    Column("goods_weight", Numeric(10, 2), nullable=True),
    Column("goods_packaging", String(64), nullable=True),
    Column("tonnage", Numeric(8, 2), nullable=False),
    Column("distance_km", Numeric(10, 2), nullable=False),
    Column("expected_price_paise", BigInteger, nullable=False),
    Column("price_min_paise", BigInteger, nullable=False),
    Column("price_max_paise", BigInteger, nullable=False),
    Column("pickup_date", Date, nullable=True),
    Column("status", String(16), nullable=False),
    _ts("auto_finalize_at"),
    Column("cancel_reason", String(256), nullable=True),
    Column("cancelled_by", String(64), nullable=True),
    _ts("finalized_at", nullable=True),
    # Why an admin finalized by hand (PRODUCT §8: manual actions carry a reason); admins only.
    Column("finalize_reason", String(256), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Index(None, "status", "created_at"),
    Index(None, "shipper_id", "created_at"),
    Index(None, "status", "auto_finalize_at"),
    CheckConstraint("status IN ('" + "','".join(BOOKING_STATUSES) + "')", name="status"),
    CheckConstraint("tonnage >= 0.1", name="tonnage_min"),
    CheckConstraint("price_min_paise > 0 AND price_min_paise <= price_max_paise", name="price_range"),
)
