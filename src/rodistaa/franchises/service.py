"""Franchise use cases (PRODUCT §9): the HQ → DISTRICT → UNIT tree, staff membership, and the
lookups other domains use inside their own transactions (`franchise_of`, `units_of_district`,
`unit_for_point`).

Tree rules: exactly one HQ (no parent); a DISTRICT's parent is the HQ; a UNIT's parent is a
DISTRICT and only units have a zone. A FRANCHISE_UNIT user belongs to a UNIT, a
FRANCHISE_DISTRICT user to a DISTRICT; nobody is assigned to the HQ (HQ staff are admins).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.lang.functions import distance
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound, ValidationFailed
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.franchises import repo
from rodistaa.franchises.errors import HeadOfficeExists, NoFranchiseAssigned
from rodistaa.franchises.repo import FranchiseRecord
from rodistaa.franchises.schemas import FranchiseCreate, FranchiseKind
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services

# The kind of franchise each kind must hang under.
_PARENT_KIND: Mapping[FranchiseKind, FranchiseKind] = MappingProxyType(
    {FranchiseKind.DISTRICT: FranchiseKind.HQ, FranchiseKind.UNIT: FranchiseKind.DISTRICT}
)
# The kind of franchise each staff role may belong to.
STAFF_FRANCHISE_KIND: Mapping[Role, FranchiseKind] = MappingProxyType(
    {Role.FRANCHISE_UNIT: FranchiseKind.UNIT, Role.FRANCHISE_DISTRICT: FranchiseKind.DISTRICT}
)


@dataclass(frozen=True)
class StaffAssignment:
    user_id: str
    role: Role
    franchise_id: str
    previous_franchise_id: str | None


# --- lookups for other domains (they run inside the caller's transaction) ----------------------


async def franchise_of(conn: AsyncConnection, user_id: str) -> FranchiseRecord | None:
    """The franchise a staff user belongs to, or None."""
    return await repo.franchise_of_user(conn, user_id)


async def units_of_district(conn: AsyncConnection, district_id: str) -> list[FranchiseRecord]:
    """The UNITs directly under a DISTRICT (the tree has no deeper levels)."""
    return await repo.units_under(conn, district_id)


def distance_from_centre_m(unit: FranchiseRecord, lat: float, lng: float) -> float | None:
    """Great-circle metres from the unit's zone centre (the same haversine ACS rule RF24 uses)."""
    if unit.centre_lat is None or unit.centre_lng is None:
        return None
    return distance({"lat": lat, "lng": lng}, {"lat": unit.centre_lat, "lng": unit.centre_lng})


async def unit_for_point(conn: AsyncConnection, lat: float, lng: float) -> FranchiseRecord | None:
    """The unit whose zone contains the point; where zones overlap, the one with the nearest
    centre (ties by id, so the answer is stable). None outside every zone."""
    best: tuple[float, str, FranchiseRecord] | None = None
    for unit in await repo.units_in_latitude_band(conn, lat):
        metres = distance_from_centre_m(unit, lat, lng)
        if metres is None or unit.radius_m is None or metres > unit.radius_m:
            continue
        candidate = (metres, unit.id, unit)
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    return best[2] if best else None


# --- use cases ---------------------------------------------------------------------------------


