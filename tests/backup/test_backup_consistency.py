"""A backup taken while the app keeps writing is one consistent state: the manifest's row
counts and audit head describe exactly the copied database (PostgreSQL: one exported snapshot
shared by the facts and pg_dump; SQLite: the online backup API, facts read from the copy).

Real concurrent writers append to the audit chain during the whole backup; the restored copy
must verify against its manifest, and the chain must have grown while the backup ran.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rodistaa.acs.audit import AuditEntryDraft, append_standalone
from rodistaa.backup.create import create_backup
from rodistaa.backup.restore import restore_backup
from rodistaa.backup.verify import verify_restore
from rodistaa.db import migrate
from rodistaa.db.engine import Database, create_engine
from rodistaa.security.kms import build_kms
from tests.conftest import make_settings
from tests.databases import BACKENDS, fresh_database, require_backend

WRITERS = 2
WARM_UP_ENTRIES = 20


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_backup_taken_while_the_chain_grows_matches_its_manifest(backend: str, tmp_path: Path) -> None:
    require_backend(backend)
    with fresh_database(backend, tmp_path) as source, fresh_database(backend, tmp_path) as target:
        migrate.upgrade(source)
        asyncio.run(_backup_during_writes(source, target, tmp_path))


async def _backup_during_writes(source: str, target: str, tmp_path: Path) -> None:
    settings = make_settings(source, storage_local_dir=str(tmp_path / "storage"))
    db = Database(create_engine(source))
    appended = [0]
    warmed_up, stop = asyncio.Event(), asyncio.Event()

    async def writer(number: int) -> None:
        while not stop.is_set():
            draft = AuditEntryDraft(f"system:writer-{number}", "test.written", "booking", f"BK-{number}", {})
            await append_standalone(db, draft, now=datetime.now(UTC))
            appended[0] += 1
            if appended[0] >= WARM_UP_ENTRIES:
                warmed_up.set()

    tasks = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    try:
        await warmed_up.wait()
        before = appended[0]
        created = await create_backup(settings, out_dir=tmp_path / "backups", now=datetime.now(UTC))
        after = appended[0]
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await db.dispose()

    in_backup = created.manifest.database.row_counts["audit_log"]
    # The counter moves just after each commit: it may lag the committed entries by one per writer.
    assert before <= in_backup <= after + WRITERS
    assert after > before, "no entry was appended while the backup ran: the test proves nothing"
    head = created.manifest.database.audit_head
    assert head is not None and head.seq == in_backup

    await restore_backup(created.path, database_url=target, storage_dir=tmp_path / "restored")
    outcome = await verify_restore(
        created.path, database_url=target, storage_dir=tmp_path / "restored", kms=build_kms(settings)
    )
    assert outcome.ok, outcome.checks
