"""`notifications-retention`: notifications older than NOTIFICATION_RETENTION_DAYS, read or not,
are deleted in audited batches; everything younger stays."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select, update

from rodistaa.acs.tables import notifications
from rodistaa.core.roles import Role
from rodistaa.notifications.repo import notify
from rodistaa.retention.jobs import notifications_retention
from tests.conftest import Harness
from tests.retention.seeding import audit_head_seq, audit_since, rows

USER = "USR-SH-01JHBZK7M2Q9XXXXXXXXXXNTF1"


async def seed(h: Harness, message: str, age: timedelta) -> str:
    async with h.app.state.services.db.transaction() as conn:
        return await notify(conn, user_id=USER, role=Role.SHIPPER, message=message, now=h.clock.now() - age)


class TestNotificationsRetention:
    async def test_deletes_only_notifications_past_the_period_in_audited_batches(
        self, harness: Harness
    ) -> None:
        h = harness
        period = timedelta(days=90)
        for n in range(3):
            await seed(h, f"old {n}", period + timedelta(seconds=1 + n))
        read_old = await seed(h, "old and read", period + timedelta(days=30))
        async with h.app.state.services.db.transaction() as conn:
            await conn.execute(
                update(notifications).where(notifications.c.id == read_old).values(read_at=h.clock.now())
            )
        for message, age in (
            ("at the cut-off", period),
            ("recent", timedelta(days=89, hours=23)),
            ("new", timedelta(0)),
        ):
            await seed(h, message, age)
        seq = await audit_head_seq(h)

        result = await notifications_retention(h.app.state.services, batch=3)

        before = (h.clock.now() - period).isoformat()
        assert result.summary() == {"job": "notifications-retention", "deleted": 4, "before": before}
        left = await rows(h, select(notifications.c.message).order_by(notifications.c.message))
        assert [r["message"] for r in left] == ["at the cut-off", "new", "recent"]
        assert await audit_since(h, seq) == [
            ("retention.purged", "notifications", {"deleted": 3, "before": before}),
            ("retention.purged", "notifications", {"deleted": 1, "before": before}),
        ]
        again = await notifications_retention(h.app.state.services, batch=3)
        assert again.summary()["deleted"] == 0 and await audit_since(h, seq + 2) == []

    async def test_the_period_follows_the_setting(self, harness: Harness) -> None:
        h = harness
        await seed(h, "eight days", timedelta(days=8))
        await seed(h, "six days", timedelta(days=6))
        services = h.app.state.services
        services = replace(
            services, settings=services.settings.model_copy(update={"notification_retention_days": 7})
        )

        assert (await notifications_retention(services)).summary()["deleted"] == 1

        left = await rows(h, select(notifications.c.message))
        assert [r["message"] for r in left] == ["six days"]
