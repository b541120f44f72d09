"""Audit tables: the hash chain, its head (the append lock), signed checkpoints and the record
of verifications.

`audit_log`, `audit_checkpoints` and `audit_head` refuse DELETE (and the first two UPDATE) by
database triggers created in migration 0002_audit; `info["refuses_delete"]` marks them so test
helpers that empty tables leave them alone. Note for future migrations: on SQLite a batch
ALTER recreates the table and with it drops its triggers, which must then be recreated.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from rodistaa.db.metadata import metadata, timestamp_column

HEAD_ROW_ID = 1
_ID = 64

# The canonical entry, one row per seq. `at` is the exact ISO-8601 string that was hashed
# (`...ffffffZ`), not a timestamp type: a driver round trip must never change a hashed byte.
# UNIQUE(prev_hash) makes a fork impossible even if two writers raced past the lock.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(_ID), nullable=False, unique=True),
    Column("at", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("entity_type", String(64), nullable=False),
    Column("entity_id", String(128), nullable=False),
    Column("rule_id", String(128), nullable=True),
    Column("rule_version", Integer, nullable=True),
    Column("bundle_revision", String(64), nullable=True),
    Column("data", Text, nullable=False),
    Column("prev_hash", CHAR(64), nullable=False, unique=True),
    Column("hash", CHAR(64), nullable=False, unique=True),
    CheckConstraint("seq >= 1", name="seq_positive"),
    Index(None, "entity_type", "entity_id"),
    info={"refuses_delete": True},
)

# One row: the last appended (seq, hash). Appenders lock it (SELECT ... FOR UPDATE) for the
# few statements of an append; a trigger lets it only move forward by exactly one.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", CHAR(64), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
    CheckConstraint("seq >= 0", name="seq_non_negative"),
    info={"refuses_delete": True},
)

# Signed {seq, hash, at}: `seq` is the chain position covered; at most one checkpoint per seq.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", CHAR(64), nullable=False),
    Column("at", String(32), nullable=False),
    Column("key_ref", String(160), nullable=False),
    Column("signature", Text, nullable=False),
    CheckConstraint("seq >= 1", name="seq_positive"),
    info={"refuses_delete": True},
)

# Every verification run and its outcome; the admin endpoint shows the newest.
audit_verifications = Table(
    "audit_verifications",
    metadata,
    Column("id", String(_ID), primary_key=True),
    timestamp_column("verified_at"),
    Column("ok", Boolean, nullable=False),
    Column("from_seq", BigInteger, nullable=False),
    Column("to_seq", BigInteger, nullable=True),
    Column("entry_count", BigInteger, nullable=False),
    Column("checkpoint_count", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=True),
    Column("last_hash", CHAR(64), nullable=True),
    Column("first_bad_seq", BigInteger, nullable=True),
    Column("kind", String(32), nullable=True),
    Column("detail", Text, nullable=False),
    Index(None, "verified_at"),
)
