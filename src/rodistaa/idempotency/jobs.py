"""`idempotency-purge`: delete expired idempotency records. Expired records are already ignored
(a new claim replaces them), so the job only keeps the table small; safe on several workers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from rodistaa.http.services import Services
from rodistaa.idempotency import repo
from rodistaa.jobs.spec import ServiceJobSpec

PURGE_BATCH = 1000


@dataclass(frozen=True)
class PurgeSummary:
    deleted: int

    def summary(self) -> dict[str, object]:
        return {"job": "idempotency-purge", "deleted": self.deleted}


async def purge_expired(services: Services, *, batch: int = PURGE_BATCH) -> PurgeSummary:
    """Delete records whose `expires_at` has passed, in batches each in its own transaction so
    a large backlog never holds locks for long."""
    now = services.clock.now()
    deleted = 0
    while True:
        async with services.db.transaction() as conn:
            removed = await repo.purge_expired(conn, now=now, limit=batch)
        deleted += removed
        if removed < batch:
            return PurgeSummary(deleted)


JOBS: Mapping[str, ServiceJobSpec] = MappingProxyType(
    {
        "idempotency-purge": ServiceJobSpec(
            "idempotency-purge", "Delete idempotency records whose replay window has passed.", purge_expired
        )
    }
)
