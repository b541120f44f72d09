"""Trucks, their documents, and operator maintenance windows (ACS RF22)."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
)

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

TRUCK_STATUSES = ("PENDING_INSPECTION", "ACTIVE", "EXPIRED_DOCS", "NEEDS_INSPECTION", "BLOCKED", "INACTIVE")

trucks = Table(
    "trucks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("operator_id", String(64), ForeignKey("users.id"), nullable=False, index=True),
    Column("registration_number", String(16), nullable=False, unique=True),
    Column("vehicle_type", String(32), nullable=False),
    Column("body_type", String(16), nullable=False),
    Column("tyres", Integer, nullable=False),
    Column("capacity_tonnes", Numeric(6, 2), nullable=False),
    Column("model_year", Integer, nullable=False),
    Column("emission", String(8), nullable=False),
    Column("permit_type", String(32), nullable=False),
    # The chassis number is encrypted with the operator's data key; its hash finds duplicates.
    Column("chassis_ciphertext", String(512), nullable=False),
    Column("chassis_hash", String(64), nullable=False, index=True),
    Column("base_lat", Float, nullable=False),
    Column("base_lng", Float, nullable=False),
    Column("franchise_unit_id", String(64), ForeignKey("franchises.id"), nullable=True, index=True),
    Column("status", String(24), nullable=False),
    _ts("last_inspected_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    CheckConstraint("status IN ('" + "','".join(TRUCK_STATUSES) + "')", name="status"),
    CheckConstraint("tyres IN (6,10,12,14,16,18,20,22)", name="tyres"),
)

truck_documents = Table(
    "truck_documents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("truck_id", String(64), ForeignKey("trucks.id"), nullable=False),
    Column("doc_type", String(16), nullable=False),
    Column("expiry_date", Date, nullable=False),
    Column("storage_key", String(256), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("uploaded_by", String(64), nullable=False),
    _ts("created_at"),
    Index(None, "truck_id", "doc_type", "created_at"),
    Index(None, "expiry_date"),
    CheckConstraint("doc_type IN ('RC','INSURANCE','PERMIT','FITNESS','PUC')", name="doc_type"),
)

maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", String(64), primary_key=True),
    # NULL: the whole platform; otherwise one operator.
    Column("operator_id", String(64), ForeignKey("users.id"), nullable=True, index=True),
    _ts("starts_at"),
    _ts("ends_at"),
    Column("reason", String(256), nullable=False),
    Column("created_by", String(64), nullable=False),
    _ts("created_at"),
    CheckConstraint("ends_at > starts_at", name="ends_after_start"),
)
