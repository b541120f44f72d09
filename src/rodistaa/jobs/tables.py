"""When each background job last ran, so that whichever worker leads runs it once per interval
(a new leader does not re-run a job the previous leader just ran)."""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Text

from rodistaa.db.metadata import metadata
from rodistaa.db.metadata import timestamp_column as _ts

job_runs = Table(
    "job_runs",
    metadata,
    Column("name", String(64), primary_key=True),
    _ts("last_started_at"),
    _ts("last_finished_at", nullable=True),
    Column("last_status", String(16), nullable=False),
    Column("last_summary", Text, nullable=True),
    Column("runner", String(128), nullable=False),
)
