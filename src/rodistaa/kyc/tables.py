"""KYC documents: file and number encrypted with the owner's data key; only the masked number
and the hash of the normalised number are kept in clear."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Table

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

kyc_documents = Table(
    "kyc_documents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.id"), nullable=False),
    Column("document_type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("number_ciphertext", String(512), nullable=False),
    Column("number_masked", String(32), nullable=False),
    Column("number_hash", String(64), nullable=False, index=True),
    Column("storage_key", String(256), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("rejection_reason", String(256), nullable=True),
    Column("reviewed_by", String(64), nullable=True),
    _ts("reviewed_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Index(None, "user_id", "document_type", "created_at"),
    Index(None, "status", "created_at"),
    CheckConstraint("document_type IN ('AADHAAR','PAN','GSTIN','LICENSE')", name="document_type"),
    CheckConstraint("status IN ('PENDING','VERIFIED','REJECTED')", name="status"),
)
