"""Identity tables: users, login codes, sessions (refresh-token families and tokens), devices,
signing-key activations and the per-day booking counter."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    text,
)

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _timestamp

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("mobile", String(16), nullable=False, unique=True),
    Column("name", String(120), nullable=False),
    Column("email", String(254), nullable=True),
    Column("role", String(32), nullable=False),
    Column("status", String(16), nullable=False, server_default=text("'ACTIVE'")),
    Column("franchise_id", String(64), nullable=True),
    Column("created_by", String(64), nullable=True),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    # Set when the person's data was erased (GDPR): the row stays, under a pseudonym, for the
    # ledger and audit records that refer to it.
    _timestamp("erased_at", nullable=True),
    CheckConstraint(
        "role IN ('SHIPPER','OPERATOR','DRIVER','ADMIN','FRANCHISE_UNIT','FRANCHISE_DISTRICT','KYC_ADMIN')",
        name="role",
    ),
    CheckConstraint("status IN ('ACTIVE','INACTIVE','BLOCKED','SUSPENDED')", name="status"),
)

# One live code per phone: a new request replaces the row. The code is stored as an HMAC.
otp_codes = Table(
    "otp_codes",
    metadata,
    Column("mobile", String(16), primary_key=True),
    Column("code_hash", String(64), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _timestamp("created_at"),
    _timestamp("expires_at"),
    _timestamp("consumed_at", nullable=True),
    CheckConstraint("attempts >= 0", name="attempts_non_negative"),
)

# A family is one login session; every refresh rotates the token inside the family.
refresh_token_families = Table(
    "refresh_token_families",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.id"), nullable=False, index=True),
    Column("device_id", String(128), nullable=True),
    _timestamp("created_at"),
    _timestamp("revoked_at", nullable=True),
    Column("revoked_reason", String(32), nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "family_id",
        String(64),
        ForeignKey("refresh_token_families.id"),
        nullable=False,
        index=True,
    ),
    Column("token_hash", String(64), nullable=False, unique=True),
    _timestamp("created_at"),
    _timestamp("expires_at"),
    _timestamp("used_at", nullable=True),
    Column("replaced_by_id", String(64), nullable=True),
)

device_bindings = Table(
    "device_bindings",
    metadata,
    Column("user_id", String(64), ForeignKey("users.id"), primary_key=True),
    Column("device_id", String(128), primary_key=True),
    _timestamp("first_seen_at"),
    _timestamp("last_seen_at"),
    Index(None, "device_id"),
)

# Registration tokens for phones that have no account yet: single use by jti.
signup_tokens_used = Table(
    "signup_tokens_used",
    metadata,
    Column("jti", String(64), primary_key=True),
    _timestamp("used_at"),
)

# When each JWT signing key became the active one; the previous key verifies for a grace period.
jwt_key_activations = Table(
    "jwt_key_activations",
    metadata,
    Column("kid", String(64), primary_key=True),
    _timestamp("activated_at"),
)

# Per-day counter behind collision-free booking ids RID-YYYYMMDD-NNNN.
booking_day_counters = Table(
    "booking_day_counters",
    metadata,
    Column("day", String(8), primary_key=True),
    Column("last_value", BigInteger, nullable=False),
    CheckConstraint("last_value > 0", name="last_value_positive"),
)

# Envelope encryption: one data key per user, stored wrapped by the KMS. Destroying it (GDPR
# erasure) leaves every document encrypted under it unreadable.
user_data_keys = Table(
    "user_data_keys",
    metadata,
    Column("user_id", String(64), ForeignKey("users.id"), primary_key=True),
    Column("wrapped_key", String(512), nullable=True),
    _timestamp("created_at"),
    _timestamp("rewrapped_at", nullable=True),
    _timestamp("destroyed_at", nullable=True),
)
