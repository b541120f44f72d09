"""API models of the governance queues. Severities are accepted in any case and stored lower
case like ACS stores them; they leave the service upper case, as the contract's `BlockEntry`
example spells them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.acs.actions import SEVERITIES
from rodistaa.acsapi.schemas import BlockEntryOut
from rodistaa.core.timestamps import ApiDatetime
from rodistaa.governance.repo import Block, Ticket, TicketStatus, WatchlistEntry

EntityType = Literal["user", "operator", "driver", "truck", "device", "shipment"]
BlockSource = Literal["ACS", "ADMIN"]
MAX_RESOLUTION_NOTE = 2000


def _severity(value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in SEVERITIES:
        raise ValueError("must be one of " + ", ".join(sorted(s.upper() for s in SEVERITIES)))
    return lowered


Severity = Annotated[str, StringConstraints(max_length=16), AfterValidator(_severity)]


class BlockCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entityType: EntityType
    entityId: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
    severity: Severity
    expiresAt: ApiDatetime | None = Field(default=None, description="Omitted: until lifted by an override")


class BlockOut(BlockEntryOut):
    """The contract's `BlockEntry` and who placed it."""

    source: str = Field(description="ACS (a rule's side effect) or ADMIN")
    createdBy: str | None = Field(description="The admin who blocked; null for ACS blocks")

    @classmethod
    def of(cls, block: Block) -> BlockOut:  # type: ignore[override]
        return cls(**BlockEntryOut.of(block).model_dump(), createdBy=block.created_by)


class WatchlistEntryOut(BaseModel):
    id: str
    entityType: str
    entityId: str
    reasons: list[str]
    hits: int
    firstFlaggedAt: datetime
    lastFlaggedAt: datetime

    @classmethod
    def of(cls, entry: WatchlistEntry) -> WatchlistEntryOut:
        return cls(
            id=entry.id,
            entityType=entry.entity_type,
            entityId=entry.entity_id,
            reasons=entry.reasons,
            hits=entry.hits,
            firstFlaggedAt=entry.first_flagged_at,
            lastFlaggedAt=entry.last_flagged_at,
        )


class TicketOut(BaseModel):
    id: str
    team: str
    kind: str = Field(description="TICKET or MANUAL_REVIEW")
    summary: str
    refs: list[str]
    status: TicketStatus
    ruleId: str | None
    eventId: str | None
    assigneeId: str | None
    resolutionNote: str | None
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def of(cls, ticket: Ticket) -> TicketOut:
        return cls(
            id=ticket.id,
            team=ticket.team,
            kind=ticket.kind,
            summary=ticket.summary,
            refs=ticket.refs,
            status=ticket.status,
            ruleId=ticket.rule_id,
            eventId=ticket.event_id,
            assigneeId=ticket.assignee_id,
            resolutionNote=ticket.resolution_note,
            createdAt=ticket.created_at,
            updatedAt=ticket.updated_at,
        )


class TicketAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assigneeId: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class TicketStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TicketStatus
    resolutionNote: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_RESOLUTION_NOTE)] | None
    ) = Field(default=None, description="Required to resolve; refused with any other status")
