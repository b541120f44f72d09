"""`audit-verify`: the periodic chain verification records its result and publishes it in the
`audit_last_verification_ok` gauge that the alert reads; tampering shows as a failed result."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from prometheus_client import REGISTRY

from rodistaa.acs.audit import AuditEntryDraft, append, last_verification
from rodistaa.db import migrate
from rodistaa.jobs.registry import audit_verify
from tests.conftest import Harness, make_settings, running_app


def gauge_ok() -> float | None:
    return REGISTRY.get_sample_value("audit_last_verification_ok")


async def append_entries(h: Harness, count: int) -> None:
    services = h.app.state.services
    for i in range(count):
        async with services.db.transaction() as conn:
            draft = AuditEntryDraft("system:test", "test.entry", "test", f"entry-{i}", {"n": i})
            await append(conn, draft, now=h.clock.now())


async def test_an_intact_chain_is_recorded_as_verified(harness: Harness) -> None:
    await append_entries(harness, 3)
    summary = (await audit_verify(harness.app.state.services)).summary()
    assert summary["ok"] is True and summary["firstBadSeq"] is None
    assert isinstance(summary["entries"], int) and summary["entries"] >= 3
    stored = await last_verification(harness.app.state.services.db)
    assert stored is not None and stored.report.ok
    assert gauge_ok() == 1.0


async def test_a_modified_entry_is_recorded_as_a_failed_verification(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(migrate.upgrade, url)  # alembic runs its own event loop
    async with running_app(make_settings(url)) as h:
        await append_entries(h, 3)
        conn = sqlite3.connect(path)
        try:
            conn.execute("DROP TRIGGER audit_log_no_update")
            conn.execute("UPDATE audit_log SET data = '{\"n\": 99}' WHERE seq = 2")
            conn.commit()
        finally:
            conn.close()
        summary = (await audit_verify(h.app.state.services)).summary()
        assert (summary["ok"], summary["firstBadSeq"]) == (False, 2)
        stored = await last_verification(h.app.state.services.db)
        assert stored is not None and not stored.report.ok
        assert gauge_ok() == 0.0
