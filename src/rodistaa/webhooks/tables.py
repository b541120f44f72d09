"""Partner webhook subscriptions and the delivery log of outbox events to them (PRODUCT §10)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint, text

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("url", String(2048), nullable=False),
    # JSON list of event names.
    Column("events", Text, nullable=False),
    # The per-subscription signing secret, encrypted (it must be shown to the partner once and
    # used by the worker to sign, so it cannot be a hash).
    Column("secret_ciphertext", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("disabled_reason", String(256), nullable=True),
    _ts("disabled_at", nullable=True),
    Column("created_by", String(64), ForeignKey("users.id"), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    Index(None, "status"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("subscription_id", String(64), ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("event_id", String(64), ForeignKey("outbox_events.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _ts("next_attempt_at"),
    _ts("last_attempt_at", nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(256), nullable=True),
    _ts("delivered_at", nullable=True),
    _ts("created_at"),
    # At most one delivery record per event and subscription: redelivery reuses it.
    UniqueConstraint("subscription_id", "event_id"),
    Index(None, "status", "next_attempt_at"),
)
