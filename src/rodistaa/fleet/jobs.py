"""Fleet jobs, run daily by a scheduler through `rodistaa jobs run NAME`. Each is idempotent
(a second run changes nothing) and safe to run concurrently with itself and with the API:

* `document-expiry`: trucks with an expired or missing required document → EXPIRED_DOCS, and
  back to ACTIVE once every document is valid (blocked, retired, pending-inspection and
  needs-inspection trucks are left alone: see `fleet.status`).
* `inspection-due`: ACTIVE (and EXPIRED_DOCS) trucks whose last passed inspection is more than
  120 days old → NEEDS_INSPECTION.
* `expiry-notifications`: an in-app notification to the operator for each current document
  expiring within 7 days, once per document and expiry date.

Status changes are claims on the truck row under its lock (`fleet.lifecycle`), each in its own
short transaction with its audit entry, so a job never holds locks across the fleet and a
concurrent upload or inspection is never overwritten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.tables import notifications
from rodistaa.core.clock import Clock
from rodistaa.core.ids import new_id
from rodistaa.db.engine import Database
from rodistaa.fleet import repo
from rodistaa.fleet.lifecycle import StatusChange, sync_status
from rodistaa.fleet.status import (
    INSPECTION_VALIDITY,
    TruckFacts,
    TruckStatus,
    business_date,
    recompute_status,
)

JOB_ACTOR = "system:jobs"
BATCH = 200
EXPIRY_NOTICE_DAYS = 7
# The statuses documents can move a truck between; the others change through inspections,
# blocks and overrides only.
_DOCUMENT_DRIVEN = (TruckStatus.ACTIVE, TruckStatus.EXPIRED_DOCS)


@dataclass
class JobResult:
    name: str
    examined: int = 0
    changed: int = 0
    transitions: dict[str, int] = field(default_factory=dict)

    def count(self, change: StatusChange) -> None:
        self.changed += 1
        key = f"{change.before.value}->{change.after.value}"
        self.transitions[key] = self.transitions.get(key, 0) + 1

    def summary(self) -> dict[str, object]:
        return {
            "job": self.name,
            "examined": self.examined,
            "changed": self.changed,
            "transitions": self.transitions,
        }


async def _sync_trucks(
    db: Database, clock: Clock, result: JobResult, *, inspected_before: datetime | None = None
) -> JobResult:
    """Recompute every ACTIVE/EXPIRED_DOCS truck (optionally only those last inspected before a
    time), keyset-paged by id. A page is read without locks; only the trucks whose status would
    change get a short write transaction of their own, which decides again under the row lock."""
    after_id = ""
    while True:
        now = clock.now()
        async with db.read() as conn:
            page = await repo.trucks_in_statuses(
                conn,
                _DOCUMENT_DRIVEN,
                now=now,
                after_id=after_id,
                limit=BATCH,
                inspected_before=inspected_before,
            )
            documents = await repo.latest_documents(conn, [t.id for t in page])
        if not page:
            return result
        result.examined += len(page)
        for truck in page:
            facts = TruckFacts(
                status=truck.status,
                blocked=truck.blocked,
                expiries={d.doc_type: d.expiry_date for d in documents[truck.id]},
                last_passed_at=truck.last_inspected_at,
            )
            if recompute_status(facts, now=now) is not truck.status:
                await _apply(db, clock, result, truck.id)
        after_id = page[-1].id


async def _apply(db: Database, clock: Clock, result: JobResult, truck_id: str) -> None:
    now = clock.now()
    async with db.transaction() as conn:
        change = await sync_status(conn, truck_id, now=now)
        if change is not None:
            draft = AuditEntryDraft(
                JOB_ACTOR, "truck.status_changed", "truck", truck_id, change.audit_data(result.name)
            )
            await append(conn, draft, now=now)
    if change is not None:
        result.count(change)


async def document_expiry(db: Database, clock: Clock) -> JobResult:
    return await _sync_trucks(db, clock, JobResult("document-expiry"))


async def inspection_due(db: Database, clock: Clock) -> JobResult:
    cutoff = clock.now() - INSPECTION_VALIDITY
    return await _sync_trucks(db, clock, JobResult("inspection-due"), inspected_before=cutoff)


def notice_key(doc_id: str, expiry_iso: str) -> str:
    """Identifies the notice for one document and expiry date (stored as the event id)."""
    return f"DOCEXP-{doc_id}-{expiry_iso.replace('-', '')}"


async def _lock_notices(conn: AsyncConnection) -> None:
    """Two concurrent runs must not both find a notice missing and both insert it: PostgreSQL
    serialises them with a transaction-scoped advisory lock; SQLite's write transaction does."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            select(func.pg_advisory_xact_lock(func.hashtext("rodistaa:jobs:expiry-notifications")))
        )


def expiry_message(doc_type: str, truck_id: str, expiry: date, today: date) -> str:
    days = (expiry - today).days
    when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
    return (
        f"The {doc_type} of truck {truck_id} expires {when} ({expiry.isoformat()}). "
        "Upload the renewed document."
    )


async def expiry_notifications(db: Database, clock: Clock) -> JobResult:
    result = JobResult("expiry-notifications")
    now = clock.now()
    today = business_date(now)
    last_day = today + timedelta(days=EXPIRY_NOTICE_DAYS)
    after_id = ""
    while True:
        async with db.transaction() as conn:
            await _lock_notices(conn)
            page = await repo.latest_documents_expiring(
                conn, first_day=today, last_day=last_day, after_id=after_id, limit=BATCH
            )
            for doc, operator_id in page:
                result.examined += 1
                key = notice_key(doc.id, doc.expiry_date.isoformat())
                if (await conn.execute(select(exists().where(notifications.c.event_id == key)))).scalar():
                    continue
                message = expiry_message(doc.doc_type, doc.truck_id, doc.expiry_date, today)
                await conn.execute(
                    notifications.insert().values(
                        id=new_id("NTF"),
                        user_id=operator_id,
                        role="OPERATOR",
                        message=message,
                        event_id=key,
                        created_at=now,
                    )
                )
                result.changed += 1
        if not page:
            return result
        after_id = page[-1][0].id


Job = Callable[[Database, Clock], Awaitable[JobResult]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    description: str
    run: Job


JOBS: Mapping[str, JobSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            JobSpec(
                "document-expiry",
                "Move trucks with expired documents to EXPIRED_DOCS and back.",
                document_expiry,
            ),
            JobSpec(
                "inspection-due",
                "Move trucks inspected more than 120 days ago to NEEDS_INSPECTION.",
                inspection_due,
            ),
            JobSpec(
                "expiry-notifications",
                "Notify operators of documents expiring within 7 days.",
                expiry_notifications,
            ),
        )
    }
)
