"""Onboarding: franchises, trucks and documents, maintenance windows, inspections and photos,
drivers, KYC documents and per-user data keys.

Revision ID: 0004_onboarding
Revises: 0003_acs_state
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_onboarding"
down_revision = "0003_acs_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "franchises",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("centre_lat", sa.Float(), nullable=True),
        sa.Column("centre_lng", sa.Float(), nullable=True),
        sa.Column("radius_m", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind <> 'UNIT' OR (centre_lat IS NOT NULL AND centre_lng IS NOT NULL AND radius_m > 0)",
            name=op.f("ck_franchises_unit_has_zone"),
        ),
        sa.CheckConstraint("kind IN ('HQ','DISTRICT','UNIT')", name=op.f("ck_franchises_kind")),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["franchises.id"], name=op.f("fk_franchises_parent_id_franchises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_franchises")),
    )
    with op.batch_alter_table("franchises", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_franchises_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "drivers",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("licence_ciphertext", sa.String(length=512), nullable=False),
        sa.Column("licence_masked", sa.String(length=32), nullable=False),
        sa.Column("licence_hash", sa.String(length=64), nullable=False),
        sa.Column("licence_expiry", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["users.id"], name=op.f("fk_drivers_operator_id_users")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_drivers_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_drivers")),
        sa.UniqueConstraint("licence_hash", name=op.f("uq_drivers_licence_hash")),
    )
    with op.batch_alter_table("drivers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drivers_operator_id"), ["operator_id"], unique=False)

    op.create_table(
        "kyc_documents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("document_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("number_ciphertext", sa.String(length=512), nullable=False),
        sa.Column("number_masked", sa.String(length=32), nullable=False),
        sa.Column("number_hash", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=256), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("rejection_reason", sa.String(length=256), nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "document_type IN ('AADHAAR','PAN','GSTIN','LICENSE')",
            name=op.f("ck_kyc_documents_document_type"),
        ),
        sa.CheckConstraint(
            "status IN ('PENDING','VERIFIED','REJECTED')", name=op.f("ck_kyc_documents_status")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_kyc_documents_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_documents")),
    )
    with op.batch_alter_table("kyc_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kyc_documents_number_hash"), ["number_hash"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_kyc_documents_status_created_at"), ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_kyc_documents_user_id_document_type_created_at"),
            ["user_id", "document_type", "created_at"],
            unique=False,
        )

    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_maintenance_windows_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["users.id"], name=op.f("fk_maintenance_windows_operator_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
    )
    with op.batch_alter_table("maintenance_windows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_maintenance_windows_operator_id"), ["operator_id"], unique=False)

    op.create_table(
        "trucks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("registration_number", sa.String(length=16), nullable=False),
        sa.Column("vehicle_type", sa.String(length=32), nullable=False),
        sa.Column("body_type", sa.String(length=16), nullable=False),
        sa.Column("tyres", sa.Integer(), nullable=False),
        sa.Column("capacity_tonnes", sa.Numeric(precision=6, scale=2), nullable=False),
        sa.Column("model_year", sa.Integer(), nullable=False),
        sa.Column("emission", sa.String(length=8), nullable=False),
        sa.Column("permit_type", sa.String(length=32), nullable=False),
        sa.Column("chassis_ciphertext", sa.String(length=512), nullable=False),
        sa.Column("chassis_hash", sa.String(length=64), nullable=False),
        sa.Column("base_lat", sa.Float(), nullable=False),
        sa.Column("base_lng", sa.Float(), nullable=False),
        sa.Column("franchise_unit_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("last_inspected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('PENDING_INSPECTION','ACTIVE','EXPIRED_DOCS','NEEDS_INSPECTION','BLOCKED','INACTIVE')",
            name=op.f("ck_trucks_status"),
        ),
        sa.CheckConstraint("tyres IN (6,10,12,14,16,18,20,22)", name=op.f("ck_trucks_tyres")),
        sa.ForeignKeyConstraint(
            ["franchise_unit_id"], ["franchises.id"], name=op.f("fk_trucks_franchise_unit_id_franchises")
        ),
        sa.ForeignKeyConstraint(["operator_id"], ["users.id"], name=op.f("fk_trucks_operator_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trucks")),
        sa.UniqueConstraint("registration_number", name=op.f("uq_trucks_registration_number")),
    )
    with op.batch_alter_table("trucks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trucks_chassis_hash"), ["chassis_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_trucks_franchise_unit_id"), ["franchise_unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trucks_operator_id"), ["operator_id"], unique=False)

    op.create_table(
        "user_data_keys",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewrapped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_data_keys_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_data_keys")),
    )
    op.create_table(
        "inspections",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("truck_id", sa.String(length=64), nullable=False),
        sa.Column("unit_franchise_id", sa.String(length=64), nullable=False),
        sa.Column("inspector_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("geo_lat", sa.Float(), nullable=True),
        sa.Column("geo_lng", sa.Float(), nullable=True),
        sa.Column("geo_accuracy_m", sa.Float(), nullable=True),
        sa.Column("checklist", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("rejection_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('PENDING','PASSED','FAILED','REJECTED')", name=op.f("ck_inspections_status")
        ),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["users.id"], name=op.f("fk_inspections_inspector_id_users")
        ),
        sa.ForeignKeyConstraint(["truck_id"], ["trucks.id"], name=op.f("fk_inspections_truck_id_trucks")),
        sa.ForeignKeyConstraint(
            ["unit_franchise_id"], ["franchises.id"], name=op.f("fk_inspections_unit_franchise_id_franchises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
    )
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspections_truck_id"), ["truck_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_inspections_unit_franchise_id"), ["unit_franchise_id"], unique=False
        )

    op.create_table(
        "truck_documents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("truck_id", sa.String(length=64), nullable=False),
        sa.Column("doc_type", sa.String(length=16), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("storage_key", sa.String(length=256), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "doc_type IN ('RC','INSURANCE','PERMIT','FITNESS','PUC')",
            name=op.f("ck_truck_documents_doc_type"),
        ),
        sa.ForeignKeyConstraint(["truck_id"], ["trucks.id"], name=op.f("fk_truck_documents_truck_id_trucks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_truck_documents")),
    )
    with op.batch_alter_table("truck_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_truck_documents_expiry_date"), ["expiry_date"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_truck_documents_truck_id_doc_type_created_at"),
            ["truck_id", "doc_type", "created_at"],
            unique=False,
        )

    op.create_table(
        "inspection_photos",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("inspection_id", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=256), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("taken_lat", sa.Float(), nullable=True),
        sa.Column("taken_lng", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"], ["inspections.id"], name=op.f("fk_inspection_photos_inspection_id_inspections")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_photos")),
    )
    with op.batch_alter_table("inspection_photos", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inspection_photos_inspection_id"), ["inspection_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_inspection_photos_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inspection_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspection_photos_sha256"))
        batch_op.drop_index(batch_op.f("ix_inspection_photos_inspection_id"))

    op.drop_table("inspection_photos")
    with op.batch_alter_table("truck_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_truck_documents_truck_id_doc_type_created_at"))
        batch_op.drop_index(batch_op.f("ix_truck_documents_expiry_date"))

    op.drop_table("truck_documents")
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspections_unit_franchise_id"))
        batch_op.drop_index(batch_op.f("ix_inspections_truck_id"))

    op.drop_table("inspections")
    op.drop_table("user_data_keys")
    with op.batch_alter_table("trucks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trucks_operator_id"))
        batch_op.drop_index(batch_op.f("ix_trucks_franchise_unit_id"))
        batch_op.drop_index(batch_op.f("ix_trucks_chassis_hash"))

    op.drop_table("trucks")
    with op.batch_alter_table("maintenance_windows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_maintenance_windows_operator_id"))

    op.drop_table("maintenance_windows")
    with op.batch_alter_table("kyc_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kyc_documents_user_id_document_type_created_at"))
        batch_op.drop_index(batch_op.f("ix_kyc_documents_status_created_at"))
        batch_op.drop_index(batch_op.f("ix_kyc_documents_number_hash"))

    op.drop_table("kyc_documents")
    with op.batch_alter_table("drivers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drivers_operator_id"))

    op.drop_table("drivers")
    with op.batch_alter_table("franchises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_franchises_parent_id"))

    op.drop_table("franchises")
