"""Drivers: a user of role DRIVER in one operator's fleet, with an encrypted licence."""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, String, Table

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

drivers = Table(
    "drivers",
    metadata,
    Column("user_id", String(64), ForeignKey("users.id"), primary_key=True),
    Column("operator_id", String(64), ForeignKey("users.id"), nullable=False, index=True),
    Column("licence_ciphertext", String(512), nullable=False),
    Column("licence_masked", String(32), nullable=False),
    Column("licence_hash", String(64), nullable=False, unique=True),
    Column("licence_expiry", Date, nullable=False),
    _ts("created_at"),
)
