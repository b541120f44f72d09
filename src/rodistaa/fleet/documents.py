"""Truck documents (PRODUCT §5): upload by the truck's operator, download by whoever may see
the truck.

Upload: the file is encrypted with the operator's data key (associated data
`truckdoc:{docId}`) and stored; the SHA-256 of the plaintext is kept. ACS `doc.uploaded` runs
first with the registry's chassis number for the truck (RF11: an RC whose chassis number differs
from the registry's blocks the truck and opens a KYC ticket). The upload then recomputes the
truck's status in the same transaction: a valid document can bring an EXPIRED_DOCS truck back to
ACTIVE, an expired one (recorded all the same) or a fresh block takes it out of work.

The encrypted file is written to storage inside the transaction, before the row: a failed commit
leaves an unreferenced ciphertext behind, never a row pointing at a missing file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound, ValidationFailed
from rodistaa.core.ids import new_id
from rodistaa.fleet import repo
from rodistaa.fleet.errors import DocumentErased, DocumentFileUnavailable, TruckRetired
from rodistaa.fleet.facts import chassis_fingerprint, truck_names
from rodistaa.fleet.lifecycle import sync_status
from rodistaa.fleet.policy import ensure_owner, readable
from rodistaa.fleet.repo import DocumentRecord, TruckRecord
from rodistaa.fleet.status import DocumentType, TruckStatus, business_date
from rodistaa.fleet.vahan import RegistryLookup, build_registry
from rodistaa.http.services import Services
from rodistaa.kyc.status import kyc_status
from rodistaa.security.envelope import DataKeyDestroyed, decrypt, encrypt
from rodistaa.storage.base import StorageError

# Insurance and permits run for years, not decades: a later date is a typing mistake.
MAX_EXPIRY_AHEAD = timedelta(days=366 * 20)


@dataclass(frozen=True)
class DocumentUpload:
    doc_type: DocumentType
    expiry_date: date
    data: bytes
    content_type: str
    ocr_chassis: str | None  # normalised; RC only


@dataclass(frozen=True)
class UploadResult:
    document: DocumentRecord
    truck_status: TruckStatus


def file_aad(doc_id: str) -> bytes:
    return f"truckdoc:{doc_id}".encode()


def storage_key(truck_id: str, doc_id: str) -> str:
    return f"trucks/{truck_id}/documents/{doc_id}"


class TruckDocumentService:
    def __init__(self, services: Services, *, registry: RegistryLookup | None = None) -> None:
        self._services = services
        self._db = services.db
        self._clock = services.clock
        self._registry = registry or build_registry(services.settings)

    async def upload(
        self, actor: Actor, truck_id: str, upload: DocumentUpload, *, ip: str | None = None
    ) -> UploadResult:
        """404 if the caller cannot see the truck, 403 unless they own it, 409 if it is retired,
        400 naming `expiryDate` for an implausible date; PolicyRejected if ACS refuses."""
        now = self._clock.now()
        if upload.expiry_date > business_date(now) + MAX_EXPIRY_AHEAD:
            raise ValidationFailed.for_field("expiryDate", "is too far in the future")
        async with self._db.read() as conn:
            truck = await repo.get_truck(conn, truck_id, now=now, visible=readable(actor))
            if truck is None:
                raise NotFound()
            ensure_owner(actor, truck)
            if truck.status is TruckStatus.INACTIVE:
                raise TruckRetired()
            kyc = await kyc_status(conn, actor.user_id, actor.role)
        doc_id = new_id("DOC")
        doc = DocumentRecord(
            id=doc_id,
            truck_id=truck.id,
            doc_type=upload.doc_type.value,
            expiry_date=upload.expiry_date,
            storage_key=storage_key(truck.id, doc_id),
            content_type=upload.content_type,
            size_bytes=len(upload.data),
            file_sha256=hashlib.sha256(upload.data).hexdigest(),
            uploaded_by=actor.user_id,
            created_at=now,
        )
        await self._evaluate(actor, truck, doc, upload, kyc=kyc, ip=ip)
        return await self._store(actor, doc, upload.data)

    async def _evaluate(
        self,
        actor: Actor,
        truck: TruckRecord,
        doc: DocumentRecord,
        upload: DocumentUpload,
        *,
        kyc: str,
        ip: str | None,
    ) -> None:
        registry_chassis = await self._registry.chassis_for(truck.registration_number)
        names = {
            "truck": truck_names(truck, registry_chassis=registry_chassis),
            "doc": {
                "id": doc.id,
                "type": doc.doc_type,
                "truckId": truck.id,
                "expiryDate": doc.expiry_date.isoformat(),
                "fileHash": doc.file_sha256,
                "ocr": {
                    "chassisNumber": chassis_fingerprint(upload.ocr_chassis) if upload.ocr_chassis else None
                },
            },
        }
        ctx = actor_ctx(actor, kyc_status=kyc, ip=ip, uploaderId=actor.user_id)
        event = new_event(
            "doc.uploaded", ctx, at=doc.created_at, payload={"documentId": doc.id, "truckId": truck.id}
        )
        await self._services.acs.enforce(event, ProvidedFacts(names=names))

    async def _store(self, actor: Actor, doc: DocumentRecord, data: bytes) -> UploadResult:
        now = doc.created_at
        async with self._db.transaction() as conn:
            # Locked so the retire check, the insert and the status recomputation see one state.
            truck = await repo.get_truck(conn, doc.truck_id, now=now, for_update=True)
            if truck is None:
                raise NotFound()
            if truck.status is TruckStatus.INACTIVE:
                raise TruckRetired()
            key = await self._services.data_keys.for_writing(conn, truck.operator_id, now=now)
            await self._put(doc.storage_key, encrypt(key, data, file_aad(doc.id)))
            await repo.insert_document(conn, doc)
            change = await sync_status(conn, truck.id, now=now)
            status = change.after if change else truck.status
            data_out = {
                "truckId": truck.id,
                "type": doc.doc_type,
                "fileSha256": doc.file_sha256,
                "expiryDate": doc.expiry_date.isoformat(),
                "statusFrom": truck.status.value,
                "statusTo": status.value,
            }
            await append(
                conn,
                AuditEntryDraft(actor.user_id, "truck.document_uploaded", "truck_document", doc.id, data_out),
                now=now,
            )
        return UploadResult(doc, status)

    async def _put(self, key: str, blob: bytes) -> None:
        try:
            await self._services.storage.put(key, blob)
        except StorageError as exc:
            raise DocumentFileUnavailable() from exc

    async def read_file(self, actor: Actor, truck_id: str, doc_id: str) -> tuple[DocumentRecord, bytes]:
        """The decrypted file, for whoever may see the truck (its operator, admins, the staff of
        its franchise). Reads by anyone but the owner are audited before the file is released."""
        now = self._clock.now()
        async with self._db.read() as conn:
            truck = await repo.get_truck(conn, truck_id, now=now, visible=readable(actor))
            doc = await repo.get_document(conn, truck_id, doc_id) if truck else None
            if truck is None or doc is None:
                raise NotFound()
            try:
                key = await self._services.data_keys.for_reading(conn, truck.operator_id)
            except DataKeyDestroyed as exc:
                raise DocumentErased() from exc
        try:
            blob = await self._services.storage.get(doc.storage_key)
        except StorageError as exc:
            raise DocumentFileUnavailable() from exc
        plaintext = decrypt(key, blob, file_aad(doc.id))
        if actor.user_id != truck.operator_id:
            async with self._db.transaction() as conn:
                data = {"truckId": truck.id, "operatorId": truck.operator_id, "role": actor.role.value}
                await append(
                    conn,
                    AuditEntryDraft(actor.user_id, "truck.document_read", "truck_document", doc.id, data),
                    now=now,
                )
        return doc, plaintext
