"""KYC use cases: upload, the owner's status, the review queue, verify/reject, and the audited
decryption by a KYC admin.

Files and numbers are encrypted with the owner's data key before they reach storage or the
database; the associated data (`kyc:<id>:file`, `kyc:<id>:number`) binds each ciphertext to its
record and field. Only the masked number and a keyed hash of the normalised number are kept in
clear. Nothing in this module logs a number, a file, a purpose or a decrypted value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.events import actor_ctx, new_event
from rodistaa.acs.facts import ProvidedFacts
from rodistaa.acs.queues import flag_watchlist
from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound, ValidationFailed
from rodistaa.core.ids import new_id
from rodistaa.http.pagination import PageRequest
from rodistaa.http.services import Services
from rodistaa.kyc import repo
from rodistaa.kyc.errors import DataErased, DocumentAlreadyReviewed
from rodistaa.kyc.numbers import DocumentType, InvalidDocumentNumber, mask, normalise, number_hash
from rodistaa.kyc.repo import REJECTED, VERIFIED, KycDocument
from rodistaa.kyc.status import REQUIRED_DOCUMENTS, aggregate, kyc_status
from rodistaa.security.envelope import DataKeyDestroyed, decrypt, decrypt_text, encrypt, encrypt_text
from rodistaa.users import repo as users_repo

log = structlog.get_logger("rodistaa.kyc")

DUPLICATE_REASON = "KYC_DUPLICATE_DOCUMENT"
KYC_TEAM = "kyc"


def associated_data(kyc_id: str, part: str) -> bytes:
    """Binds a ciphertext to one document and one field (`file` or `number`)."""
    return f"kyc:{kyc_id}:{part}".encode()


def storage_key(user_id: str, kyc_id: str) -> str:
    return f"kyc/{user_id}/{kyc_id}"


@dataclass(frozen=True)
class OwnStatus:
    status: str
    required: tuple[DocumentType, ...]
    documents: list[tuple[KycDocument, bool]]  # (document, superseded), newest first


@dataclass(frozen=True)
class DecryptedDocument:
    document: KycDocument
    number: str
    content: bytes
    acs_event_id: str


class KycService:
    def __init__(self, services: Services) -> None:
        self._db = services.db
        self._clock = services.clock
        self._acs = services.acs
        self._storage = services.storage
        self._data_keys = services.data_keys
        self._hash_key = services.settings.hmac_key.encode()

    # --- owner -----------------------------------------------------------------------------

    async def upload(
        self, actor: Actor, document_type: DocumentType, raw_number: str, content: bytes, content_type: str
    ) -> KycDocument:
        """Store a new PENDING document for the caller. The same number on another account is
        a fraud signal (watchlist for every account holding it, a ticket for the KYC team) but
        the upload itself is accepted, and the caller is told nothing about the other account:
        refusing it would let anyone probe whether a given number is registered here."""
        try:
            number = normalise(document_type, raw_number)
        except InvalidDocumentNumber as exc:
            raise ValidationFailed.for_field("documentNumber", str(exc)) from None
        key = await self._data_key_for_writing(actor.user_id)
        kyc_id = new_id("KYC")
        new = repo.NewDocument(
            id=kyc_id,
            user_id=actor.user_id,
            document_type=document_type,
            number_ciphertext=encrypt_text(key, number, associated_data(kyc_id, "number")),
            number_masked=mask(document_type, number),
            number_hash=number_hash(self._hash_key, document_type, number),
            storage_key=storage_key(actor.user_id, kyc_id),
            content_type=content_type,
            size_bytes=len(content),
        )
        await self._storage.put(new.storage_key, encrypt(key, content, associated_data(kyc_id, "file")))
        try:
            document, duplicates = await self._record(new)
        except BaseException:
            await self._discard(new.storage_key)
            raise
        if duplicates:
            log.warning("kyc_duplicate_document", kyc_id=kyc_id, other_accounts=duplicates)
        return document

    async def _record(self, new: repo.NewDocument) -> tuple[KycDocument, int]:
        """Insert the document, raise the duplicate signals, audit; returns the document and
        the number of other accounts holding the same number."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            # Taken before looking for other owners: a concurrent upload of the same number by
            # another account waits here, then sees this one.
            await repo.lock_number_hash(conn, new.number_hash)
            others = await repo.other_owners_of_number(conn, new.number_hash, user_id=new.user_id)
            document = await repo.insert(conn, new, now=now)
            data: dict[str, object] = {
                "documentType": new.document_type.value,
                "duplicateAccounts": len(others),
            }
            if others:
                data["ticketId"] = await self._flag_duplicate(conn, document, others, now)
            await append(conn, AuditEntryDraft(new.user_id, "kyc.uploaded", "kyc", new.id, data), now=now)
        return document, len(others)

    async def _data_key_for_writing(self, user_id: str) -> bytes:
        """The owner's data key, committed before anything is encrypted with it (a concurrent
        first upload is settled inside `DataKeys.for_writing`)."""
        async with self._db.transaction() as conn:
            return await self._data_keys.for_writing(conn, user_id, now=self._clock.now())

    @staticmethod
    async def _flag_duplicate(
        conn: AsyncConnection, document: KycDocument, others: Sequence[str], now: datetime
    ) -> str:
        for user_id in sorted({document.user_id, *others}):
            await flag_watchlist(
                conn, entity_type="user", entity_id=user_id, reason=DUPLICATE_REASON, now=now
            )
        return await repo.open_ticket(
            conn,
            team=KYC_TEAM,
            summary=f"The same {document.document_type.value} number is on {len(others) + 1} accounts",
            refs=[document.id, document.user_id, *others],
            now=now,
        )

    async def _discard(self, location: str) -> None:
        """Best effort: the ciphertext of a document that was never recorded is useless."""
        try:
            await self._storage.delete(location)
        except Exception:
            log.warning("kyc_orphan_file_not_deleted", storage_key=location, exc_info=True)

    async def own_status(self, actor: Actor) -> OwnStatus:
        async with self._db.read() as conn:
            documents = await repo.list_for_owner(conn, actor)
        seen: set[DocumentType] = set()
        listed: list[tuple[KycDocument, bool]] = []
        latest: dict[str, str] = {}
        for document in documents:  # newest first: the first of each type is the current one
            listed.append((document, document.document_type in seen))
            if document.document_type not in seen:
                seen.add(document.document_type)
                latest[document.document_type.value] = document.status
        required = tuple(DocumentType(t) for t in REQUIRED_DOCUMENTS.get(actor.role, ()))
        return OwnStatus(aggregate(actor.role, latest), required, listed)

    # --- KYC admin -------------------------------------------------------------------------

    async def review_queue(
        self, actor: Actor, *, document_type: DocumentType | None, page: PageRequest
    ) -> tuple[list[KycDocument], int]:
        async with self._db.read() as conn:
            return await repo.list_review_queue(
                conn, actor, document_type=document_type, offset=page.offset, limit=page.limit
            )

    async def verify(self, actor: Actor, kyc_id: str) -> KycDocument:
        return await self._review(actor, kyc_id, status=VERIFIED, reason=None)

    async def reject(self, actor: Actor, kyc_id: str, reason: str) -> KycDocument:
        return await self._review(actor, kyc_id, status=REJECTED, reason=reason)

    async def _review(self, actor: Actor, kyc_id: str, *, status: str, reason: str | None) -> KycDocument:
        """PENDING -> VERIFIED | REJECTED, audited. 404 for an unknown document; 409 when it was
        already reviewed (including by a concurrent request that won the claim)."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            document = await repo.get_visible(conn, actor, kyc_id)
            if document is None:
                raise NotFound()
            claimed = await repo.claim_review(
                conn, kyc_id, status=status, reviewer_id=actor.user_id, reason=reason, now=now
            )
            if not claimed:
                current = await repo.get_visible(conn, actor, kyc_id)
                raise DocumentAlreadyReviewed(details={"status": current.status if current else None})
            owner_status = await self._owner_status(conn, document.user_id)
            data: dict[str, object] = {
                "ownerId": document.user_id,
                "documentType": document.document_type.value,
            }
            if owner_status is not None:
                data["ownerKycStatus"] = owner_status
            # Ids only: the rejection reason is free text and stays in the erasable document row.
            action = "kyc.verified" if status == VERIFIED else "kyc.rejected"
            await append(conn, AuditEntryDraft(actor.user_id, action, "kyc", kyc_id, data), now=now)
        return replace(
            document, status=status, rejection_reason=reason, reviewed_by=actor.user_id, reviewed_at=now
        )

    @staticmethod
    async def _owner_status(conn: AsyncConnection, user_id: str) -> str | None:
        owner = await users_repo.get_by_id(conn, user_id)
        return await kyc_status(conn, user_id, owner.role) if owner else None

    async def decrypt(self, actor: Actor, kyc_id: str, purpose: str) -> DecryptedDocument:
        """Open one document for a KYC admin. ACS `kyc.decrypt` is evaluated first (so a bundle
        can refuse or flag it, and the purpose is kept with the evaluated event); the audit
        entry `kyc.decrypted` commits before anything is returned (a failed append returns
        nothing).

        The audit log is permanent and a purpose is free text that may name a person, so the
        entry holds the purpose's SHA-256 and the ACS event id; the text itself stays with the
        event, which erasure can reach, and the hash proves it was not altered since.

        404 unknown document; ACS reject codes; 410 DATA_ERASED when the owner's data key was
        destroyed."""
        async with self._db.read() as conn:
            document = await repo.get_visible(conn, actor, kyc_id)
            if document is None:
                raise NotFound()
            own_status = await kyc_status(conn, actor.user_id, actor.role)
        event = new_event(
            "kyc.decrypt",
            actor_ctx(actor, kyc_status=own_status),
            at=self._clock.now(),
            payload={"kycId": document.id},
        )
        await self._acs.enforce(event, _decrypt_facts(document, purpose))
        async with self._db.read() as conn:
            try:
                key = await self._data_keys.for_reading(conn, document.user_id)
            except DataKeyDestroyed:
                raise DataErased() from None
        # Storage and KMS I/O happen outside the write transaction, which holds only the audit.
        number = decrypt_text(key, document.number_ciphertext, associated_data(kyc_id, "number"))
        encrypted_file = await self._storage.get(document.storage_key)
        content = decrypt(key, encrypted_file, associated_data(kyc_id, "file"))
        data = {
            "ownerId": document.user_id,
            "documentType": document.document_type.value,
            "purposeSha256": hashlib.sha256(purpose.encode()).hexdigest(),
            "acsEventId": event.id,
        }
        async with self._db.transaction() as conn:
            draft = AuditEntryDraft(actor.user_id, "kyc.decrypted", "kyc", kyc_id, data)
            await append(conn, draft, now=self._clock.now())
        return DecryptedDocument(document, number, content, event.id)


def _decrypt_facts(document: KycDocument, purpose: str) -> ProvidedFacts:
    """The `kyc.decrypt` context (acs.contract): the document without its number, and the
    stated purpose."""
    return ProvidedFacts(
        names={
            "kyc": {
                "id": document.id,
                "userId": document.user_id,
                "documentType": document.document_type.value,
                "status": document.status,
            },
            "request": {"purpose": purpose},
        }
    )
