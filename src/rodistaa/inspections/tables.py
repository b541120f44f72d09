"""Truck inspections by franchise units: geotag, checklist, photos, result."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Float, ForeignKey, Integer, String, Table, Text

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

inspections = Table(
    "inspections",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("truck_id", String(64), ForeignKey("trucks.id"), nullable=False, index=True),
    Column("unit_franchise_id", String(64), ForeignKey("franchises.id"), nullable=False, index=True),
    Column("inspector_id", String(64), ForeignKey("users.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("geo_lat", Float, nullable=True),
    Column("geo_lng", Float, nullable=True),
    Column("geo_accuracy_m", Float, nullable=True),
    Column("checklist", Text, nullable=False),
    Column("notes", Text, nullable=True),
    Column("rejection_code", String(64), nullable=True),
    _ts("created_at"),
    _ts("submitted_at", nullable=True),
    CheckConstraint("status IN ('PENDING','PASSED','FAILED','REJECTED')", name="status"),
)

inspection_photos = Table(
    "inspection_photos",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("inspection_id", String(64), ForeignKey("inspections.id"), nullable=False, index=True),
    Column("storage_key", String(256), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    # The photo's SHA-256: the same picture used for another truck is a fraud signal (RF10).
    Column("sha256", String(64), nullable=False, index=True),
    Column("taken_lat", Float, nullable=True),
    Column("taken_lng", Float, nullable=True),
    _ts("created_at"),
)
