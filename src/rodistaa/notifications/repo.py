"""All SQL for the in-app inbox (`notifications`, written by services and by ACS `notifyRole`).

A notification is either a user's own (`user_id` set) or addressed to every user of a role
(`user_id` NULL, written by ACS when no user is tied to the event). Only a user's own can be
marked read: one read mark on a broadcast would hide it from everyone else of the role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.tables import notifications
from rodistaa.core.actor import Actor
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role

MAX_MESSAGE_LENGTH = 1024


@dataclass(frozen=True)
class NotificationRecord:
    id: str
    user_id: str | None
    role: str
    message: str
    rule_id: str | None
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def from_row(cls, row: RowMapping) -> NotificationRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    @property
    def broadcast(self) -> bool:
        return self.user_id is None


async def notify(conn: AsyncConnection, *, user_id: str, role: Role, message: str, now: datetime) -> str:
    """Put `message` in one user's inbox, inside the caller's transaction (it exists exactly
    when the change it announces does). Messages name ids, never codes or phone numbers."""
    notification_id = new_id("NTF")
    if len(message) > MAX_MESSAGE_LENGTH:  # the column's size; ids make messages long, never this long
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    await conn.execute(
        notifications.insert().values(
            id=notification_id,
            user_id=user_id,
            role=role.value,
            message=message,
            event_id=None,
            rule_id=None,
            created_at=now,
        )
    )
    return notification_id


def inbox(actor: Actor) -> ColumnElement[bool]:
    """The caller's own notifications and the broadcasts to their role."""
    return or_(
        notifications.c.user_id == actor.user_id,
        and_(notifications.c.user_id.is_(None), notifications.c.role == actor.role.value),
    )


async def list_inbox(
    conn: AsyncConnection, actor: Actor, *, unread_only: bool, offset: int, limit: int
) -> tuple[list[NotificationRecord], int]:
    """Newest first. `unread_only` keeps the caller's unread ones (broadcasts have no read mark)."""
    conditions = [inbox(actor)]
    if unread_only:
        conditions.append(and_(notifications.c.user_id == actor.user_id, notifications.c.read_at.is_(None)))
    total = (
        await conn.execute(select(func.count()).select_from(notifications).where(*conditions))
    ).scalar_one()
    rows = (
        await conn.execute(
            select(notifications)
            .where(*conditions)
            .order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).mappings()
    return [NotificationRecord.from_row(r) for r in rows], int(total)


async def get_visible(conn: AsyncConnection, actor: Actor, notification_id: str) -> NotificationRecord | None:
    row = (
        (await conn.execute(select(notifications).where(notifications.c.id == notification_id, inbox(actor))))
        .mappings()
        .first()
    )
    return NotificationRecord.from_row(row) if row else None


async def mark_read(conn: AsyncConnection, user_id: str, notification_id: str, now: datetime) -> None:
    """Idempotent: a notification read before keeps its first read time."""
    await conn.execute(
        update(notifications)
        .where(
            notifications.c.id == notification_id,
            notifications.c.user_id == user_id,
            notifications.c.read_at.is_(None),
        )
        .values(read_at=now)
    )
