"""Who may see and act on trucks. Every truck read goes through `readable(actor)`; outside it a
truck does not exist for the caller (404). Acting needs ownership on top (403 otherwise).

* OPERATOR: their own trucks.
* ADMIN: every truck.
* FRANCHISE_UNIT: trucks whose base lies in their unit's zone (`franchise_unit_id`).
* FRANCHISE_DISTRICT: trucks of the units under their district.
* Anyone else may not read trucks at all (403 at the edge).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, select, true

from rodistaa.core.actor import Actor
from rodistaa.core.errors import Forbidden
from rodistaa.core.roles import Role
from rodistaa.db.tables import users
from rodistaa.fleet.repo import TruckRecord
from rodistaa.fleet.tables import trucks
from rodistaa.franchises.tables import franchises

TRUCK_READERS = frozenset({Role.OPERATOR, Role.ADMIN, Role.FRANCHISE_UNIT, Role.FRANCHISE_DISTRICT})


def readable(actor: Actor) -> ColumnElement[bool]:
    own_franchise = select(users.c.franchise_id).where(users.c.id == actor.user_id).scalar_subquery()
    if actor.role is Role.ADMIN:
        return true()
    if actor.role is Role.OPERATOR:
        return trucks.c.operator_id == actor.user_id
    if actor.role is Role.FRANCHISE_UNIT:
        return trucks.c.franchise_unit_id == own_franchise
    if actor.role is Role.FRANCHISE_DISTRICT:
        units = select(franchises.c.id).where(
            franchises.c.parent_id == own_franchise, franchises.c.kind == "UNIT"
        )
        return trucks.c.franchise_unit_id.in_(units)
    return false()


def ensure_owner(actor: Actor, truck: TruckRecord) -> None:
    """For a truck the caller can already see: only its operator may change it."""
    if truck.operator_id != actor.user_id:
        raise Forbidden("Only the truck's operator may do this")
