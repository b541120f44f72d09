"""Partner API keys (issue 7). A key acts as its owner user, limited to its scopes."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(120), nullable=False),
    # The public part of the key, shown in listings and used to find the row; unique.
    Column("prefix", String(32), nullable=False, unique=True),
    # HMAC-SHA256 (HMAC_KEY) of the whole key: a database leak does not leak usable keys.
    Column("secret_hash", String(64), nullable=False),
    # JSON list of scope names.
    Column("scopes", Text, nullable=False),
    Column("owner_user_id", String(64), ForeignKey("users.id"), nullable=False),
    Column("created_by", String(64), ForeignKey("users.id"), nullable=False),
    _ts("created_at"),
    _ts("expires_at", nullable=True),
    _ts("last_used_at", nullable=True),
    _ts("revoked_at", nullable=True),
    Column("revoked_by", String(64), ForeignKey("users.id"), nullable=True),
    # Set on the old key when it is rotated; the old key stays valid until its (shortened) expiry.
    Column("rotated_to", String(64), nullable=True),
    Index(None, "owner_user_id"),
)
