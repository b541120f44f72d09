"""GPS pings of shipments in transit, the latest position of each, and silence alerts."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, String, Table, UniqueConstraint

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

gps_pings = Table(
    "gps_pings",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("shipment_id", String(64), ForeignKey("shipments.id"), nullable=False),
    Column("driver_id", String(64), ForeignKey("users.id"), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lng", Float, nullable=False),
    Column("speed_kmh", Float, nullable=True),
    Column("heading", Float, nullable=True),
    Column("accuracy_m", Float, nullable=True),
    Column("mock_location", Boolean, nullable=False),
    # When the device took the fix, and when the server received it.
    _ts("recorded_at"),
    _ts("received_at"),
    # A device resending a batch after a lost response must not double the track.
    UniqueConstraint("shipment_id", "recorded_at"),
)

# The newest fix of each shipment, so "where is it now" is one primary-key read.
shipment_positions = Table(
    "shipment_positions",
    metadata,
    Column("shipment_id", String(64), ForeignKey("shipments.id"), primary_key=True),
    Column("lat", Float, nullable=False),
    Column("lng", Float, nullable=False),
    Column("speed_kmh", Float, nullable=True),
    Column("heading", Float, nullable=True),
    _ts("recorded_at"),
    _ts("received_at"),
)

tracking_alerts = Table(
    "tracking_alerts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("shipment_id", String(64), ForeignKey("shipments.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    _ts("silent_since"),
    _ts("created_at"),
    _ts("acknowledged_at", nullable=True),
    Column("acknowledged_by", String(64), nullable=True),
    Index(None, "shipment_id", "kind", "created_at"),
)
