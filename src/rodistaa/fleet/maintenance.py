"""Maintenance windows (ACS RF22): while one is open, the operator it names (or, with no
operator, every operator) cannot register trucks or bid. Admins create and list them."""

from __future__ import annotations

from datetime import UTC

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.core.actor import Actor
from rodistaa.core.errors import ValidationFailed
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.fleet import repo
from rodistaa.fleet.repo import WindowRecord
from rodistaa.fleet.schemas import MaintenanceWindowCreate
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services


class MaintenanceService:
    def __init__(self, services: Services) -> None:
        self._db = services.db
        self._clock = services.clock

    async def create(self, actor: Actor, body: MaintenanceWindowCreate) -> WindowRecord:
        """400 naming `endsAt` when the window ends before it starts or is already over, naming
        `operatorId` when it is not an operator's id."""
        now = self._clock.now()
        if body.endsAt <= body.startsAt:
            raise ValidationFailed.for_field("endsAt", "must be after startsAt")
        if body.endsAt <= now:
            raise ValidationFailed.for_field("endsAt", "the window is already over")
        window = WindowRecord(
            id=new_id("MNT"),
            operator_id=body.operatorId,
            starts_at=body.startsAt.astimezone(UTC),
            ends_at=body.endsAt.astimezone(UTC),
            reason=body.reason,
            created_by=actor.user_id,
            created_at=now,
        )
        async with self._db.transaction() as conn:
            if (
                body.operatorId is not None
                and await repo.user_role(conn, body.operatorId) != Role.OPERATOR.value
            ):
                raise ValidationFailed.for_field("operatorId", "must be the id of an operator")
            await repo.insert_window(conn, window)
            data = {
                "operatorId": window.operator_id,
                "startsAt": window.starts_at.isoformat(),
                "endsAt": window.ends_at.isoformat(),
            }
            await append(
                conn,
                AuditEntryDraft(
                    actor.user_id, "maintenance_window.created", "maintenance_window", window.id, data
                ),
                now=now,
            )
        return window

    async def list_windows(
        self, *, operator_id: str | None, page: PageRequest
    ) -> tuple[list[WindowRecord], int]:
        async with self._db.read() as conn:
            return await repo.list_windows(
                conn, operator_id=operator_id, offset=page.offset, limit=page.limit
            )
