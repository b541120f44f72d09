"""Inspection use cases: a franchise unit opens an inspection of a truck in its zone, uploads
photos, and submits the result, which ACS (`inspection.uploaded`: RF09, RF10, RF24) may refuse.

A submission ACS refuses marks the inspection REJECTED with the rule's code and leaves the truck
as it was: the record stays as evidence and a new inspection is needed. An accepted one records
PASSED/FAILED and moves the truck (`fleet.lifecycle.record_inspection_result`) in one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.engine import FAIL_CLOSED_CODE, Decision, Outcome
from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.acs.lang.functions import distance
from rodistaa.acs.service import PolicyRejected
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound, ValidationFailed
from rodistaa.core.ids import new_id
from rodistaa.fleet.lifecycle import record_inspection_result
from rodistaa.fleet.repo import TruckRecord
from rodistaa.fleet.status import TruckStatus
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.http.uploads import read_upload
from rodistaa.inspections import repo
from rodistaa.inspections.errors import (
    InspectionChanged,
    InspectionNotPending,
    PhotosRequired,
    TruckNotInZone,
    TruckRetired,
)
from rodistaa.inspections.repo import Geo, InspectionRecord, PhotoRecord, UnitRecord
from rodistaa.kyc.status import kyc_status
from rodistaa.security.envelope import encrypt
from rodistaa.storage.sniff import IMAGE_TYPES, MB

log = structlog.get_logger("rodistaa.inspections")

MAX_PHOTO_BYTES = 10 * MB
MAX_PHOTOS_PER_INSPECTION = 20
EVENT_TYPE = "inspection.uploaded"


@dataclass(frozen=True)
class Location:
    lat: float
    lng: float


@dataclass(frozen=True)
class Submission:
    """What is evaluated and recorded: the result with the geotag and checklist in force
    (those given at submission, else those given at creation)."""

    result: str
    geo: Geo | None
    checklist: Mapping[str, bool]


def photo_storage_key(inspection_id: str, photo_id: str) -> str:
    return f"inspections/{inspection_id}/{photo_id}"


def photo_aad(inspection_id: str, photo_id: str) -> bytes:
    return f"inspection:{inspection_id}:photo:{photo_id}".encode()


class InspectionService:
    def __init__(self, services: Services) -> None:
        self._s = services

    # --- reads ---------------------------------------------------------------------------------

    async def get(self, actor: Actor, inspection_id: str) -> InspectionRecord:
        async with self._s.db.read() as conn:
            inspection = await repo.get_visible(conn, actor, inspection_id)
        if inspection is None:
            raise NotFound()
        return inspection

    async def list_visible(
        self, actor: Actor, *, truck_id: str | None, status: str | None, page: PageRequest
    ) -> tuple[list[InspectionRecord], int]:
        async with self._s.db.read() as conn:
            return await repo.list_visible(
                conn, actor, truck_id=truck_id, status=status, offset=page.offset, limit=page.limit
            )

    # --- create --------------------------------------------------------------------------------

    async def create(
        self,
        actor: Actor,
        *,
        truck_id: str,
        geo: Geo | None,
        checklist: Mapping[str, bool] | None,
        notes: str | None,
    ) -> InspectionRecord:
        """Raises TruckNotInZone (404) for a truck outside the caller's unit, TruckRetired (409)
        for an INACTIVE one."""
        now = self._s.clock.now()
        inspection_id = new_id("INS")
        async with self._s.db.transaction() as conn:
            truck = await repo.get_truck_in_staff_unit(conn, truck_id, actor.user_id, now=now)
            if truck is None or truck.franchise_unit_id is None:
                raise TruckNotInZone()
            if truck.status == TruckStatus.INACTIVE:
                raise TruckRetired()
            await repo.insert_inspection(
                conn,
                inspection_id=inspection_id,
                truck_id=truck.id,
                unit_franchise_id=truck.franchise_unit_id,
                inspector_id=actor.user_id,
                geo=geo,
                checklist=checklist,
                notes=notes,
                now=now,
            )
            inspection = await repo.get_by_id(conn, inspection_id)
            data = {
                "inspectionId": inspection_id,
                "truckId": truck.id,
                "unitFranchiseId": truck.franchise_unit_id,
            }
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "inspection.created", "inspection", inspection_id, data),
                now=now,
            )
        return inspection

    # --- photos --------------------------------------------------------------------------------

    async def add_photos(
        self,
        actor: Actor,
        inspection_id: str,
        uploads: Sequence[tuple[str, UploadFile]],
        location: Location | None,
    ) -> InspectionRecord:
        """Store each photo encrypted with the truck operator's data key, keep the SHA-256 of
        its plaintext (RF10 compares it across trucks), all or none.

        Files go to storage before their rows are written (outside any lock, storage may be
        slow); if anything then fails the stored files are deleted again."""
        now = self._s.clock.now()
        async with self._s.db.transaction() as conn:
            inspection = await self._pending(conn, actor, inspection_id)
            _check_photo_limit(len(inspection.photos), uploads)  # early, before storing anything
            operator_id = await repo.truck_operator(conn, inspection.truck_id)
            key = await self._s.data_keys.for_writing(conn, operator_id, now=now)
        stored: list[PhotoRecord] = []
        try:
            for field, upload in uploads:
                stored.append(await self._store_photo(key, inspection_id, field, upload, location, now))
            async with self._s.db.transaction() as conn:
                if not await repo.lock_if_pending(conn, inspection_id):
                    raise InspectionNotPending()
                # Again under the lock: a concurrent upload may have added photos meanwhile.
                _check_photo_limit(len(await repo.photo_ids(conn, inspection_id)), uploads)
                await repo.insert_photos(conn, stored)
                data = {"photoIds": [p.id for p in stored], "sha256": [p.sha256 for p in stored]}
                draft = AuditEntryDraft(
                    actor.user_id, "inspection.photos_added", "inspection", inspection_id, data
                )
                await append(conn, draft, now=now)
        except BaseException:
            await self._discard(stored)
            raise
        return await self.get(actor, inspection_id)

    async def _store_photo(
        self,
        key: bytes,
        inspection_id: str,
        field: str,
        upload: UploadFile,
        location: Location | None,
        now: datetime,
    ) -> PhotoRecord:
        data, content_type = await read_upload(
            upload, field=field, max_bytes=MAX_PHOTO_BYTES, allowed=IMAGE_TYPES
        )
        photo_id = new_id("PHO")
        storage_key = photo_storage_key(inspection_id, photo_id)
        await self._s.storage.put(storage_key, encrypt(key, data, photo_aad(inspection_id, photo_id)))
        return PhotoRecord(
            id=photo_id,
            inspection_id=inspection_id,
            storage_key=storage_key,
            content_type=content_type,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            taken_lat=location.lat if location else None,
            taken_lng=location.lng if location else None,
            created_at=now,
        )

    async def _discard(self, photos: Sequence[PhotoRecord]) -> None:
        for photo in photos:
            try:
                await self._s.storage.delete(photo.storage_key)
            except Exception:  # an orphaned ciphertext is harmless; the original error matters
                log.warning("inspection_photo_cleanup_failed", photo_id=photo.id)

    # --- submit --------------------------------------------------------------------------------

    async def submit(
        self,
        actor: Actor,
        inspection_id: str,
        *,
        result: str,
        geo: Geo | None,
        checklist: Mapping[str, bool] | None,
    ) -> tuple[InspectionRecord, str]:
        """Evaluate `inspection.uploaded`, then record the result and move the truck.

        Raises NotFound, InspectionNotPending (409), PhotosRequired (409), ValidationFailed
        (checklist missing, PASSED with a failed checklist item), PolicyRejected (the ACS code),
        InspectionChanged (photos added meanwhile). Returns the inspection and truck status."""
        now = self._s.clock.now()
        async with self._s.db.read() as conn:
            inspection = await self._pending(conn, actor, inspection_id)
            submission = _submission(inspection, result=result, geo=geo, checklist=checklist)
            truck = await repo.get_truck(conn, inspection.truck_id, now=now)
            unit = await repo.get_unit(conn, inspection.unit_franchise_id)
            hashes = [p.sha256 for p in inspection.photos]
            index = await repo.photo_hashes_on_other_trucks(conn, hashes, truck.id)
            kyc = await kyc_status(conn, actor.user_id, actor.role)
        names = inspection_facts(inspection, submission, truck, unit, index)
        payload = {"inspectionId": inspection.id, "truckId": truck.id}
        event = new_event(EVENT_TYPE, actor_ctx(actor, kyc_status=kyc), at=now, payload=payload)
        decision = await self._s.acs.evaluate(event, ProvidedFacts(names=names))
        if not decision.allowed:
            await self._refused(actor, inspection, submission, decision, now)
            raise PolicyRejected(decision)
        truck_status = await self._record(actor, inspection, submission, now)
        return await self.get(actor, inspection_id), truck_status

    async def _refused(
        self,
        actor: Actor,
        inspection: InspectionRecord,
        submission: Submission,
        decision: Decision,
        now: datetime,
    ) -> None:
        """A policy rejection closes the inspection as REJECTED with the rule's code. A throttle
        or ACS being unavailable says nothing about the inspection: it stays PENDING."""
        if decision.outcome is not Outcome.REJECT or decision.code == FAIL_CLOSED_CODE:
            return
        async with self._s.db.transaction() as conn:
            closed = await repo.close_pending(
                conn,
                inspection.id,
                status="REJECTED",
                rejection_code=decision.code,
                geo=submission.geo,
                checklist=submission.checklist,
                now=now,
            )
            if not closed:
                return  # a concurrent submission decided it first
            data = {
                "inspectionId": inspection.id,
                "truckId": inspection.truck_id,
                "code": decision.code,
                "ruleId": decision.rule_id,
                "eventId": decision.event_id,
            }
            draft = AuditEntryDraft(actor.user_id, "inspection.rejected", "inspection", inspection.id, data)
            await append(conn, draft, now=now)

    async def _record(
        self, actor: Actor, inspection: InspectionRecord, submission: Submission, now: datetime
    ) -> str:
        """One transaction: claim the PENDING inspection, check its photos are exactly those
        ACS judged (a photo added after the evaluation would otherwise pass unchecked), move
        the truck, audit. Returns the truck's new status."""
        evaluated = {p.id for p in inspection.photos}
        passed = submission.result == "PASSED"
        async with self._s.db.transaction() as conn:
            closed = await repo.close_pending(
                conn,
                inspection.id,
                status=submission.result,
                rejection_code=None,
                geo=submission.geo,
                checklist=submission.checklist,
                now=now,
            )
            if not closed:
                raise InspectionNotPending()
            if await repo.photo_ids(conn, inspection.id) != evaluated:
                raise InspectionChanged()
            change = await record_inspection_result(conn, inspection.truck_id, passed=passed, now=now)
            new_status = change.after.value
            data = {
                "inspectionId": inspection.id,
                "truckId": change.truck_id,
                "result": submission.result,
                "truckStatusBefore": change.before.value,
                "truckStatus": new_status,
            }
            draft = AuditEntryDraft(actor.user_id, "inspection.submitted", "inspection", inspection.id, data)
            await append(conn, draft, now=now)
        return new_status

    @staticmethod
    async def _pending(conn: AsyncConnection, actor: Actor, inspection_id: str) -> InspectionRecord:
        inspection = await repo.get_visible(conn, actor, inspection_id)
        if inspection is None:
            raise NotFound()
        if inspection.status != repo.PENDING:
            raise InspectionNotPending()
        return inspection


