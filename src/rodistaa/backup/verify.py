"""`rodistaa backup verify`: does a restored database (and storage) hold what the backup says?

Checks, each reported on its own line: the backup's own files still match their hashes; the
database is of the backup's kind and at its migration revision; every table is there with the
manifest's row count; the audit chain verifies link by link with every checkpoint signature
(the `rodistaa audit verify` code, `verify_chain`); the chain's head and latest checkpoint are
the ones the backup recorded; every stored file is back with its hash.

Verification only reads. `audit_verifications` may hold more rows than the manifest says (at
least as many): verifying the restored chain, as the runbook does, records itself there.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from rodistaa.acs.audit import VerifyReport, verify_chain
from rodistaa.acs.audit.tables import audit_log, audit_verifications
from rodistaa.backup.facts import collect_facts
from rodistaa.backup.manifest import (
    FILES_DIR,
    DatabaseFacts,
    Manifest,
    database_kind,
    integrity_problems,
    read_manifest,
    sha256_file,
)
from rodistaa.db.engine import Database, create_engine
from rodistaa.security.kms import KmsProvider

_GROWS_BY_VERIFYING: Final = frozenset({audit_verifications.name})
_SHOWN: Final = 5


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


async def verify_restore(
    backup: Path, *, database_url: str, storage_dir: Path, kms: KmsProvider
) -> VerifyOutcome:
    """Compare the database at `database_url` and the files in `storage_dir` with `backup`.
    Never raises for a mismatch (it is a failed check); BackupRefused when `backup` is not one."""
    manifest = await asyncio.to_thread(read_manifest, backup)
    checks = [await asyncio.to_thread(_integrity, backup, manifest)]
    kind = database_kind(database_url)
    if kind != manifest.database_kind:
        detail = f"the backup is {manifest.database_kind}, the database is {kind}"
        return VerifyOutcome([*checks, Check("database kind", False, detail)])
    facts, report = await _read_database(database_url, kms)
    expected = manifest.database
    checks += [
        _revision(expected, facts),
        _row_counts(expected, facts),
        _audit_chain(report),
        _equal("audit head", expected.audit_head, facts.audit_head),
        _equal("latest checkpoint", expected.latest_checkpoint, facts.latest_checkpoint),
        await asyncio.to_thread(_stored_files, manifest, storage_dir),
    ]
    return VerifyOutcome(checks)


async def _read_database(database_url: str, kms: KmsProvider) -> tuple[DatabaseFacts, VerifyReport | None]:
    db = Database(create_engine(database_url, pool_size=1, max_overflow=0))
    try:
        async with db.read() as conn:
            facts = await collect_facts(conn)
        if audit_log.name not in facts.row_counts:
            return facts, None
        return facts, await verify_chain(db, kms)
    finally:
        await db.dispose()


def _integrity(backup: Path, manifest: Manifest) -> Check:
    problems = integrity_problems(backup, manifest)
    if problems:
        return Check("backup files", False, _listed(problems))
    return Check("backup files", True, f"{len(manifest.files)} files match their SHA-256")


def _revision(expected: DatabaseFacts, actual: DatabaseFacts) -> Check:
    ok = expected.alembic_revision == actual.alembic_revision
    detail = f"{actual.alembic_revision}" + ("" if ok else f", the backup has {expected.alembic_revision}")
    return Check("migration revision", ok, detail)


def _row_counts(expected: DatabaseFacts, actual: DatabaseFacts) -> Check:
    problems = [f"{name}: missing" for name in sorted(expected.row_counts.keys() - actual.row_counts.keys())]
    problems += [
        f"{name}: not in the backup" for name in sorted(actual.row_counts.keys() - expected.row_counts)
    ]
    for name, count in sorted(expected.row_counts.items()):
        restored = actual.row_counts.get(name)
        if restored is None or restored == count or (name in _GROWS_BY_VERIFYING and restored > count):
            continue
        problems.append(f"{name}: {restored} rows, the backup has {count}")
    if problems:
        return Check("row counts", False, _listed(problems))
    rows = sum(expected.row_counts.values())
    return Check("row counts", True, f"{len(expected.row_counts)} tables, {rows} rows as in the backup")


def _audit_chain(report: VerifyReport | None) -> Check:
    if report is None:
        return Check("audit chain", False, "the database has no audit_log table")
    if report.ok:
        detail = (
            f"{report.count} entries, last seq {report.last_seq}, {report.checkpoints} checkpoints verified"
        )
        return Check("audit chain", True, detail)
    kind = report.kind.value if report.kind else "unknown"
    return Check("audit chain", False, f"FAILED at seq {report.first_bad_seq}: {kind}: {report.detail}")


def _equal(name: str, expected: object, actual: object) -> Check:
    if expected == actual:
        return Check(name, True, "as in the backup" if expected is not None else "none, as in the backup")
    return Check(name, False, f"the database has {actual}, the backup has {expected}")


def _stored_files(manifest: Manifest, storage_dir: Path) -> Check:
    storage = manifest.storage
    if storage.backend == "s3":
        detail = f"kept in S3 bucket {storage.bucket} (its versioning is their backup); not checked"
        return Check("stored files", True, detail)
    problems = []
    for key in manifest.stored_keys():
        path = storage_dir / key
        if not path.is_file():
            problems.append(f"{key}: missing")
        elif sha256_file(path) != manifest.files[f"{FILES_DIR}/{key}"]:
            problems.append(f"{key}: SHA-256 differs from the backup")
    if problems:
        return Check("stored files", False, _listed(problems))
    return Check("stored files", True, f"{storage.file_count} files match their SHA-256")


def _listed(problems: list[str]) -> str:
    more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
    return "; ".join(problems[:_SHOWN]) + more
