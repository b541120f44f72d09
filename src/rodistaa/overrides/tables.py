"""Overrides with four eyes (PRODUCT §8) and the admins' TOTP enrolment for critical ones."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, ForeignKey, Index, String, Table, Text

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

OVERRIDE_STATUSES = ("PENDING", "EXECUTED", "REJECTED")

overrides = Table(
    "overrides",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("reason", String(256), nullable=False),
    Column("justification", Text, nullable=True),
    # JSON: what the action needs beyond the entity (e.g. {"amountPaise": -5000, "bidId": ...}).
    Column("params", Text, nullable=False),
    # Decided at request time from the target (a critical block or rule): the approver needs TOTP.
    Column("critical", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_by", String(64), ForeignKey("users.id"), nullable=False),
    Column("decided_by", String(64), ForeignKey("users.id"), nullable=True),
    _ts("decided_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Index(None, "status", "created_at"),
    Index(None, "entity_type", "entity_id"),
    CheckConstraint("status IN ('" + "','".join(OVERRIDE_STATUSES) + "')", name="status"),
    # Four eyes, also in the database: nobody decides their own request.
    CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="four_eyes"),
)

admin_totp = Table(
    "admin_totp",
    metadata,
    Column("user_id", String(64), ForeignKey("users.id"), primary_key=True),
    # The base32 secret, encrypted under the admin's data key.
    Column("secret_ciphertext", String(512), nullable=False),
    _ts("enrolled_at"),
    _ts("confirmed_at", nullable=True),
    # The last accepted time step: a code is never accepted twice (replay).
    Column("last_used_step", BigInteger, nullable=True),
)
