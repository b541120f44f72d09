"""API models of the in-app inbox."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from rodistaa.notifications.repo import NotificationRecord


class NotificationOut(BaseModel):
    id: str
    message: str
    broadcast: bool = Field(description="Addressed to every user of the caller's role; has no read mark")
    ruleId: str | None = Field(description="The ACS rule that raised it, if any")
    createdAt: datetime
    readAt: datetime | None

    @classmethod
    def of(cls, record: NotificationRecord) -> NotificationOut:
        return cls(
            id=record.id,
            message=record.message,
            broadcast=record.broadcast,
            ruleId=record.rule_id,
            createdAt=record.created_at,
            readAt=record.read_at,
        )
