"""ACS state: stored bundles, active revision, evaluated events, blocks, freezes, suspensions,
watchlist, tickets, notifications and the outbox.

Revision ID: 0003_acs_state
Revises: 0002_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_acs_state"
down_revision = "0002_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acs_blocks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acs_blocks")),
    )
    with op.batch_alter_table("acs_blocks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_acs_blocks_entity_type_entity_id"), ["entity_type", "entity_id"], unique=False
        )

    op.create_table(
        "acs_bundles",
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("canonical", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("rule_count", sa.Integer(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_acs_bundles")),
    )
    op.create_table(
        "acs_effect_keys",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "rule_id", "action", "target", name=op.f("pk_acs_effect_keys")),
    )
    op.create_table(
        "acs_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.Column("matched", sa.Text(), nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_acs_events")),
    )
    with op.batch_alter_table("acs_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acs_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_acs_events_event_type_at"), ["event_type", "at"], unique=False)

    op.create_table(
        "acs_reload_attempts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=True),
        sa.Column("errors", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acs_reload_attempts")),
    )
    op.create_table(
        "acs_shipment_freezes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("shipment_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acs_shipment_freezes")),
    )
    with op.batch_alter_table("acs_shipment_freezes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_acs_shipment_freezes_shipment_id"), ["shipment_id"], unique=False
        )

    op.create_table(
        "acs_suspensions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acs_suspensions")),
    )
    with op.batch_alter_table("acs_suspensions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acs_suspensions_account_id"), ["account_id"], unique=False)

    op.create_table(
        "acs_watchlist",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("hits", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("first_flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acs_watchlist")),
        sa.UniqueConstraint("entity_type", "entity_id", name=op.f("uq_acs_watchlist_entity_type_entity_id")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=1024), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notifications_role_created_at"), ["role", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notifications_user_id_created_at"), ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("source_event_id", sa.String(length=64), nullable=True),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_events_published_at_created_at"),
            ["published_at", "created_at"],
            unique=False,
        )

    op.create_table(
        "tickets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("team", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(length=512), nullable=False),
        sa.Column("refs", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'OPEN'"), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("assignee_id", sa.String(length=64), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tickets_team_status"), ["team", "status"], unique=False)

    op.create_table(
        "acs_active_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("activated_by", sa.String(length=64), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["revision"], ["acs_bundles.revision"], name=op.f("fk_acs_active_revision_revision_acs_bundles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acs_active_revision")),
    )


def downgrade() -> None:
    op.drop_table("acs_active_revision")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tickets_team_status"))

    op.drop_table("tickets")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_published_at_created_at"))

    op.drop_table("outbox_events")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_user_id_created_at"))
        batch_op.drop_index(batch_op.f("ix_notifications_role_created_at"))

    op.drop_table("notifications")
    op.drop_table("acs_watchlist")
    with op.batch_alter_table("acs_suspensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acs_suspensions_account_id"))

    op.drop_table("acs_suspensions")
    with op.batch_alter_table("acs_shipment_freezes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acs_shipment_freezes_shipment_id"))

    op.drop_table("acs_shipment_freezes")
    op.drop_table("acs_reload_attempts")
    with op.batch_alter_table("acs_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acs_events_event_type_at"))
        batch_op.drop_index(batch_op.f("ix_acs_events_at"))

    op.drop_table("acs_events")
    op.drop_table("acs_effect_keys")
    op.drop_table("acs_bundles")
    with op.batch_alter_table("acs_blocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acs_blocks_entity_type_entity_id"))

    op.drop_table("acs_blocks")
