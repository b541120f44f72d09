"""Inbox use cases: every signed-in user reads their notifications and marks their own read."""

from __future__ import annotations

from rodistaa.core.actor import Actor
from rodistaa.core.errors import InvalidState, NotFound
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.notifications import repo
from rodistaa.notifications.repo import NotificationRecord


class BroadcastNotMarkable(InvalidState):
    message = "A notification addressed to a whole role has no read mark"


class NotificationService:
    def __init__(self, services: Services) -> None:
        self._db = services.db
        self._clock = services.clock

    async def list_inbox(
        self, actor: Actor, *, unread_only: bool, page: PageRequest
    ) -> tuple[list[NotificationRecord], int]:
        async with self._db.read() as conn:
            return await repo.list_inbox(
                conn, actor, unread_only=unread_only, offset=page.offset, limit=page.limit
            )

    async def mark_read(self, actor: Actor, notification_id: str) -> NotificationRecord:
        """404 for anything outside the caller's inbox; 409 for a role broadcast."""
        async with self._db.transaction() as conn:
            record = await repo.get_visible(conn, actor, notification_id)
            if record is None:
                raise NotFound()
            if record.broadcast:
                raise BroadcastNotMarkable()
            await repo.mark_read(conn, actor.user_id, notification_id, self._clock.now())
            updated = await repo.get_visible(conn, actor, notification_id)
        assert updated is not None
        return updated
