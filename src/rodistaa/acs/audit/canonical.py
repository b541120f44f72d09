"""The byte-exact encodings everything in the audit chain is hashed and signed over.

Kept free of database and KMS imports: the offline export verifier uses exactly these
functions, so an online and an offline verification cannot disagree about a byte.

- canonical JSON: keys sorted at every depth, no spaces, UTF-8 (non-ASCII kept as is), no NaN
  or Infinity;
- timestamps: the exact stored string ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds,
  fixed width, so strings sort as times sort);
- entry hash: ``SHA-256("rodistaa-audit-v1\\n" || prevHash || canonical_json(entry without hash))``
  as lower-case hex, the genesis prevHash being 64 zeros;
- checkpoint message: ``b"rodistaa-audit-checkpoint-v1\\n" + canonical_json({seq, hash, at})``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

ENTRY_HASH_DOMAIN: Final = b"rodistaa-audit-v1\n"
CHECKPOINT_DOMAIN: Final = b"rodistaa-audit-checkpoint-v1\n"
GENESIS_HASH: Final = "0" * 64
HASH_RE: Final = re.compile(r"[0-9a-f]{64}")
TIMESTAMP_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")

# The entry as hashed, in API names. `hash` is not part of what it hashes.
ENTRY_FIELDS: Final = (
    "seq",
    "id",
    "at",
    "actor",
    "action",
    "entityType",
    "entityId",
    "ruleId",
    "ruleVersion",
    "bundleRevision",
    "data",
    "prevHash",
)


def canonical_json(value: Any) -> str:
    """Deterministic JSON text; `ValueError` for NaN/Infinity, `TypeError` for non-JSON types."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def format_timestamp(moment: datetime) -> str:
    """The stored (and hashed) form of an instant; a naive datetime is refused (ValueError)."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps need a timezone-aware datetime")
    # isoformat pads the year to four digits, which strftime("%Y") does not promise.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    """Inverse of `format_timestamp` (ValueError for any other shape)."""
    if not TIMESTAMP_RE.fullmatch(text):
        raise ValueError(f"not an audit timestamp: {text!r}")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def entry_hash(entry: Mapping[str, Any]) -> str:
    """Hash of an entry given in API names (extra keys such as `hash` are ignored)."""
    body = {name: entry[name] for name in ENTRY_FIELDS}
    digest = hashlib.sha256()
    digest.update(ENTRY_HASH_DOMAIN)
    digest.update(str(entry["prevHash"]).encode("utf-8"))
    digest.update(canonical_json(body).encode("utf-8"))
    return digest.hexdigest()


def checkpoint_message(seq: int, chain_hash: str, at: str) -> bytes:
    """The exact bytes a checkpoint signature covers."""
    return CHECKPOINT_DOMAIN + canonical_json({"seq": seq, "hash": chain_hash, "at": at}).encode("utf-8")