class FranchiseService:
    def __init__(self, services: Services) -> None:
        self._db = services.db
        self._clock = services.clock

    async def create(self, actor: Actor, body: FranchiseCreate) -> FranchiseRecord:
        """Raises ValidationFailed naming `parentId` or `zone` when the tree rules are broken,
        HeadOfficeExists (409) for a second HQ."""
        _check_shape(body)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            if body.kind is FranchiseKind.HQ:
                await repo.lock_head_office_creation(conn)
                if await repo.head_office_exists(conn):
                    raise HeadOfficeExists()
            else:
                await _check_parent(conn, body)
            zone = body.zone
            record = FranchiseRecord(
                id=new_id("FRN"),
                name=body.name,
                kind=body.kind.value,
                parent_id=body.parentId,
                centre_lat=zone.centre.lat if zone else None,
                centre_lng=zone.centre.lng if zone else None,
                radius_m=zone.radiusMeters if zone else None,
                created_at=now,
            )
            await repo.insert(conn, record)
            data = {"kind": record.kind, "parentId": record.parent_id, "radiusMeters": record.radius_m}
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "franchise.created", "franchise", record.id, data),
                now=now,
            )
        return record

    async def list_franchises(
        self, *, kind: FranchiseKind | None, parent_id: str | None, page: PageRequest
    ) -> tuple[list[FranchiseRecord], int]:
        async with self._db.read() as conn:
            return await repo.list_page(
                conn,
                kind=kind.value if kind else None,
                parent_id=parent_id,
                offset=page.offset,
                limit=page.limit,
            )

    async def assign_staff(self, actor: Actor, franchise_id: str, user_id: str) -> StaffAssignment:
        """Make `user_id` a member of the franchise (moving them if they belonged elsewhere).

        404 for an unknown franchise; 400 naming `userId` for an unknown user, a user who is not
        franchise staff, or a staff role that does not match the franchise's kind."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            franchise = await repo.get_by_id(conn, franchise_id)
            if franchise is None:
                raise NotFound()
            member = await repo.get_staff_member(conn, user_id)
            if member is None:
                raise ValidationFailed.for_field("userId", "no such user")
            role = Role(member.role)
            expected_kind = STAFF_FRANCHISE_KIND.get(role)
            if expected_kind is None:
                raise ValidationFailed.for_field(
                    "userId", "must be a FRANCHISE_UNIT or FRANCHISE_DISTRICT user"
                )
            if expected_kind.value != franchise.kind:
                raise ValidationFailed.for_field(
                    "userId", f"a {role.value} user can only be assigned to a {expected_kind.value}"
                )
            await repo.set_franchise(conn, member.id, franchise.id, now)
            data = {
                "franchiseId": franchise.id,
                "previousFranchiseId": member.franchise_id,
                "role": role.value,
            }
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "franchise.staff_assigned", "user", member.id, data),
                now=now,
            )
        return StaffAssignment(member.id, role, franchise.id, member.franchise_id)

    async def my_franchise(self, actor: Actor) -> tuple[FranchiseRecord, list[FranchiseRecord]]:
        """The caller's franchise and, for a district, its units. 404 when unassigned."""
        async with self._db.read() as conn:
            franchise = await franchise_of(conn, actor.user_id)
            if franchise is None:
                raise NoFranchiseAssigned()
            units = await units_of_district(conn, franchise.id) if franchise.kind == "DISTRICT" else []
        return franchise, units


def _check_shape(body: FranchiseCreate) -> None:
    if body.kind is FranchiseKind.HQ and body.parentId is not None:
        raise ValidationFailed.for_field("parentId", "the HQ has no parent")
    if body.kind is not FranchiseKind.HQ and body.parentId is None:
        raise ValidationFailed.for_field("parentId", f"a {body.kind.value} needs a parent")
    if body.kind is FranchiseKind.UNIT and body.zone is None:
        raise ValidationFailed.for_field("zone", "a UNIT needs a zone")
    if body.kind is not FranchiseKind.UNIT and body.zone is not None:
        raise ValidationFailed.for_field("zone", "only a UNIT has a zone")


async def _check_parent(conn: AsyncConnection, body: FranchiseCreate) -> None:
    assert body.parentId is not None  # checked by _check_shape
    parent = await repo.get_by_id(conn, body.parentId)
    if parent is None:
        raise ValidationFailed.for_field("parentId", "no such franchise")
    expected = _PARENT_KIND[body.kind]
    if parent.kind != expected.value:
        raise ValidationFailed.for_field("parentId", f"a {body.kind.value} must be under a {expected.value}")
