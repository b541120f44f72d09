"""Governance use cases (PRODUCT §8), one transaction each, audit appended last.

Decisions:
- An admin block is one more `acs_blocks` row (source ADMIN); an entity may carry several
  active blocks (e.g. an admin makes an expiring ACS block permanent) and is free only when
  every one is lifted or expired. There is no unblock here: lifting a block is an override.
- The blocked entity must exist (404): `user` is any account, `operator`/`driver` an account of
  that role, `device` one some account has signed in on. An admin cannot block their own
  account or the device of their session (they would lock themselves out).
- The `acs.block` outbox event carries ids and enums only (never the free-text reason). The
  audit entry is filed under the blocked entity; a device is named by the SHA-256 of its id,
  as sign-in audit entries name it.
- Tickets move OPEN -> IN_PROGRESS -> RESOLVED one step at a time; resolving needs a
  resolution note, which never enters the audit log (`noteGiven` does). Assignment is to an
  ACTIVE admin or staff account, allowed until the ticket is resolved, and notifies the
  assignee in-app; assigning the current assignee again changes nothing.
"""

from __future__ import annotations

import hashlib

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.enforcement import PERSON_ENTITY_TYPES
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound, ValidationFailed
from rodistaa.db.outbox import insert_outbox_event
from rodistaa.governance import repo
from rodistaa.governance.errors import BlockTargetNotFound, TicketResolved, TicketTransitionNotAllowed
from rodistaa.governance.repo import Block, Ticket, TicketStatus, WatchlistEntry
from rodistaa.governance.schemas import BlockCreate, TicketStatusChange
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.notifications.repo import notify


def _audited_entity_id(entity_type: str, entity_id: str) -> str:
    """Device ids are chosen by clients and may carry anything; the audit log keeps a hash."""
    return hashlib.sha256(entity_id.encode()).hexdigest() if entity_type == "device" else entity_id


def _locks_out_caller(actor: Actor, entity_type: str, entity_id: str) -> bool:
    if entity_type in PERSON_ENTITY_TYPES:
        return entity_id == actor.user_id
    return entity_type == "device" and entity_id == actor.device_id


