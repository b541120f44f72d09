"""The shipment state machine (PRODUCT §6), in one place: every service that moves a shipment
asks `require_transition` first and then claims the move with a conditional update.

    ASSIGNED ──assign──▶ DRIVER_PENDING_APPROVAL ──approve──▶ APPROVED ──start──▶ IN_TRANSIT
        ▲                    │   ▲     ▲                          │                  │
        └─────reject─────────┘   │     └──── driver change ───────┘                  │
                                 └──────── breakdown with a new driver ◀─────────────┤
                                                                                     ▼
                                          COMPLETED ◀── correct OTP ── OTP_PENDING ◀─ wrong OTP
    any state but a final one ──admin──▶ CANCELLED | FAILED

FROZEN is not a stored state: a shipment is frozen while an ACS or admin freeze, or a block of
the shipment, is active (`shipments.repo.freeze_reason`). Nothing moves a frozen shipment except
an admin cancelling or failing it; when the freeze is lifted the stored state shows again.
"""

from __future__ import annotations

from enum import StrEnum

from rodistaa.core.errors import InvalidState


class ShipmentStatus(StrEnum):
    ASSIGNED = "ASSIGNED"
    DRIVER_PENDING_APPROVAL = "DRIVER_PENDING_APPROVAL"
    APPROVED = "APPROVED"
    IN_TRANSIT = "IN_TRANSIT"
    OTP_PENDING = "OTP_PENDING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


FROZEN = "FROZEN"  # shown instead of the stored state while a freeze is active

FINAL_STATUSES = frozenset({ShipmentStatus.COMPLETED, ShipmentStatus.CANCELLED, ShipmentStatus.FAILED})
# The driver is on the trip (tracking and delivery happen here).
EN_ROUTE_STATUSES = frozenset({ShipmentStatus.IN_TRANSIT, ShipmentStatus.OTP_PENDING})
# Before the start the operator may still change truck and driver freely.
NOT_STARTED_STATUSES = frozenset(
    {ShipmentStatus.ASSIGNED, ShipmentStatus.DRIVER_PENDING_APPROVAL, ShipmentStatus.APPROVED}
)

_ADMIN_ENDINGS = frozenset({ShipmentStatus.CANCELLED, ShipmentStatus.FAILED})
TRANSITIONS: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    ShipmentStatus.ASSIGNED: frozenset({ShipmentStatus.DRIVER_PENDING_APPROVAL}) | _ADMIN_ENDINGS,
    ShipmentStatus.DRIVER_PENDING_APPROVAL: frozenset(
        {
            ShipmentStatus.APPROVED,
            ShipmentStatus.ASSIGNED,  # the shipper rejected the driver
            ShipmentStatus.DRIVER_PENDING_APPROVAL,  # the operator changed the driver again
        }
    )
    | _ADMIN_ENDINGS,
    ShipmentStatus.APPROVED: frozenset({ShipmentStatus.IN_TRANSIT, ShipmentStatus.DRIVER_PENDING_APPROVAL})
    | _ADMIN_ENDINGS,
    ShipmentStatus.IN_TRANSIT: frozenset(
        {
            ShipmentStatus.OTP_PENDING,
            ShipmentStatus.COMPLETED,
            ShipmentStatus.DRIVER_PENDING_APPROVAL,  # breakdown: a new driver needs approval
        }
    )
    | _ADMIN_ENDINGS,
    ShipmentStatus.OTP_PENDING: frozenset({ShipmentStatus.COMPLETED}) | _ADMIN_ENDINGS,
    ShipmentStatus.COMPLETED: frozenset(),
    ShipmentStatus.CANCELLED: frozenset(),
    ShipmentStatus.FAILED: frozenset(),
}


class IllegalTransition(InvalidState):
    message = "The shipment cannot make this move from its current state"


class ShipmentFrozen(InvalidState):
    code = "SHIPMENT_FROZEN"
    message = "The shipment is frozen for review; nothing can move it until the freeze is lifted"


def can_transition(current: ShipmentStatus, target: ShipmentStatus) -> bool:
    return target in TRANSITIONS[current]


def require_transition(
    current: ShipmentStatus, target: ShipmentStatus, *, frozen: bool = False, by_admin: bool = False
) -> None:
    """Raise IllegalTransition (409 INVALID_STATE) for a move the machine does not allow, and
    ShipmentFrozen (409) for any move of a frozen shipment except an admin ending it."""
    if frozen and not (by_admin and target in _ADMIN_ENDINGS):
        raise ShipmentFrozen()
    if not can_transition(current, target):
        raise IllegalTransition(details={"from": current.value, "to": target.value})
