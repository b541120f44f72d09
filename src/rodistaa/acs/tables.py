"""ACS state: stored bundles and the active revision, evaluated events, and the enforcement
state side effects create (blocks, freezes, suspensions, watchlist, tickets, notifications,
outbox events)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

_ID = 64

acs_bundles = Table(
    "acs_bundles",
    metadata,
    Column("revision", String(64), primary_key=True),
    Column("canonical", Text, nullable=False),
    Column("source", String(512), nullable=False),
    Column("rule_count", Integer, nullable=False),
    _ts("stored_at"),
)

# One row: the revision every instance should run. Instances poll it and converge.
acs_active_revision = Table(
    "acs_active_revision",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", String(64), ForeignKey("acs_bundles.revision"), nullable=False),
    Column("activated_by", String(_ID), nullable=False),
    _ts("activated_at"),
)

acs_reload_attempts = Table(
    "acs_reload_attempts",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("source", String(512), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("revision", String(64), nullable=True),
    Column("errors", Text, nullable=True),
    Column("actor", String(_ID), nullable=False),
    _ts("attempted_at"),
)

# Every evaluated event with its context, facts and decision: the corpus for backtests.
acs_events = Table(
    "acs_events",
    metadata,
    Column("event_id", String(_ID), primary_key=True),
    Column("event_type", String(64), nullable=False),
    _ts("at"),
    Column("actor_id", String(_ID), nullable=True),
    Column("event", Text, nullable=False),
    Column("context", Text, nullable=False),
    Column("facts", Text, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("code", String(64), nullable=True),
    Column("rule_id", String(128), nullable=True),
    Column("matched", Text, nullable=False),
    Column("revision", String(64), nullable=False),
    Index(None, "event_type", "at"),
    Index(None, "at"),
)

# Claimed before a side effect is applied: re-evaluating an event never repeats its effects.
acs_effect_keys = Table(
    "acs_effect_keys",
    metadata,
    Column("event_id", String(_ID), primary_key=True),
    Column("rule_id", String(128), primary_key=True),
    Column("action", String(32), primary_key=True),
    Column("target", String(256), primary_key=True),
    _ts("applied_at"),
)

acs_blocks = Table(
    "acs_blocks",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", String(128), nullable=False),
    Column("reason", String(256), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("source", String(8), nullable=False),
    Column("rule_id", String(128), nullable=True),
    Column("event_id", String(_ID), nullable=True),
    Column("created_by", String(_ID), nullable=True),
    _ts("created_at"),
    _ts("expires_at", nullable=True),
    _ts("lifted_at", nullable=True),
    Column("lifted_by", String(_ID), nullable=True),
    Index(None, "entity_type", "entity_id"),
)

acs_shipment_freezes = Table(
    "acs_shipment_freezes",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("shipment_id", String(_ID), nullable=False, index=True),
    Column("reason", String(256), nullable=False),
    Column("rule_id", String(128), nullable=True),
    Column("event_id", String(_ID), nullable=True),
    _ts("created_at"),
    _ts("lifted_at", nullable=True),
    Column("lifted_by", String(_ID), nullable=True),
)

acs_suspensions = Table(
    "acs_suspensions",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("account_id", String(_ID), nullable=False, index=True),
    Column("reason", String(256), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("rule_id", String(128), nullable=True),
    Column("event_id", String(_ID), nullable=True),
    _ts("created_at"),
    _ts("until"),
    _ts("lifted_at", nullable=True),
    Column("lifted_by", String(_ID), nullable=True),
)

acs_watchlist = Table(
    "acs_watchlist",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", String(128), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("hits", Integer, nullable=False, server_default=text("1")),
    _ts("first_flagged_at"),
    _ts("last_flagged_at"),
    UniqueConstraint("entity_type", "entity_id"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("team", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("summary", String(512), nullable=False),
    Column("refs", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default=text("'OPEN'")),
    Column("rule_id", String(128), nullable=True),
    Column("event_id", String(_ID), nullable=True),
    Column("assignee_id", String(_ID), nullable=True),
    Column("resolution_note", Text, nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Index(None, "team", "status"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(_ID), primary_key=True),
    # A user's own notification, or (user_id NULL) one addressed to every user of `role`.
    Column("user_id", String(_ID), nullable=True),
    Column("role", String(32), nullable=False),
    Column("message", String(1024), nullable=False),
    Column("event_id", String(_ID), nullable=True),
    Column("rule_id", String(128), nullable=True),
    _ts("created_at"),
    _ts("read_at", nullable=True),
    Index(None, "user_id", "created_at"),
    Index(None, "role", "created_at"),
    Index(None, "created_at"),  # the retention job deletes by age
)

# Written in the same transaction as the change that causes it; delivered after commit.
outbox_events = Table(
    "outbox_events",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("payload", Text, nullable=False),
    Column("source_event_id", String(_ID), nullable=True),
    Column("rule_id", String(128), nullable=True),
    _ts("created_at"),
    _ts("published_at", nullable=True),
    Index(None, "published_at", "created_at"),
)
