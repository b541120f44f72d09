"""The fleet jobs (document expiry, inspection due, expiry notifications) and the lifecycle
functions other domains call (inspection results, lifting a block), on both databases."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.tables import acs_blocks, notifications
from rodistaa.core.ids import new_id
from rodistaa.fleet import lifecycle
from rodistaa.fleet.jobs import document_expiry, expiry_notifications, inspection_due
from rodistaa.fleet.tables import trucks
from tests.api.fleet_flows import (
    active_truck,
    create_truck,
    operator_session,
    record_inspection,
    today,
    upload_all_documents,
    upload_document,
)
from tests.conftest import Harness


async def set_truck(h: Harness, truck_id: str, **values: Any) -> None:
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(update(trucks).where(trucks.c.id == truck_id).values(**values))


async def status_of(h: Harness, truck_id: str) -> str:
    async with h.app.state.services.db.read() as conn:
        return str((await conn.execute(select(trucks.c.status).where(trucks.c.id == truck_id))).scalar_one())


async def block(h: Harness, truck_id: str) -> str:
    block_id = new_id("BLK")
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            acs_blocks.insert().values(
                id=block_id,
                entity_type="truck",
                entity_id=truck_id,
                reason="ADMIN_REVIEW",
                severity="high",
                source="ADMIN",
                created_at=h.clock.now(),
            )
        )
    return block_id


async def status_audits(h: Harness, truck_id: str) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = (
            select(audit_log)
            .where(audit_log.c.action == "truck.status_changed", audit_log.c.entity_id == truck_id)
            .order_by(audit_log.c.seq)
        )
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def notification_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = select(notifications).order_by(notifications.c.created_at, notifications.c.id)
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


def run(h: Harness, job: Any) -> Any:
    services = h.app.state.services
    return job(services.db, h.clock)


class TestDocumentExpiryJob:
    async def test_an_expired_document_moves_an_active_truck_once(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await active_truck(harness, operator)
        healthy = await active_truck(harness, operator)
        await upload_document(harness, operator, truck["id"], "INSURANCE", today(harness) + timedelta(days=3))
        harness.clock.advance(days=4)  # expired yesterday
        first = await run(harness, document_expiry)
        assert (first.examined, first.changed, first.transitions) == (2, 1, {"ACTIVE->EXPIRED_DOCS": 1})
        assert await status_of(harness, truck["id"]) == "EXPIRED_DOCS"
        assert await status_of(harness, healthy["id"]) == "ACTIVE"
        [entry] = await status_audits(harness, truck["id"])
        assert entry["actor"] == "system:jobs"
        assert '"from":"ACTIVE"' in entry["data"] and '"to":"EXPIRED_DOCS"' in entry["data"]
        second = await run(harness, document_expiry)
        assert (second.changed, len(await status_audits(harness, truck["id"]))) == (0, 1)

    async def test_a_truck_whose_documents_are_valid_again_returns_to_active(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await active_truck(harness, operator)
        await set_truck(harness, truck["id"], status="EXPIRED_DOCS")
        result = await run(harness, document_expiry)
        assert result.transitions == {"EXPIRED_DOCS->ACTIVE": 1}
        assert await status_of(harness, truck["id"]) == "ACTIVE"

    async def test_trucks_out_of_work_for_other_reasons_are_left_alone(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        pending = await create_truck(harness, operator)  # no documents at all
        needing = await active_truck(harness, operator)
        retired = await active_truck(harness, operator)
        stored_blocked = await active_truck(harness, operator)
        await set_truck(harness, needing["id"], status="NEEDS_INSPECTION")
        await set_truck(harness, retired["id"], status="INACTIVE")
        await set_truck(harness, stored_blocked["id"], status="BLOCKED")
        harness.clock.advance(days=400)  # every document has expired
        result = await run(harness, document_expiry)
        assert result.changed == 0
        statuses = [await status_of(harness, t["id"]) for t in (pending, needing, retired, stored_blocked)]
        assert statuses == ["PENDING_INSPECTION", "NEEDS_INSPECTION", "INACTIVE", "BLOCKED"]

    async def test_an_active_block_is_stored_as_blocked(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await active_truck(harness, operator)
        await block(harness, truck["id"])
        result = await run(harness, document_expiry)
        assert result.transitions == {"ACTIVE->BLOCKED": 1}
        assert await status_of(harness, truck["id"]) == "BLOCKED"

    async def test_concurrent_runs_change_each_truck_once(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        fleet = [await active_truck(harness, operator) for _ in range(3)]
        for truck in fleet:
            await upload_document(harness, operator, truck["id"], "PUC", today(harness) + timedelta(days=3))
        harness.clock.advance(days=4)
        results = await asyncio.gather(*(run(harness, document_expiry) for _ in range(3)))
        assert sum(r.changed for r in results) == 3
        for truck in fleet:
            assert await status_of(harness, truck["id"]) == "EXPIRED_DOCS"
            assert len(await status_audits(harness, truck["id"])) == 1


class TestInspectionDueJob:
    async def test_a_truck_inspected_121_days_ago_needs_inspection(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        old = await active_truck(harness, operator)
        recent = await active_truck(harness, operator)
        now = harness.clock.now()
        await set_truck(harness, old["id"], last_inspected_at=now - timedelta(days=121))
        await set_truck(harness, recent["id"], last_inspected_at=now - timedelta(days=119))
        result = await run(harness, inspection_due)
        assert (result.examined, result.transitions) == (1, {"ACTIVE->NEEDS_INSPECTION": 1})
        assert await status_of(harness, old["id"]) == "NEEDS_INSPECTION"
        assert await status_of(harness, recent["id"]) == "ACTIVE"
        assert (await run(harness, inspection_due)).changed == 0
        [entry] = await status_audits(harness, old["id"])
        assert '"reason":"inspection-due"' in entry["data"]

    async def test_a_passed_inspection_brings_it_back(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await active_truck(harness, operator)
        await set_truck(harness, truck["id"], last_inspected_at=harness.clock.now() - timedelta(days=200))
        await run(harness, inspection_due)
        change = await record_inspection(harness, truck["id"])
        assert (change.before.value, change.after.value) == ("NEEDS_INSPECTION", "ACTIVE")
        assert (await run(harness, inspection_due)).changed == 0


class TestExpiryNotificationsJob:
    async def test_documents_expiring_within_seven_days_are_notified_once(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        soon = today(harness) + timedelta(days=7)
        await upload_document(harness, operator, truck["id"], "PUC", soon)
        await upload_document(harness, operator, truck["id"], "PERMIT", today(harness))
        await upload_document(harness, operator, truck["id"], "FITNESS", today(harness) + timedelta(days=8))
        await upload_document(harness, operator, truck["id"], "INSURANCE", today(harness) - timedelta(days=1))
        first = await run(harness, expiry_notifications)
        assert first.changed == 2
        rows = await notification_rows(harness)
        assert {(r["user_id"], r["role"]) for r in rows} == {(operator.user_id, "OPERATOR")}
        messages = sorted(r["message"] for r in rows)
        assert messages[0].startswith("The PERMIT of truck " + truck["id"] + " expires today")
        assert messages[1].startswith("The PUC of truck " + truck["id"] + " expires in 7 days")
        assert (await run(harness, expiry_notifications)).changed == 0
        assert len(await notification_rows(harness)) == 2

    async def test_a_replaced_document_is_not_notified_but_its_renewal_is(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        await upload_document(harness, operator, truck["id"], "PUC", today(harness) + timedelta(days=2))
        harness.clock.advance(seconds=1)
        await upload_document(harness, operator, truck["id"], "PUC", today(harness) + timedelta(days=90))
        assert (await run(harness, expiry_notifications)).changed == 0
        harness.clock.advance(days=85)
        assert (await run(harness, expiry_notifications)).changed == 1
        assert len(await notification_rows(harness)) == 1

    async def test_retired_trucks_are_not_notified(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        await upload_all_documents(harness, operator, truck, valid_for_days=3)
        await set_truck(harness, truck["id"], status="INACTIVE")
        assert (await run(harness, expiry_notifications)).changed == 0

    async def test_concurrent_runs_notify_once(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        truck = await create_truck(harness, operator)
        await upload_all_documents(harness, operator, truck, valid_for_days=3)
        results = await asyncio.gather(*(run(harness, expiry_notifications) for _ in range(3)))
        assert sum(r.changed for r in results) == 5
        assert len(await notification_rows(harness)) == 5


class TestLifecycle:
    async def test_inspection_results(self, harness: Harness) -> None:
        operator = await operator_session(harness)
        new = await create_truck(harness, operator)
        failed = await record_inspection(harness, new["id"], passed=False)
        assert (failed.before.value, failed.after.value) == ("PENDING_INSPECTION", "PENDING_INSPECTION")
        passed = await record_inspection(harness, new["id"])
        # Passed without documents on file: out of work until they are uploaded.
        assert passed.after.value == "EXPIRED_DOCS"
        async with harness.app.state.services.db.read() as conn:
            inspected = (
                await conn.execute(select(trucks.c.last_inspected_at).where(trucks.c.id == new["id"]))
            ).scalar_one()
        assert inspected == harness.clock.now()
        active = await active_truck(harness, operator)
        again = await record_inspection(harness, active["id"], passed=False)
        assert again.after.value == "NEEDS_INSPECTION"

    async def test_a_blocked_truck_moves_only_when_the_override_lifts_the_block(
        self, harness: Harness
    ) -> None:
        operator = await operator_session(harness)
        truck = await active_truck(harness, operator)
        block_id = await block(harness, truck["id"])
        db = harness.app.state.services.db
        async with db.transaction() as conn:
            change = await lifecycle.sync_status(conn, truck["id"], now=harness.clock.now())
        assert change is not None and change.after.value == "BLOCKED"
        async with db.transaction() as conn:
            await conn.execute(
                update(acs_blocks).where(acs_blocks.c.id == block_id).values(lifted_at=harness.clock.now())
            )
        async with db.transaction() as conn:
            assert await lifecycle.sync_status(conn, truck["id"], now=harness.clock.now()) is None
            lifted = await lifecycle.sync_status(conn, truck["id"], now=harness.clock.now(), lift_block=True)
        assert lifted is not None and (lifted.before.value, lifted.after.value) == ("BLOCKED", "ACTIVE")
