"""JSON Lines export of a range and its offline verification from the file alone."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from rodistaa.acs.audit import (
    TamperKind,
    append_standalone,
    create_checkpoint,
    export_jsonl,
    verify_chain,
    verify_export_file,
)
from rodistaa.acs.audit.export import EXPORT_FORMAT
from rodistaa.acs.audit.tables import audit_log
from rodistaa.db.engine import Database
from rodistaa.security.kms import LocalKms
from tests.acs.audit.conftest import StepClock, tampering
from tests.acs.audit.helpers import draft


async def _chain_with_checkpoints(db: Database, kms: LocalKms, clock: StepClock) -> None:
    """10 entries, checkpoints at 4 and 8."""
    for n in range(1, 11):
        await append_standalone(db, draft(n), now=clock.now())
        if n in (4, 8):
            assert await create_checkpoint(db, kms, now=clock.now()) is not None


async def _export(db: Database, kms: LocalKms, clock: StepClock, path: Path, **range_: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        await export_jsonl(db, kms, out, now=clock.now(), page_size=3, **range_)
    return path


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, objects: list[dict[str, Any]]) -> None:
    text = "".join(
        json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for obj in objects
    )
    path.write_text(text, encoding="utf-8")


def _replace_in_line(path: Path, index: int, old: str, new: str) -> None:
    raw = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert old in raw[index]
    raw[index] = raw[index].replace(old, new)
    path.write_text("".join(raw), encoding="utf-8")


class TestExport:
    async def test_full_export_verifies_offline(
        self, db: Database, kms: LocalKms, clock: StepClock, tmp_path: Path
    ) -> None:
        await _chain_with_checkpoints(db, kms, clock)
        path = await _export(db, kms, clock, tmp_path / "audit.jsonl")
        lines = _read(path)
        header, entries, checkpoints = lines[0], lines[1:11], lines[11:]
        assert (header["format"], header["fromSeq"], header["toSeq"], header["entries"]) == (
            EXPORT_FORMAT,
            1,
            10,
            10,
        )
        assert header["publicKeys"] == {
            "test-kms/v1": base64.b64encode((await kms.public_keys())["test-kms/v1"]).decode()
        }
        assert [entry["seq"] for entry in entries] == list(range(1, 11))
        assert [cp["checkpoint"]["seq"] for cp in checkpoints] == [4, 8]
        # Each entry line carries what is needed to recompute its hash by hand.
        entry = entries[4]
        body = {key: value for key, value in entry.items() if key != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(
            b"rodistaa-audit-v1\n" + entry["prevHash"].encode() + canonical.encode()
        ).hexdigest()
        assert digest == entry["hash"]

        trusted = await kms.public_keys()
        report = verify_export_file(path, trusted)
        online = await verify_chain(db, kms)
        assert report.ok, report
        assert (report.count, report.last_seq, report.last_hash, report.checkpoints) == (
            10,
            10,
            online.last_hash,
            2,
        )
        assert report.notes == ()
        untrusted = verify_export_file(path)
        assert untrusted.ok and any("no trusted keys" in note for note in untrusted.notes)

    async def test_a_range_not_starting_at_one_takes_its_anchor_as_given(
        self, db: Database, kms: LocalKms, clock: StepClock, tmp_path: Path
    ) -> None:
        await _chain_with_checkpoints(db, kms, clock)
        path = await _export(db, kms, clock, tmp_path / "range.jsonl", from_seq=3, to_seq=8)
        lines = _read(path)
        assert (lines[0]["fromSeq"], lines[0]["toSeq"], lines[0]["entries"], lines[0]["checkpoints"]) == (
            3,
            8,
            6,
            2,
        )
        report = verify_export_file(path, await kms.public_keys())
        assert (report.ok, report.count, report.last_seq, report.checkpoints) == (True, 6, 8, 2)
        assert any("taken as given" in note for note in report.notes)

    async def test_an_empty_range_exports_a_header_only(
        self, db: Database, kms: LocalKms, clock: StepClock, tmp_path: Path
    ) -> None:
        path = await _export(db, kms, clock, tmp_path / "empty.jsonl")
        assert len(_read(path)) == 1
        report = verify_export_file(path, await kms.public_keys())
        assert (report.ok, report.count) == (True, 0)

    async def test_tampered_database_shows_in_the_export(
        self, db: Database, kms: LocalKms, clock: StepClock, tmp_path: Path
    ) -> None:
        await _chain_with_checkpoints(db, kms, clock)
        async with tampering(db) as conn:
            await conn.execute(update(audit_log).where(audit_log.c.seq == 6).values(data="not json"))
        path = await _export(db, kms, clock, tmp_path / "audit.jsonl")
        report = verify_export_file(path, await kms.public_keys())
        assert (report.first_bad_seq, report.kind) == (6, TamperKind.MODIFIED)


@pytest.fixture
async def exported(db: Database, kms: LocalKms, clock: StepClock, tmp_path: Path) -> Path:
    await _chain_with_checkpoints(db, kms, clock)
    return await _export(db, kms, clock, tmp_path / "audit.jsonl")


class TestTamperedFile:
    async def test_one_modified_line(self, exported: Path, kms: LocalKms) -> None:
        lines = _read(exported)
        lines[5]["data"]["n"] = 99  # the entry with seq 5
        _write(exported, lines)
        report = verify_export_file(exported, await kms.public_keys())
        assert (report.ok, report.first_bad_seq, report.kind, report.count) == (
            False,
            5,
            TamperKind.MODIFIED,
            4,
        )

    async def test_one_byte_changed_in_the_raw_text(self, exported: Path, kms: LocalKms) -> None:
        _replace_in_line(exported, 3, '"outcome":"ALLOW"', '"outcome":"ALLOX"')
        report = verify_export_file(exported, await kms.public_keys())
        assert (report.first_bad_seq, report.kind) == (3, TamperKind.MODIFIED)

    async def test_deleted_line(self, exported: Path, kms: LocalKms) -> None:
        lines = _read(exported)
        del lines[7]
        _write(exported, lines)
        report = verify_export_file(exported, await kms.public_keys())
        assert (report.first_bad_seq, report.kind) == (7, TamperKind.MISSING)

    async def test_swapped_lines(self, exported: Path, kms: LocalKms) -> None:
        lines = _read(exported)
        lines[2], lines[3] = lines[3], lines[2]
        _write(exported, lines)
        report = verify_export_file(exported, await kms.public_keys())
        assert (report.first_bad_seq, report.kind) == (2, TamperKind.REORDERED)

    async def test_cut_tail(self, exported: Path, kms: LocalKms) -> None:
        lines = _read(exported)
        _write(exported, [line for line in lines if line.get("seq", 0) <= 7 and "checkpoint" not in line])
        report = verify_export_file(exported, await kms.public_keys())
        assert (report.first_bad_seq, report.kind) == (8, TamperKind.TRUNCATED)

    async def test_forged_checkpoint_signature(self, exported: Path, kms: LocalKms) -> None:
        lines = _read(exported)
        signature = bytearray(base64.b64decode(lines[-1]["checkpoint"]["signature"]))
        signature[0] ^= 0x80
        lines[-1]["checkpoint"]["signature"] = base64.b64encode(bytes(signature)).decode()
        _write(exported, lines)
        report = verify_export_file(exported, await kms.public_keys())
        assert (report.first_bad_seq, report.kind) == (8, TamperKind.BAD_SIGNATURE)

    async def test_wrong_trusted_key(self, exported: Path) -> None:
        stranger = await LocalKms("test-kms", {1: bytes(32)}).public_keys()
        report = verify_export_file(exported, stranger)
        assert (report.first_bad_seq, report.kind) == (4, TamperKind.BAD_SIGNATURE)

    async def test_substituted_file_key_is_not_trusted(self, exported: Path, kms: LocalKms) -> None:
        # A forger re-signs nothing but swaps the header key: the trusted key still decides.
        lines = _read(exported)
        stranger = await LocalKms("test-kms", {1: bytes(32)}).public_keys()
        lines[0]["publicKeys"] = {ref: base64.b64encode(key).decode() for ref, key in stranger.items()}
        _write(exported, lines)
        report = verify_export_file(exported, await kms.public_keys())
        assert report.kind is TamperKind.BAD_SIGNATURE
        assert "not trusted" in report.detail

    @pytest.mark.parametrize("content", ["", "not json\n", '{"format":"something-else"}\n'])
    def test_not_an_export(self, tmp_path: Path, content: str) -> None:
        path = tmp_path / "x.jsonl"
        path.write_text(content, encoding="utf-8")
        report = verify_export_file(path)
        assert (report.ok, report.kind) == (False, TamperKind.MALFORMED)