def _check_photo_limit(existing: int, uploads: Sequence[tuple[str, UploadFile]]) -> None:
    if existing + len(uploads) > MAX_PHOTOS_PER_INSPECTION:
        field = uploads[0][0]
        raise ValidationFailed.for_field(
            field, f"an inspection holds at most {MAX_PHOTOS_PER_INSPECTION} photos"
        )


def _submission(
    inspection: InspectionRecord, *, result: str, geo: Geo | None, checklist: Mapping[str, bool] | None
) -> Submission:
    if not inspection.photos:
        raise PhotosRequired()
    effective_checklist = checklist or inspection.checklist
    if not effective_checklist:
        raise ValidationFailed.for_field("checklist", "the checklist is required, here or at creation")
    if result == "PASSED" and not all(effective_checklist.values()):
        raise ValidationFailed.for_field("result", "cannot be PASSED when a checklist item failed")
    if geo is None and inspection.geo_lat is not None and inspection.geo_lng is not None:
        geo = Geo(inspection.geo_lat, inspection.geo_lng, inspection.geo_accuracy_m)
    return Submission(result=result, geo=geo, checklist=dict(effective_checklist))


def _epoch_ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def inspection_facts(
    inspection: InspectionRecord,
    submission: Submission,
    truck: TruckRecord,
    unit: UnitRecord,
    index: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """The `inspection.uploaded` context (acs.contract). One evaluation covers the whole
    submission: `image` is the first photo already used on another truck, else the first photo;
    `inspection.geo` is the geotag, moved to the photo position farthest from the unit's centre
    when that is farther (see `evaluated_geo`)."""
    image = next((p for p in inspection.photos if p.sha256 in index), inspection.photos[0])
    centre = {"lat": unit.centre_lat, "lng": unit.centre_lng}
    return {
        "inspection": {
            "id": inspection.id,
            "truckId": inspection.truck_id,
            "unitFranchiseId": inspection.unit_franchise_id,
            "result": submission.result,
            "photoCount": len(inspection.photos),
            "geo": evaluated_geo(submission.geo, inspection.photos, centre),
        },
        "image": {"hash": image.sha256, "takenAt": _epoch_ms(image.created_at)},
        "unitFranchise": {"id": unit.id, "radiusMeters": unit.radius_m, "allowedGeoCenter": centre},
        "truck": {
            "id": truck.id,
            "registrationNumber": truck.registration_number,
            "operatorId": truck.operator_id,
            "status": truck.effective_status.value,
            "vehicleType": truck.vehicle_type,
            "bodyType": truck.body_type,
            "tyres": truck.tyres,
            "capacityTonnes": float(truck.capacity_tonnes),
            "modelYear": truck.model_year,
            "emission": truck.emission,
            "permitType": truck.permit_type,
            "lastInspectionAt": _epoch_ms(truck.last_inspected_at),
        },
        "db": {"indexes": {"inspection_image_hashes": {h: dict(v) for h, v in index.items()}}},
    }


def evaluated_geo(
    geo: Geo | None, photos: Sequence[PhotoRecord], centre: Mapping[str, float | None]
) -> dict[str, Any] | None:
    """The geotag ACS judges. PRODUCT §5 refuses "a photo taken farther than the unit's zone
    radius", and the contract has one `inspection.geo`: so the point judged is the farthest
    from the centre among the geotag and the photos' own positions, with the geotag's accuracy.
    Without a geotag there is nothing to judge (RF09 refuses it): photo positions carry no
    accuracy and do not stand in for one."""
    if geo is None:
        return None
    farthest = {"lat": geo.lat, "lng": geo.lng}
    farthest_m = distance(farthest, centre) or 0.0
    for photo in photos:
        if photo.taken_lat is None or photo.taken_lng is None:
            continue
        point = {"lat": photo.taken_lat, "lng": photo.taken_lng}
        metres = distance(point, centre) or 0.0
        if metres > farthest_m:
            farthest, farthest_m = point, metres
    return {**farthest, "accuracy": geo.accuracy}
