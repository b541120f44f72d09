"""Stored first responses of POSTs sent with an `Idempotency-Key` (issue 7)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text, UniqueConstraint

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("id", String(64), primary_key=True),
    # Whose key it is ("user:<id>" or "apikey:<id>"): two callers may pick the same key.
    Column("principal", String(80), nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(512), nullable=False),
    # SHA-256 of method, path and body: a repeat with another body is refused.
    Column("request_hash", String(64), nullable=False),
    # IN_PROGRESS while the first request runs, COMPLETED once its response is stored.
    Column("state", String(16), nullable=False),
    Column("response_status", Integer, nullable=True),
    # JSON object of the replayed headers (content type, location).
    Column("response_headers", Text, nullable=True),
    # The response body, encrypted (responses can carry one-time secrets and personal data).
    Column("response_body_ciphertext", Text, nullable=True),
    _ts("created_at"),
    _ts("expires_at"),
    UniqueConstraint("principal", "idempotency_key"),
    Index(None, "expires_at"),
)
