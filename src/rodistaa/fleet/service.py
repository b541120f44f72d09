"""Truck use cases (PRODUCT §5): register, list, read, retire.

Registration runs ACS `truck.create` first (RF12 truck limit, RF22 maintenance window: their
side effects are persisted by ACS in its own transaction), then inserts in one transaction that
re-checks the limit under a lock on the operator, because ACS's count is a read-then-insert
that concurrent requests would all pass.

Eligibility for marketplace work (heavy goods vehicle, model year ≥ 2018, BS4/BS6, national
permit) is checked at registration: an ineligible truck is refused with 400 listing every
failing field, since it could never be bid with or assigned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.contract import DEFAULT_SYSTEM_CONFIG
from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound, ValidationFailed
from rodistaa.core.ids import new_truck_id
from rodistaa.fleet import repo
from rodistaa.fleet.errors import MaxTrucksExceeded, RegistrationTaken, TruckBlocked, TruckRetired
from rodistaa.fleet.facts import chassis_fingerprint, fleet_answerers, operator_names, truck_names
from rodistaa.fleet.policy import ensure_owner, readable
from rodistaa.fleet.repo import DocumentRecord, RegistrationAlreadyTaken, TruckRecord
from rodistaa.fleet.schemas import EmissionNorm, PermitType, TruckCreate, VehicleType, mask_chassis
from rodistaa.fleet.status import TruckStatus
from rodistaa.franchises.service import unit_for_point
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.kyc.status import kyc_status
from rodistaa.security.envelope import DataKeyDestroyed, decrypt_text, encrypt_text
from rodistaa.users import repo as users_repo

MAX_TRUCKS_PER_OPERATOR: int = DEFAULT_SYSTEM_CONFIG["maxTrucksPerOperator"]
MIN_ELIGIBLE_MODEL_YEAR = 2018
ELIGIBLE_EMISSIONS = frozenset({EmissionNorm.BS4, EmissionNorm.BS6})


@dataclass(frozen=True)
class TruckView:
    truck: TruckRecord
    documents: list[DocumentRecord]
    chassis_masked: str | None


def chassis_aad(truck_id: str) -> bytes:
    return f"truck:{truck_id}:chassis".encode()


def eligibility_problems(body: TruckCreate, now: datetime) -> list[dict[str, str]]:
    """Every reason the truck cannot be registered, as `{field, error}` (empty when eligible)."""
    problems = []
    if body.vehicleType is not VehicleType.HGV:
        problems.append(
            {"field": "vehicleType", "error": "marketplace work needs a heavy goods vehicle (HGV)"}
        )
    if body.modelYear > now.year + 1:
        problems.append({"field": "modelYear", "error": f"must not be after {now.year + 1}"})
    elif body.modelYear < MIN_ELIGIBLE_MODEL_YEAR:
        problems.append(
            {"field": "modelYear", "error": f"marketplace work needs {MIN_ELIGIBLE_MODEL_YEAR} or later"}
        )
    if body.emission not in ELIGIBLE_EMISSIONS:
        problems.append({"field": "emission", "error": "marketplace work needs BS4 or BS6"})
    if body.permitType is not PermitType.NATIONAL:
        problems.append({"field": "permitType", "error": "marketplace work needs a NATIONAL permit"})
    return problems


def _refuse(problems: list[dict[str, str]]) -> ValidationFailed:
    first = problems[0]
    return ValidationFailed(
        "The truck is not eligible for marketplace work",
        details={"field": first["field"], "error": first["error"], "fields": problems},
    )


async def build_views(
    conn: AsyncConnection, services: Services, actor: Actor, trucks: list[TruckRecord]
) -> list[TruckView]:
    """Trucks with their newest documents; the masked chassis number only for their owner."""
    documents = await repo.latest_documents(conn, [t.id for t in trucks])
    owned = [t for t in trucks if t.operator_id == actor.user_id]
    masked = await _masked_chassis(conn, services, actor.user_id, owned) if owned else {}
    return [TruckView(t, documents[t.id], masked.get(t.id)) for t in trucks]


async def _masked_chassis(
    conn: AsyncConnection, services: Services, owner_id: str, owned: list[TruckRecord]
) -> dict[str, str]:
    try:
        key = await services.data_keys.for_reading(conn, owner_id)
    except DataKeyDestroyed:
        return {}  # erased owner data: nothing left to show
    return {t.id: mask_chassis(decrypt_text(key, t.chassis_ciphertext, chassis_aad(t.id))) for t in owned}


class FleetService:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.db
        self._clock = services.clock

    async def create_truck(self, actor: Actor, body: TruckCreate, *, ip: str | None = None) -> TruckView:
        """Raises ValidationFailed (ineligible), RegistrationTaken (409), PolicyRejected (ACS:
        MAX_TRUCKS_EXCEEDED, MAINTENANCE_WINDOW, ...), MaxTrucksExceeded (the locked re-check)."""
        now = self._clock.now()
        problems = eligibility_problems(body, now)
        if problems:
            raise _refuse(problems)
        draft = self._draft(actor, body, now)
        async with self._db.read() as conn:
            if await repo.registration_exists(conn, draft.registration_number):
                raise RegistrationTaken()
            kyc = await kyc_status(conn, actor.user_id, actor.role)
            operator = await users_repo.get_by_id(conn, actor.user_id)
            counted = await repo.count_counted_trucks(conn, actor.user_id)
        assert operator is not None  # authenticated just now
        names = {
            "truck": truck_names(draft),
            "operator": operator_names(
                actor.user_id, status=operator.status.value, kyc_status=kyc, active_trucks=counted
            ),
        }
        event = new_event(
            "truck.create", actor_ctx(actor, kyc_status=kyc, ip=ip), at=now, payload={"truckId": draft.id}
        )
        await self._services.acs.enforce(
            event, ProvidedFacts(names=names, answerers=fleet_answerers(self._db))
        )
        record = await self._insert(actor, draft, body, now)
        return TruckView(record, [], mask_chassis(body.chassisNumber))

    @staticmethod
    def _draft(actor: Actor, body: TruckCreate, now: datetime) -> TruckRecord:
        return TruckRecord(
            id=new_truck_id(body.registrationNumber),
            operator_id=actor.user_id,
            registration_number=body.registrationNumber,
            vehicle_type=body.vehicleType.value,
            body_type=body.bodyType.value,
            tyres=body.tyres,
            capacity_tonnes=body.capacityTonnes,
            model_year=body.modelYear,
            emission=body.emission.value,
            permit_type=body.permitType.value,
            chassis_ciphertext="",
            chassis_hash=chassis_fingerprint(body.chassisNumber),
            base_lat=body.baseLocation.lat,
            base_lng=body.baseLocation.lng,
            franchise_unit_id=None,
            status=TruckStatus.PENDING_INSPECTION,
            last_inspected_at=None,
            created_at=now,
            updated_at=now,
        )

    async def _insert(
        self, actor: Actor, draft: TruckRecord, body: TruckCreate, now: datetime
    ) -> TruckRecord:
        async with self._db.transaction() as conn:
            await repo.lock_operator(conn, actor.user_id)
            if await repo.count_counted_trucks(conn, actor.user_id) >= MAX_TRUCKS_PER_OPERATOR:
                raise MaxTrucksExceeded()
            unit = await unit_for_point(conn, draft.base_lat, draft.base_lng)
            key = await self._services.data_keys.for_writing(conn, actor.user_id, now=now)
            record = replace(
                draft,
                chassis_ciphertext=encrypt_text(key, body.chassisNumber, chassis_aad(draft.id)),
                franchise_unit_id=unit.id if unit else None,
            )
            try:
                await repo.insert_truck(conn, record)
            except RegistrationAlreadyTaken as exc:
                raise RegistrationTaken() from exc
            data = {
                "operatorId": actor.user_id,
                "franchiseUnitId": record.franchise_unit_id,
                "chassisHash": record.chassis_hash,
            }
            await append(
                conn, AuditEntryDraft(actor.user_id, "truck.created", "truck", record.id, data), now=now
            )
        return record

    async def list_trucks(
        self, actor: Actor, *, status: TruckStatus | None, page: PageRequest
    ) -> tuple[list[TruckView], int]:
        now = self._clock.now()
        async with self._db.read() as conn:
            records, total = await repo.list_trucks(
                conn, visible=readable(actor), status=status, now=now, offset=page.offset, limit=page.limit
            )
            return await build_views(conn, self._services, actor, records), total

    async def get_truck(self, actor: Actor, truck_id: str) -> TruckView:
        """404 unless the caller may see the truck (see `fleet.policy`)."""
        async with self._db.read() as conn:
            truck = await repo.get_truck(conn, truck_id, now=self._clock.now(), visible=readable(actor))
            if truck is None:
                raise NotFound()
            return (await build_views(conn, self._services, actor, [truck]))[0]

    async def retire_truck(self, actor: Actor, truck_id: str) -> TruckView:
        """The owner takes the truck out of service for good (INACTIVE; it stops counting towards
        the limit). 404 if not visible, 403 if not the owner, 409 if blocked or already retired."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            truck = await repo.get_truck(conn, truck_id, now=now, visible=readable(actor), for_update=True)
            if truck is None:
                raise NotFound()
            ensure_owner(actor, truck)
            if truck.effective_status is TruckStatus.BLOCKED:
                raise TruckBlocked()
            if truck.status is TruckStatus.INACTIVE:
                raise TruckRetired()
            await repo.claim_status(conn, truck.id, expected=truck.status, new=TruckStatus.INACTIVE, now=now)
            data = {
                "from": truck.status.value,
                "to": TruckStatus.INACTIVE.value,
                "operatorId": truck.operator_id,
            }
            await append(
                conn, AuditEntryDraft(actor.user_id, "truck.retired", "truck", truck.id, data), now=now
            )
        return await self.get_truck(actor, truck_id)
