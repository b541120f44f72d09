"""Proofs of delivery: the uploaded file's storage key, SHA-256 and metadata."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

pods = Table(
    "pods",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("shipment_id", String(64), ForeignKey("shipments.id"), nullable=False, index=True),
    Column("uploaded_by", String(64), ForeignKey("users.id"), nullable=False),
    Column("storage_key", String(256), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("content_type", String(64), nullable=False),
    _ts("metadata_timestamp", nullable=True),
    _ts("created_at"),
    # RF07 looks a hash up across all shipments.
    Index(None, "file_sha256"),
)