class GovernanceService:
    def __init__(self, services: Services) -> None:
        self._db = services.db
        self._clock = services.clock

    # --- blocks --------------------------------------------------------------------------------

    async def block(self, actor: Actor, body: BlockCreate) -> Block:
        now = self._clock.now()
        if body.expiresAt is not None and body.expiresAt <= now:
            raise ValidationFailed.for_field("expiresAt", "must be in the future")
        if _locks_out_caller(actor, body.entityType, body.entityId):
            raise ValidationFailed.for_field("entityId", "an admin cannot block their own account or device")
        async with self._db.transaction() as conn:
            if not await repo.entity_exists(conn, body.entityType, body.entityId):
                raise BlockTargetNotFound()
            block = await repo.insert_block(
                conn,
                entity_type=body.entityType,
                entity_id=body.entityId,
                reason=body.reason,
                severity=body.severity,
                expires_at=body.expiresAt,
                created_by=actor.user_id,
                now=now,
            )
            await insert_outbox_event(
                conn,
                name="acs.block",
                payload={
                    "blockId": block.id,
                    "entityType": block.entity_type,
                    "entityId": block.entity_id,
                    "severity": block.severity.upper(),
                    "source": block.source,
                },
                now=now,
            )
            await append(
                conn,
                AuditEntryDraft(
                    actor.user_id,
                    "block.created",
                    block.entity_type,
                    _audited_entity_id(block.entity_type, block.entity_id),
                    {
                        "blockId": block.id,
                        "severity": block.severity,
                        "source": block.source,
                        "expiresAt": block.expires_at.isoformat() if block.expires_at else None,
                    },
                ),
                now=now,
            )
        return block

    async def list_blocks(
        self, *, entity_type: str | None, entity_id: str | None, source: str | None, page: PageRequest
    ) -> tuple[list[Block], int]:
        async with self._db.read() as conn:
            return await repo.list_active_blocks(
                conn,
                now=self._clock.now(),
                entity_type=entity_type,
                entity_id=entity_id,
                source=source,
                offset=page.offset,
                limit=page.limit,
            )

    # --- watchlist -----------------------------------------------------------------------------

    async def list_watchlist(
        self, *, entity_type: str | None, page: PageRequest
    ) -> tuple[list[WatchlistEntry], int]:
        async with self._db.read() as conn:
            return await repo.list_watchlist(
                conn, entity_type=entity_type, offset=page.offset, limit=page.limit
            )

    # --- tickets -------------------------------------------------------------------------------

    async def list_tickets(
        self, *, team: str | None, status: TicketStatus | None, page: PageRequest
    ) -> tuple[list[Ticket], int]:
        async with self._db.read() as conn:
            return await repo.list_tickets(
                conn, team=team, status=status, offset=page.offset, limit=page.limit
            )

    async def get_ticket(self, ticket_id: str) -> Ticket:
        async with self._db.read() as conn:
            ticket = await repo.get_ticket(conn, ticket_id)
        if ticket is None:
            raise NotFound()
        return ticket

    async def assign_ticket(self, actor: Actor, ticket_id: str, assignee_id: str) -> Ticket:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            ticket = await repo.get_ticket(conn, ticket_id, for_update=True)
            if ticket is None:
                raise NotFound()
            assignee_role = await repo.active_staff_role(conn, assignee_id, sorted(repo.STAFF_ROLES))
            if assignee_role is None:
                raise ValidationFailed.for_field("assigneeId", "must be an active admin or staff account")
            if ticket.status not in repo.ASSIGNABLE_STATUSES:
                raise TicketResolved()
            if ticket.assignee_id == assignee_id:
                return ticket
            if not await repo.assign_ticket(conn, ticket_id, assignee_id, now):
                raise TicketResolved()
            if assignee_id != actor.user_id:
                await notify(
                    conn,
                    user_id=assignee_id,
                    role=assignee_role,
                    message=f"Ticket {ticket.id} ({ticket.team}) was assigned to you",
                    now=now,
                )
            await append(
                conn,
                AuditEntryDraft(
                    actor.user_id,
                    "ticket.assigned",
                    "ticket",
                    ticket.id,
                    {
                        "assigneeId": assignee_id,
                        "previousAssigneeId": ticket.assignee_id,
                        "status": ticket.status.value,
                    },
                ),
                now=now,
            )
            updated = await repo.get_ticket(conn, ticket_id)
        assert updated is not None
        return updated

    async def change_ticket_status(self, actor: Actor, ticket_id: str, body: TicketStatusChange) -> Ticket:
        now = self._clock.now()
        note = body.resolutionNote or None  # blank after trimming is no note
        if body.status is TicketStatus.RESOLVED and note is None:
            raise ValidationFailed.for_field("resolutionNote", "is required to resolve a ticket")
        if body.status is not TicketStatus.RESOLVED and note is not None:
            raise ValidationFailed.for_field("resolutionNote", "is only given when resolving a ticket")
        async with self._db.transaction() as conn:
            ticket = await repo.get_ticket(conn, ticket_id, for_update=True)
            if ticket is None:
                raise NotFound()
            expected = repo.TICKET_PREDECESSOR.get(body.status)
            moved = expected is not None and await repo.move_ticket(
                conn, ticket_id, expected=expected, to=body.status, resolution_note=note, now=now
            )
            if not moved:
                raise TicketTransitionNotAllowed(
                    details={"from": ticket.status.value, "to": body.status.value}
                )
            await append(
                conn,
                AuditEntryDraft(
                    actor.user_id,
                    "ticket.status_changed",
                    "ticket",
                    ticket.id,
                    {
                        "fromStatus": ticket.status.value,
                        "toStatus": body.status.value,
                        "noteGiven": note is not None,
                    },
                ),
                now=now,
            )
            updated = await repo.get_ticket(conn, ticket_id)
        assert updated is not None
        return updated
