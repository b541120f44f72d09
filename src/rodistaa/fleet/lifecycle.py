"""Applying the status machine (`fleet.status`) to stored trucks, inside the caller's
transaction: document uploads, the daily jobs, inspections (the inspections domain) and the
override that lifts a truck's block (the governance domain) all go through here.

Each function locks the truck, gathers its facts, computes the new status and stores it with a
claim (`UPDATE … WHERE status = :seen`). It returns the change, or None when nothing changed;
the caller writes the audit entry as the last statement of its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.core.errors import NotFound
from rodistaa.fleet import repo
from rodistaa.fleet.repo import TruckRecord
from rodistaa.fleet.status import TruckFacts, TruckStatus, recompute_status, status_after_inspection


@dataclass(frozen=True)
class StatusChange:
    truck_id: str
    operator_id: str
    before: TruckStatus
    after: TruckStatus

    def audit_data(self, reason: str) -> dict[str, str]:
        return {
            "from": self.before.value,
            "to": self.after.value,
            "reason": reason,
            "operatorId": self.operator_id,
        }


async def facts_for(
    conn: AsyncConnection, truck: TruckRecord, *, include_failures: bool = False
) -> TruckFacts:
    documents = (await repo.latest_documents(conn, [truck.id]))[truck.id]
    failed = await repo.failed_since(conn, truck.id, truck.last_inspected_at) if include_failures else False
    return TruckFacts(
        status=truck.status,
        blocked=truck.blocked,
        expiries={d.doc_type: d.expiry_date for d in documents},
        last_passed_at=truck.last_inspected_at,
        failed_since_pass=failed,
    )


async def _locked(conn: AsyncConnection, truck_id: str, now: datetime) -> TruckRecord:
    truck = await repo.get_truck(conn, truck_id, now=now, for_update=True)
    if truck is None:
        raise NotFound()
    return truck


async def sync_status(
    conn: AsyncConnection, truck_id: str, *, now: datetime, lift_block: bool = False
) -> StatusChange | None:
    """Recompute after documents, time or blocks changed. `lift_block=True` only from the
    override that lifted the truck's block (a stored BLOCKED never moves otherwise)."""
    truck = await _locked(conn, truck_id, now)
    facts = await facts_for(conn, truck, include_failures=lift_block)
    new = recompute_status(facts, now=now, lift_block=lift_block)
    if new is truck.status:
        return None
    if not await repo.claim_status(conn, truck.id, expected=truck.status, new=new, now=now):
        return None  # unreachable under the row lock; kept so a lost race never overwrites
    return StatusChange(truck.id, truck.operator_id, truck.status, new)


async def record_inspection_result(
    conn: AsyncConnection, truck_id: str, *, passed: bool, now: datetime
) -> StatusChange:
    """The status after an inspection completed at `now`; a pass also sets `last_inspected_at`
    (the start of the 120-day validity). Returns the change, `before == after` included."""
    truck = await _locked(conn, truck_id, now)
    facts = await facts_for(conn, truck)
    new = status_after_inspection(facts, passed=passed, now=now)
    await repo.claim_status(
        conn, truck.id, expected=truck.status, new=new, now=now, last_inspected_at=now if passed else None
    )
    return StatusChange(truck.id, truck.operator_id, truck.status, new)
