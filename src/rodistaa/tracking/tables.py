"""GPS pings of shipments in transit, the latest position of each, and silence alerts."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, UniqueConstraint

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
    # The retention job deletes raw fixes by age.
    Index(None, "recorded_at"),
)

# What is kept of a shipment's day of raw fixes once the retention job deletes them: enough to
# answer "where did it go that day" and to settle disputes, without the per-minute track.
gps_daily_summaries = Table(
    "gps_daily_summaries",
    metadata,
    Column("shipment_id", String(64), ForeignKey("shipments.id"), primary_key=True),
    # The UTC day, YYYY-MM-DD.
    Column("day", String(10), primary_key=True),
    Column("ping_count", Integer, nullable=False),
    _ts("first_recorded_at"),
    _ts("last_recorded_at"),
    Column("first_lat", Float, nullable=False),
    Column("first_lng", Float, nullable=False),
    Column("last_lat", Float, nullable=False),
    Column("last_lng", Float, nullable=False),
    # Sum of the great-circle distances between consecutive fixes of the day.
    Column("distance_km", Float, nullable=False),
    Column("max_speed_kmh", Float, nullable=True),
    Column("mock_location_count", Integer, nullable=False),
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
