"""Audit chain: audit_log, audit_head (the append lock), audit_checkpoints, audit_verifications,
and the triggers that make the chain append-only.

Revision ID: 0002_audit
Revises: 0001_identity

Triggers (autogenerate does not see them; they are created and dropped here only):
- audit_log, audit_checkpoints: UPDATE and DELETE refused (and TRUNCATE on PostgreSQL);
- audit_head: DELETE (and TRUNCATE) refused; UPDATE only moves seq forward by exactly one.
On SQLite a batch ALTER of these tables would recreate them without their triggers: a later
migration that batch-alters one must recreate its triggers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_audit"
down_revision = "0001_identity"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64

_PG_FUNCTIONS = [
    """
    CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP;
    END;
    $$
    """,
    """
    CREATE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 THEN
            RAISE EXCEPTION 'audit_head only moves forward by one (seq % -> %)', OLD.seq, NEW.seq;
        END IF;
        RETURN NEW;
    END;
    $$
    """,
]

# (trigger, table, timing and event, level, function)
_PG_TRIGGERS = [
    ("audit_log_append_only", "audit_log", "BEFORE UPDATE OR DELETE", "ROW", "audit_refuse_change"),
    ("audit_log_no_truncate", "audit_log", "BEFORE TRUNCATE", "STATEMENT", "audit_refuse_change"),
    (
        "audit_checkpoints_append_only",
        "audit_checkpoints",
        "BEFORE UPDATE OR DELETE",
        "ROW",
        "audit_refuse_change",
    ),
    (
        "audit_checkpoints_no_truncate",
        "audit_checkpoints",
        "BEFORE TRUNCATE",
        "STATEMENT",
        "audit_refuse_change",
    ),
    ("audit_head_no_delete", "audit_head", "BEFORE DELETE", "ROW", "audit_refuse_change"),
    ("audit_head_no_truncate", "audit_head", "BEFORE TRUNCATE", "STATEMENT", "audit_refuse_change"),
    ("audit_head_forward_only", "audit_head", "BEFORE UPDATE", "ROW", "audit_head_forward_only"),
]

# (trigger, table, event, WHEN condition or None, message)
_SQLITE_TRIGGERS = [
    ("audit_log_no_update", "audit_log", "UPDATE", None, "audit_log is append-only: UPDATE refused"),
    ("audit_log_no_delete", "audit_log", "DELETE", None, "audit_log is append-only: DELETE refused"),
    (
        "audit_checkpoints_no_update",
        "audit_checkpoints",
        "UPDATE",
        None,
        "audit_checkpoints is append-only: UPDATE refused",
    ),
    (
        "audit_checkpoints_no_delete",
        "audit_checkpoints",
        "DELETE",
        None,
        "audit_checkpoints is append-only: DELETE refused",
    ),
    ("audit_head_no_delete", "audit_head", "DELETE", None, "audit_head cannot be deleted"),
    (
        "audit_head_forward_only",
        "audit_head",
        "UPDATE",
        "NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1",
        "audit_head only moves forward by one",
    ),
]


def upgrade() -> None:
    _create_tables()
    op.execute(
        sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :genesis)").bindparams(
            genesis=GENESIS_HASH
        )
    )
    if op.get_bind().dialect.name == "postgresql":
        for function in _PG_FUNCTIONS:
            op.execute(function)
        for name, table, timing, level, function in _PG_TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} {timing} ON {table} FOR EACH {level} EXECUTE FUNCTION {function}()"
            )
    else:
        for name, table, event, when, message in _SQLITE_TRIGGERS:
            condition = f" WHEN {when}" if when else ""
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW{condition} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )


def _create_tables() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.CHAR(length=64), nullable=False),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.Column("key_ref", sa.String(length=160), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_audit_checkpoints_seq_positive")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.CHAR(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_audit_head_seq_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.Column("rule_version", sa.Integer(), nullable=True),
        sa.Column("bundle_revision", sa.String(length=64), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.CHAR(length=64), nullable=False),
        sa.Column("hash", sa.CHAR(length=64), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_audit_log_seq_positive")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_log_id")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_log_prev_hash")),
    )
    op.create_index(
        op.f("ix_audit_log_entity_type_entity_id"), "audit_log", ["entity_type", "entity_id"], unique=False
    )
    op.create_table(
        "audit_verifications",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("from_seq", sa.BigInteger(), nullable=False),
        sa.Column("to_seq", sa.BigInteger(), nullable=True),
        sa.Column("entry_count", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_count", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_hash", sa.CHAR(length=64), nullable=True),
        sa.Column("first_bad_seq", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verifications")),
    )
    op.create_index(
        op.f("ix_audit_verifications_verified_at"), "audit_verifications", ["verified_at"], unique=False
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, *_ in reversed(_PG_TRIGGERS):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_head_forward_only()")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
    else:
        for name, *_ in reversed(_SQLITE_TRIGGERS):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index(op.f("ix_audit_verifications_verified_at"), table_name="audit_verifications")
    op.drop_table("audit_verifications")
    op.drop_index(op.f("ix_audit_log_entity_type_entity_id"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("audit_head")
    op.drop_table("audit_checkpoints")
