"""Export a range of the chain as JSON Lines, and verify such a file offline.

File layout (every line canonical JSON):

1. header ``{"format": "rodistaa-audit-export-v1", "fromSeq", "toSeq", "entries",
   "checkpoints", "exportedAt", "publicKeys": {key_ref: base64 raw Ed25519 key}}``;
2. one line per entry: the canonical entry in API names with its ``hash`` (so anyone can
   recompute the hash from the line itself);
3. one line per checkpoint inside the range: ``{"checkpoint": {seq, hash, at, keyRef,
   signature}}``.

`verify_export_file` needs nothing but the file (and optionally the public keys you trust):
it runs the same link-by-link checker as the database verifier. A range that does not start
at seq 1 cannot be anchored to genesis; its first prevHash is taken as given and the report
says so. The public keys in the file only prove self-consistency; pass `trusted_public_keys`
(obtained out of band) to prove who signed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import repo
from rodistaa.acs.audit.canonical import GENESIS_HASH, canonical_json, format_timestamp
from rodistaa.acs.audit.checker import ChainChecker, Finding
from rodistaa.acs.audit.models import AuditEntry, Checkpoint, TamperKind, VerifyReport
from rodistaa.acs.audit.tables import audit_checkpoints, audit_log
from rodistaa.db.engine import Database
from rodistaa.security.kms import KmsProvider, verify_with_public_key

EXPORT_FORMAT: Final = "rodistaa-audit-export-v1"
PAGE_SIZE: Final = 1000


@dataclass(frozen=True, slots=True)
class ExportSummary:
    from_seq: int
    to_seq: int | None
    entries: int
    checkpoints: int


class _MalformedExport(Exception):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")


# -- export -------------------------------------------------------------------------------


async def export_jsonl(
    db: Database,
    kms: KmsProvider,
    out: IO[str],
    *,
    from_seq: int = 1,
    to_seq: int | None = None,
    now: datetime,
    page_size: int = PAGE_SIZE,
) -> ExportSummary:
    """Write entries from_seq..to_seq (to the end when None) and their checkpoints to `out`,
    from one consistent snapshot, one page in memory at a time."""
    if from_seq < 1 or (to_seq is not None and to_seq < from_seq):
        raise ValueError("need 1 <= from_seq <= to_seq")
    public_keys = await kms.public_keys()
    async with repo.snapshot(db) as conn:
        tip = await repo.last_entry(conn)
        end = min(to_seq, tip[0]) if tip and to_seq is not None else (tip[0] if tip else None)
        summary = await _count(conn, from_seq, end)
        out.write(_header_line(summary, public_keys, now) + "\n")
        await _write_entries(conn, out, from_seq=from_seq, end=summary.to_seq, page_size=page_size)
        await _write_checkpoints(conn, out, from_seq=from_seq, end=summary.to_seq, page_size=page_size)
    return summary


async def _count(conn: AsyncConnection, from_seq: int, end: int | None) -> ExportSummary:
    if end is None or end < from_seq:
        return ExportSummary(from_seq, None, 0, 0)
    entries = select(func.count()).select_from(audit_log).where(audit_log.c.seq.between(from_seq, end))
    checkpoints = (
        select(func.count())
        .select_from(audit_checkpoints)
        .where(audit_checkpoints.c.seq.between(from_seq, end))
    )
    return ExportSummary(
        from_seq,
        end,
        int((await conn.execute(entries)).scalar_one()),
        int((await conn.execute(checkpoints)).scalar_one()),
    )


def _header_line(summary: ExportSummary, public_keys: dict[str, bytes], now: datetime) -> str:
    return canonical_json(
        {
            "format": EXPORT_FORMAT,
            "fromSeq": summary.from_seq,
            "toSeq": summary.to_seq,
            "entries": summary.entries,
            "checkpoints": summary.checkpoints,
            "exportedAt": format_timestamp(now),
            "publicKeys": {ref: base64.b64encode(key).decode("ascii") for ref, key in public_keys.items()},
        }
    )


async def _write_entries(
    conn: AsyncConnection, out: IO[str], *, from_seq: int, end: int | None, page_size: int
) -> None:
    if end is None:
        return
    after = from_seq - 1
    while page := await repo.entries_page(conn, after_seq=after, to_seq=end, limit=page_size):
        out.writelines(_entry_line(entry) + "\n" for entry in page)
        after = page[-1].seq


def _entry_line(entry: AuditEntry) -> str:
    try:
        return canonical_json(entry.to_dict())
    except ValueError:
        # Stored data that is not JSON is exported as the string it is; its hash will not match,
        # which is what an offline verifier must see.
        return canonical_json({**entry.body_with_data(entry.data_json), "hash": entry.hash})


async def _write_checkpoints(
    conn: AsyncConnection, out: IO[str], *, from_seq: int, end: int | None, page_size: int
) -> None:
    if end is None:
        return
    first = from_seq
    while first <= end:
        last = min(end, first + page_size - 1)
        for checkpoint in await repo.checkpoints_between(conn, first, last):
            out.write(canonical_json({"checkpoint": checkpoint.to_dict()}) + "\n")
        first = last + 1


# -- offline verification -----------------------------------------------------------------


@dataclass(slots=True)
class _Inventory:
    """What a first pass over the file learns: header, checkpoints and the first entry."""

    header: dict[str, Any]
    checkpoints: dict[int, Checkpoint]
    first_prev_hash: str | None
    entry_lines: int


def verify_export_file(path: Path, trusted_public_keys: dict[str, bytes] | None = None) -> VerifyReport:
    """Verify an export from the file alone. Never raises for tampering: the report says what
    is wrong (kinds as for `verify_chain`; ``malformed`` when the file is not an export)."""
    try:
        inventory = _inventory(path)
        file_keys = _file_keys(inventory.header)
    except _MalformedExport as exc:
        return _malformed(str(exc))
    from_seq = inventory.header["fromSeq"]
    to_seq = inventory.header["toSeq"]
    notes: list[str] = []
    anchor = GENESIS_HASH
    if from_seq != 1 and inventory.first_prev_hash is not None:
        anchor = inventory.first_prev_hash
        notes.append(f"range starts at seq {from_seq}: the prevHash of its first entry is taken as given")
    if trusted_public_keys is None:
        notes.append("signatures checked against the keys in the file only (no trusted keys given)")
    keys = trusted_public_keys if trusted_public_keys is not None else file_keys
    checker = ChainChecker(from_seq=from_seq, anchor_hash=anchor)
    finding = _walk_file(path, checker, inventory, keys)
    if finding is None:
        finding = _check_file_end(checker, inventory, keys, to_seq=to_seq)
    if finding is None and trusted_public_keys is not None:
        finding = _untrusted_key(file_keys, trusted_public_keys)
    return checker.report(finding, to_seq=to_seq, notes=tuple(notes))


def _inventory(path: Path) -> _Inventory:
    header: dict[str, Any] | None = None
    checkpoints: dict[int, Checkpoint] = {}
    first_prev_hash: str | None = None
    entry_lines = 0
    for lineno, obj in _lines(path):
        if header is None:
            header = _parse_header(lineno, obj)
        elif "checkpoint" in obj:
            checkpoint = _parse_checkpoint(lineno, obj)
            if checkpoint.seq in checkpoints:
                raise _MalformedExport(lineno, f"second checkpoint for seq {checkpoint.seq}")
            checkpoints[checkpoint.seq] = checkpoint
        elif checkpoints:
            raise _MalformedExport(lineno, "entry after the checkpoints")
        else:
            entry_lines += 1
            if first_prev_hash is None and isinstance(obj.get("prevHash"), str):
                first_prev_hash = obj["prevHash"]
    if header is None:
        raise _MalformedExport(1, "empty file")
    return _Inventory(header, checkpoints, first_prev_hash, entry_lines)


def _lines(path: Path, *, start: int = 1) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line from `start`; malformed JSON raises."""
    with path.open("r", encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if lineno < start or not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise _MalformedExport(lineno, "not JSON") from None
            if not isinstance(obj, dict):
                raise _MalformedExport(lineno, "not a JSON object")
            yield lineno, obj


def _parse_header(lineno: int, obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("format") != EXPORT_FORMAT:
        raise _MalformedExport(lineno, f"first line is not a {EXPORT_FORMAT} header")
    from_seq, to_seq = obj.get("fromSeq"), obj.get("toSeq")
    if not isinstance(from_seq, int) or from_seq < 1 or not (to_seq is None or isinstance(to_seq, int)):
        raise _MalformedExport(lineno, "header fromSeq/toSeq are not sequence numbers")
    if not isinstance(obj.get("publicKeys"), dict) or not isinstance(obj.get("entries"), int):
        raise _MalformedExport(lineno, "header lacks publicKeys or entries")
    return obj


def _parse_checkpoint(lineno: int, obj: dict[str, Any]) -> Checkpoint:
    try:
        return Checkpoint.from_dict(obj["checkpoint"])
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise _MalformedExport(lineno, f"unreadable checkpoint ({exc})") from None


def _file_keys(header: dict[str, Any]) -> dict[str, bytes]:
    try:
        return {str(ref): base64.b64decode(key, validate=True) for ref, key in header["publicKeys"].items()}
    except (TypeError, ValueError) as exc:
        raise _MalformedExport(1, f"unreadable public key ({exc})") from None


def _walk_file(
    path: Path, checker: ChainChecker, inventory: _Inventory, keys: dict[str, bytes]
) -> Finding | None:
    try:
        for lineno, obj in _lines(path, start=2):
            if "checkpoint" in obj:
                break
            finding = _check_line(path, checker, lineno, obj)
            checkpoint = inventory.checkpoints.get(checker.last_seq)
            if finding is None and checkpoint is not None and checker.count:
                finding = checker.check_checkpoint(checkpoint, signature_ok=_signed(checkpoint, keys))
            if finding is not None:
                return finding
    except _MalformedExport as exc:
        return Finding(checker.expected_seq, TamperKind.MODIFIED, str(exc))
    return None


def _check_line(path: Path, checker: ChainChecker, lineno: int, obj: dict[str, Any]) -> Finding | None:
    try:
        entry = AuditEntry.from_dict(obj)
    except (KeyError, TypeError, ValueError) as exc:
        return Finding(checker.expected_seq, TamperKind.MODIFIED, f"line {lineno}: not an entry ({exc})")
    finding = checker.check_entry(entry)
    if finding is None or finding.seq is None:
        return finding
    if finding.kind is TamperKind.INSERTED and finding.seq == entry.seq:
        confirmed = _next_line_links_to(path, entry, start=lineno + 1)
        return checker.blame_previous(finding) if confirmed else finding
    if finding.kind is TamperKind.MISSING:
        later = _line_of_seq(path, finding.seq, start=lineno + 1)
        if later is not None:
            return Finding(
                finding.seq,
                TamperKind.REORDERED,
                f"seq {finding.seq} appears on line {later}, after seq {entry.seq} on line {lineno}",
            )
    return finding


def _next_line_links_to(path: Path, entry: AuditEntry, *, start: int) -> bool:
    """True when the next line is the entry after `entry` and names its hash."""
    following = next(_lines(path, start=start), None)
    if following is None:
        return False
    _, obj = following
    return obj.get("seq") == entry.seq + 1 and obj.get("prevHash") == entry.hash


def _line_of_seq(path: Path, seq: int, *, start: int) -> int | None:
    for lineno, obj in _lines(path, start=start):
        if "checkpoint" not in obj and obj.get("seq") == seq:
            return lineno
    return None


def _signed(checkpoint: Checkpoint, keys: dict[str, bytes]) -> bool:
    key = keys.get(checkpoint.key_ref)
    return key is not None and verify_with_public_key(key, checkpoint.message, checkpoint.signature)


def _check_file_end(
    checker: ChainChecker, inventory: _Inventory, keys: dict[str, bytes], *, to_seq: int | None
) -> Finding | None:
    beyond = sorted(seq for seq in inventory.checkpoints if seq > checker.last_seq)
    if beyond:
        checkpoint = inventory.checkpoints[beyond[0]]
        return checker.check_checkpoint_beyond_end(checkpoint, signature_ok=_signed(checkpoint, keys))
    if to_seq is not None and checker.last_seq < to_seq:
        return Finding(
            checker.expected_seq,
            TamperKind.TRUNCATED,
            f"the file ends at seq {checker.last_seq}; its header announces entries to seq {to_seq}",
        )
    if inventory.entry_lines != inventory.header["entries"]:
        return Finding(
            checker.expected_seq,
            TamperKind.INSERTED,
            f"the file holds {inventory.entry_lines} entries; "
            f"its header announces {inventory.header['entries']}",
        )
    return None


def _untrusted_key(file_keys: dict[str, bytes], trusted: dict[str, bytes]) -> Finding | None:
    for ref, key in sorted(file_keys.items()):
        if trusted.get(ref) != key:
            return Finding(
                None, TamperKind.BAD_SIGNATURE, f"the file carries public key {ref!r}, which is not trusted"
            )
    return None


def _malformed(problem: str) -> VerifyReport:
    return VerifyReport(
        ok=False, count=0, last_seq=None, last_hash=None, kind=TamperKind.MALFORMED, detail=problem
    )
