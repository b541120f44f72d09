"""Value types of the audit chain: drafts, stored entries, checkpoints, verification reports."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from rodistaa.acs.audit.canonical import canonical_json, checkpoint_message, entry_hash


@dataclass(frozen=True, slots=True)
class AuditEntryDraft:
    """What a caller wants recorded; `append` adds seq, id, time and the hashes.

    `data` holds ids, hashes and numbers only (personal data is refused by `append`).
    """

    actor: str
    action: str
    entity_type: str
    entity_id: str
    data: dict[str, Any] = field(default_factory=dict)
    rule_id: str | None = None
    rule_version: int | None = None
    bundle_revision: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry as stored. `data_json` is the exact stored (canonical) text of `data`."""

    seq: int
    id: str
    at: str
    actor: str
    action: str
    entity_type: str
    entity_id: str
    rule_id: str | None
    rule_version: int | None
    bundle_revision: str | None
    data_json: str
    prev_hash: str
    hash: str

    @property
    def data(self) -> Any:
        return json.loads(self.data_json)

    def body(self) -> dict[str, Any]:
        """The hashed entry in API names, without `hash`. ValueError if `data_json` is not JSON."""
        return self.body_with_data(self.data)

    def body_with_data(self, data: Any) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "entityType": self.entity_type,
            "entityId": self.entity_id,
            "ruleId": self.rule_id,
            "ruleVersion": self.rule_version,
            "bundleRevision": self.bundle_revision,
            "data": data,
            "prevHash": self.prev_hash,
        }

    def to_dict(self) -> dict[str, Any]:
        """The entry with its hash, as the API and the export show it."""
        return {**self.body(), "hash": self.hash}

    def computed_hash(self) -> str:
        """Recomputed from the contents; ValueError when `data_json` is not canonical JSON
        (re-serialising is not enough: the stored bytes themselves must be canonical)."""
        body = self.body()
        if canonical_json(body["data"]) != self.data_json:
            raise ValueError("stored data is not canonical JSON")
        return entry_hash(body)

    def at_seq(self, seq: int) -> AuditEntry:
        return replace(self, seq=seq)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> AuditEntry:
        """From API names (an export line). KeyError/TypeError/ValueError when malformed."""
        rule_version = value["ruleVersion"]
        if not isinstance(value["seq"], int) or not (rule_version is None or isinstance(rule_version, int)):
            raise TypeError("seq and ruleVersion must be integers")
        texts = [value[name] for name in ("id", "at", "actor", "action", "entityType", "entityId")]
        texts += [value["prevHash"], value["hash"]]
        if not all(isinstance(text, str) for text in texts):
            raise TypeError("text fields must be strings")
        return cls(
            seq=value["seq"],
            id=value["id"],
            at=value["at"],
            actor=value["actor"],
            action=value["action"],
            entity_type=value["entityType"],
            entity_id=value["entityId"],
            rule_id=value["ruleId"],
            rule_version=rule_version,
            bundle_revision=value["bundleRevision"],
            data_json=canonical_json(value["data"]),
            prev_hash=value["prevHash"],
            hash=value["hash"],
        )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that the chain had `hash` at position `seq` (time `at`)."""

    seq: int
    hash: str
    at: str
    key_ref: str
    signature: bytes

    @property
    def message(self) -> bytes:
        return checkpoint_message(self.seq, self.hash, self.at)

    @property
    def signature_b64(self) -> str:
        return base64.b64encode(self.signature).decode("ascii")

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "keyRef": self.key_ref,
            "signature": self.signature_b64,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Checkpoint:
        """KeyError/TypeError/ValueError when malformed."""
        if not isinstance(value["seq"], int):
            raise TypeError("checkpoint seq must be an integer")
        fields = (value["hash"], value["at"], value["keyRef"], value["signature"])
        if not all(isinstance(text, str) for text in fields):
            raise TypeError("checkpoint fields must be strings")
        signature = base64.b64decode(value["signature"], validate=True)
        return cls(value["seq"], value["hash"], value["at"], value["keyRef"], signature)


class TamperKind(StrEnum):
    MODIFIED = "modified"  # an entry's contents no longer match its hash
    MISSING = "missing"  # a seq is absent from the middle of the chain
    INSERTED = "inserted"  # a self-consistent entry that does not link, or one beyond the head
    REORDERED = "reordered"  # an intact entry stored at another position than it was written at
    BAD_SIGNATURE = "bad_signature"  # a checkpoint signature does not verify (or untrusted key)
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # chain hash at a checkpoint's seq differs
    TRUNCATED = "truncated"  # the chain ends before a checkpoint or the recorded head
    MALFORMED = "malformed"  # an export file that cannot be read as one


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of a verification. On failure `first_bad_seq` and `kind` say where and what;
    `count`, `last_seq` and `last_hash` describe the entries verified before it."""

    ok: bool
    count: int
    last_seq: int | None
    last_hash: str | None
    first_bad_seq: int | None = None
    kind: TamperKind | None = None
    detail: str = ""
    from_seq: int = 1
    to_seq: int | None = None
    checkpoints: int = 0
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "count": self.count,
            "lastSeq": self.last_seq,
            "lastHash": self.last_hash,
            "firstBadSeq": self.first_bad_seq,
            "kind": self.kind.value if self.kind else None,
            "detail": self.detail,
            "fromSeq": self.from_seq,
            "toSeq": self.to_seq,
            "checkpoints": self.checkpoints,
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class StoredVerification:
    """A recorded verification run (the admin endpoint reports the newest)."""

    id: str
    verified_at: datetime
    report: VerifyReport
