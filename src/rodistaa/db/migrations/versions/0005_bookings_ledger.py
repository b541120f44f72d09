"""Bookings and the operator ledger.

Revision ID: 0005_bookings_ledger
Revises: 0004_onboarding
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_bookings_ledger"
down_revision = "0004_onboarding"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("shipper_id", sa.String(length=64), nullable=False),
        sa.Column("pickup_address", sa.String(length=256), nullable=False),
        sa.Column("pickup_city", sa.String(length=64), nullable=False),
        sa.Column("pickup_state", sa.String(length=64), nullable=False),
        sa.Column("pickup_pincode", sa.String(length=6), nullable=False),
        sa.Column("pickup_lat", sa.Float(), nullable=False),
        sa.Column("pickup_lng", sa.Float(), nullable=False),
        sa.Column("drop_address", sa.String(length=256), nullable=False),
        sa.Column("drop_city", sa.String(length=64), nullable=False),
        sa.Column("drop_state", sa.String(length=64), nullable=False),
        sa.Column("drop_pincode", sa.String(length=6), nullable=False),
        sa.Column("drop_lat", sa.Float(), nullable=False),
        sa.Column("drop_lng", sa.Float(), nullable=False),
        sa.Column("goods_type", sa.String(length=64), nullable=False),
        sa.Column("goods_weight", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("goods_packaging", sa.String(length=64), nullable=True),
        sa.Column("tonnage", sa.Numeric(precision=8, scale=2), nullable=False),
        sa.Column("distance_km", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("expected_price_paise", sa.BigInteger(), nullable=False),
        sa.Column("price_min_paise", sa.BigInteger(), nullable=False),
        sa.Column("price_max_paise", sa.BigInteger(), nullable=False),
        sa.Column("pickup_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("auto_finalize_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancel_reason", sa.String(length=256), nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('OPEN','NEGOTIATION','FINALIZED','AUTO_FINALIZED','CANCELLED')",
            name=op.f("ck_bookings_status"),
        ),
        sa.CheckConstraint(
            "price_min_paise > 0 AND price_min_paise <= price_max_paise", name=op.f("ck_bookings_price_range")
        ),
        sa.CheckConstraint("tonnage >= 0.1", name=op.f("ck_bookings_tonnage_min")),
        sa.ForeignKeyConstraint(["shipper_id"], ["users.id"], name=op.f("fk_bookings_shipper_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
    )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bookings_shipper_id_created_at"), ["shipper_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_bookings_status_auto_finalize_at"), ["status", "auto_finalize_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_bookings_status_created_at"), ["status", "created_at"], unique=False
        )

    op.create_table(
        "ledger_accounts",
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("balance_paise", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance_paise >= 0", name=op.f("ck_ledger_accounts_balance_not_negative")),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["users.id"], name=op.f("fk_ledger_accounts_operator_id_users")
        ),
        sa.PrimaryKeyConstraint("operator_id", name=op.f("pk_ledger_accounts")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("amount_paise", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_paise", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("reference_type", sa.String(length=32), nullable=True),
        sa.Column("reference_id", sa.String(length=128), nullable=True),
        sa.Column("external_reference", sa.String(length=128), nullable=True),
        sa.Column("provider_event_id", sa.String(length=128), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('DEPOSIT','BIDDING_FEE','REFUND','ADJUSTMENT')", name=op.f("ck_ledger_entries_type")
        ),
        sa.CheckConstraint("amount_paise <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
        sa.CheckConstraint(
            "balance_after_paise >= 0", name=op.f("ck_ledger_entries_balance_after_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["users.id"], name=op.f("fk_ledger_entries_operator_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("external_reference", name=op.f("uq_ledger_entries_external_reference")),
        sa.UniqueConstraint("provider_event_id", name=op.f("uq_ledger_entries_provider_event_id")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_operator_id_created_at"),
            ["operator_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_operator_id_created_at"))

    op.drop_table("ledger_entries")
    op.drop_table("ledger_accounts")
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bookings_status_created_at"))
        batch_op.drop_index(batch_op.f("ix_bookings_status_auto_finalize_at"))
        batch_op.drop_index(batch_op.f("ix_bookings_shipper_id_created_at"))

    op.drop_table("bookings")
