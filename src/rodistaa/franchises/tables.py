"""Franchises: a tree HQ → DISTRICT → UNIT; units have a zone (centre and radius)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Float, ForeignKey, Integer, String, Table, UniqueConstraint

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

franchises = Table(
    "franchises",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("parent_id", String(64), ForeignKey("franchises.id"), nullable=True, index=True),
    Column("centre_lat", Float, nullable=True),
    Column("centre_lng", Float, nullable=True),
    Column("radius_m", Integer, nullable=True),
    _ts("created_at"),
    CheckConstraint("kind IN ('HQ','DISTRICT','UNIT')", name="kind"),
    CheckConstraint(
        "kind <> 'UNIT' OR (centre_lat IS NOT NULL AND centre_lng IS NOT NULL AND radius_m > 0)",
        name="unit_has_zone",
    ),
)

# Monthly targets a district sets for each of its units (PRODUCT §9).
franchise_targets = Table(
    "franchise_targets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("unit_id", String(64), ForeignKey("franchises.id"), nullable=False),
    # Calendar month in India, "YYYY-MM".
    Column("period", String(7), nullable=False),
    # monthly_inspections | monthly_trucks_onboarded
    Column("target_type", String(32), nullable=False),
    Column("target", Integer, nullable=False),
    Column("set_by", String(64), ForeignKey("users.id"), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    UniqueConstraint("unit_id", "period", "target_type"),
    CheckConstraint("target >= 0", name="target_not_negative"),
)
