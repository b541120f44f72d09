"""The `idempotency-purge` job: registered with the worker, deletes expired records only."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from rodistaa.core.ids import new_id
from rodistaa.idempotency import repo
from rodistaa.idempotency.jobs import purge_expired
from rodistaa.jobs.registry import build_registry
from tests.conftest import Harness
from tests.idempotency.flows import records


async def insert_record(h: Harness, key: str, *, expires_in: timedelta) -> None:
    now = h.clock.now()
    claim = repo.NewClaim(
        id=new_id("IDEM"),
        principal="user:USR-OP-TEST",
        idempotency_key=key,
        method="POST",
        path="/v1/bids",
        request_hash="0" * 64,
        created_at=now - timedelta(hours=24) + expires_in,
        expires_at=now + expires_in,
    )
    async with h.app.state.services.db.transaction() as conn:
        assert await repo.insert_claim(conn, claim)


class TestPurge:
    def test_the_worker_runs_it_hourly(self) -> None:
        settings = SimpleNamespace(worker_intervals="", acs_events_retention_days=180)
        jobs = {job.name: job.interval_s for job in build_registry(settings)}
        assert jobs["idempotency-purge"] == 3600

    async def test_deletes_expired_records_only_in_batches(self, harness: Harness) -> None:
        h = harness
        for n in range(5):
            await insert_record(h, f"old-{n}", expires_in=-timedelta(hours=1, minutes=n))
        await insert_record(h, "just-expired", expires_in=timedelta(0))
        await insert_record(h, "live", expires_in=timedelta(seconds=1))
        await insert_record(h, "fresh", expires_in=timedelta(hours=24))

        result = await purge_expired(h.app.state.services, batch=2)

        assert result.summary() == {"job": "idempotency-purge", "deleted": 6}
        assert sorted(r["idempotency_key"] for r in await records(h)) == ["fresh", "live"]
        again = await purge_expired(h.app.state.services, batch=2)
        assert again.deleted == 0
