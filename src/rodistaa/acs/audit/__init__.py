"""The tamper-evident audit log (ACS.md §5): one hash chain of entries, signed checkpoints,
verification online and offline, and JSON Lines export.

Public API:

- `append(conn, draft, *, now)` / `append_standalone(db, draft, *, now)` (`chain`)
- `create_checkpoint(db, kms, *, now)` / `maybe_checkpoint(db, kms, *, every_entries,
  every_seconds, now)` (`checkpoints`)
- `verify_chain(db, kms, *, from_seq, to_seq)`, `record_verification(db, report, *, now)`,
  `last_verification(db)` (`verify`)
- `export_jsonl(db, kms, out, *, from_seq, to_seq, now)`, `verify_export_file(path,
  trusted_public_keys)` (`export`)
"""

from __future__ import annotations

from rodistaa.acs.audit.chain import append, append_standalone
from rodistaa.acs.audit.checkpoints import create_checkpoint, maybe_checkpoint
from rodistaa.acs.audit.export import ExportSummary, export_jsonl, verify_export_file
from rodistaa.acs.audit.models import (
    AuditEntry,
    AuditEntryDraft,
    Checkpoint,
    StoredVerification,
    TamperKind,
    VerifyReport,
)
from rodistaa.acs.audit.verify import last_verification, record_verification, verify_chain

__all__ = [
    "AuditEntry",
    "AuditEntryDraft",
    "Checkpoint",
    "ExportSummary",
    "StoredVerification",
    "TamperKind",
    "VerifyReport",
    "append",
    "append_standalone",
    "create_checkpoint",
    "export_jsonl",
    "last_verification",
    "maybe_checkpoint",
    "record_verification",
    "verify_chain",
    "verify_export_file",
]
