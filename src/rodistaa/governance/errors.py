"""Typed errors of the governance queues."""

from __future__ import annotations

from rodistaa.core.errors import InvalidState, NotFound


class BlockTargetNotFound(NotFound):
    message = "The entity to block does not exist"


class TicketTransitionNotAllowed(InvalidState):
    message = "Tickets move OPEN -> IN_PROGRESS -> RESOLVED, one step at a time"


class TicketResolved(InvalidState):
    message = "A resolved ticket can no longer be assigned"
