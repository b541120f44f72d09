"""GDPR use cases: the person's own export, and erasure by an admin (docs/privacy.md).

Export (`GET /users/me/export`): everything held about the caller, read in one consistent
snapshot, each section newest first and capped (`SECTION_LIMIT` rows, `GPS_PING_LIMIT` fixes;
`truncated` in the bundle says which were cut and how many rows there are). Counterparties
appear as ids, or as the alias the API shows (a shipper sees bidders as "Bidder …"). What only
the owner may see in clear is opened with their data key: KYC numbers (and the file of the
current upload of each type), the driver's licence number, their trucks' chassis numbers. The
entry `user.data_exported` (section counts only) commits before the bundle is returned.

Erasure (`POST /admin/users/{id}/erase`): ONE transaction that locks the user, refuses while
they are party to open business (409 ERASURE_BLOCKED), then anonymises the account, revokes
sessions and keys, destroys the person's data key (everything encrypted under it becomes
noise: KYC files and numbers, licence, chassis numbers, sealed idempotent responses, PODs of
their shipments as shipper) and scrubs the free text they wrote as a customer. Ledger entries,
bookings, bids, shipments and the audit log stay, under the user id, which is a random ULID and
names nobody once the row is anonymised. The audit entry `user.erased` (the reason, the role and
what was done, as counts) is the last statement of the transaction.
"""

from __future__ import annotations

import binascii
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit import AuditEntryDraft, append
from rodistaa.acs.audit.repo import snapshot
from rodistaa.apikeys import repo as apikeys_repo
from rodistaa.apikeys.repo import ApiKeyRecord
from rodistaa.bids import repo as bids_repo
from rodistaa.bids.service import BidView, view_for
from rodistaa.bookings import repo as bookings_repo
from rodistaa.bookings.repo import BookingRecord
from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.delivery.repo import PodRecord
from rodistaa.drivers.service import licence_aad
from rodistaa.fleet import repo as fleet_repo
from rodistaa.fleet.repo import DocumentRecord, TruckRecord
from rodistaa.fleet.service import chassis_aad
from rodistaa.gdpr import repo
from rodistaa.gdpr.errors import AlreadyErased, ErasureBlocked, SelfErasure, UserNotFound
from rodistaa.gdpr.repo import (
    AuditRow,
    Capped,
    DeviceRow,
    DriverLicenceRow,
    PseudonymTaken,
    SessionRow,
    TrackSummary,
    UserRow,
)
from rodistaa.http.services import Services
from rodistaa.inspections.repo import InspectionRecord
from rodistaa.kyc import repo as kyc_repo
from rodistaa.kyc.repo import KycDocument
from rodistaa.kyc.service import associated_data as kyc_aad
from rodistaa.ledger import repo as ledger_repo
from rodistaa.ledger.repo import Entry
from rodistaa.notifications.repo import NotificationRecord
from rodistaa.security.envelope import DataKeyDestroyed, DecryptionFailed, decrypt, decrypt_text
from rodistaa.shipments import repo as shipments_repo
from rodistaa.shipments.service import ShipmentView, shipment_view
from rodistaa.tracking.repo import PingRecord

log = structlog.get_logger("rodistaa.gdpr")

EXPORT_FORMAT: Final = "rodistaa-export/1"
# Rows per section (newest first): a year of a busy operator's bids, in a response of a few MB.
SECTION_LIMIT = 5_000
# A day of driving at one fix a minute is ~1,000 fixes; `gpsTracks` still counts every fix.
GPS_PING_LIMIT = 10_000
# "ERASED-" and nine letters fill users.mobile (16): no digit, so it is never a phone number,
# and 52^9 values make a clash (refused by the unique index, then retried) vanishingly rare.
PSEUDONYM_PREFIX = "ERASED-"
PSEUDONYM_LETTERS = 9
PSEUDONYM_ATTEMPTS = 3


@dataclass(frozen=True)
class OpenedKyc:
    """A KYC document with what its owner's key opens: the number always, the file only for
    the current upload of each type (a superseded upload is listed without it)."""

    document: KycDocument
    superseded: bool
    number: str | None
    content: bytes | None
    readable: bool


@dataclass(frozen=True)
class OwnTruck:
    truck: TruckRecord
    latest_documents: list[DocumentRecord]
    chassis_number: str | None


@dataclass(frozen=True)
class DriverProfile:
    record: DriverLicenceRow
    licence_number: str | None


@dataclass
class UserExport:
    """Everything the export found, section by section (API names, as in the bundle)."""

    generated_at: datetime
    user: UserRow
    kyc: list[OpenedKyc]
    driver: DriverProfile | None
    gps_tracks: list[TrackSummary]
    sessions: Capped[SessionRow]
    devices: Capped[DeviceRow]
    bookings: Capped[BookingRecord]
    bids: Capped[BidView]
    shipments: Capped[ShipmentView]
    gps_pings: Capped[PingRecord]
    ledger: Capped[Entry]
    notifications: Capped[NotificationRecord]
    trucks: Capped[OwnTruck]
    documents: Capped[DocumentRecord]
    inspections: Capped[InspectionRecord]
    pods: Capped[PodRecord]
    api_keys: Capped[ApiKeyRecord]
    audit_entries: Capped[AuditRow]

    def capped_sections(self) -> dict[str, Capped[Any]]:
        return {
            "sessions": self.sessions,
            "devices": self.devices,
            "bookings": self.bookings,
            "bids": self.bids,
            "shipments": self.shipments,
            "gpsPings": self.gps_pings,
            "ledger": self.ledger,
            "notifications": self.notifications,
            "trucks": self.trucks,
            "documents": self.documents,
            "inspections": self.inspections,
            "pods": self.pods,
            "apiKeys": self.api_keys,
            "auditEntries": self.audit_entries,
        }

    def audit_data(self) -> dict[str, Any]:
        """Counts only: the audit log is permanent and must not hold what was exported."""
        sections = self.capped_sections()
        return {
            "format": EXPORT_FORMAT,
            "sections": {name: len(section.items) for name, section in sections.items()}
            | {"kyc": len(self.kyc)},
            "truncated": sorted(name for name, section in sections.items() if section.truncated),
        }


@dataclass(frozen=True)
class Erasure:
    user_id: str
    erased_at: datetime
    counts: dict[str, int]


@dataclass(frozen=True)
class _Rows:
    """What the export's read transaction found; decryption and file reads come after it."""

    user: UserRow
    key: bytes | None
    kyc: list[KycDocument]
    driver: DriverLicenceRow | None
    trucks: Capped[tuple[TruckRecord, list[DocumentRecord]]]
    sections: dict[str, Any]


def new_pseudonym() -> str:
    return PSEUDONYM_PREFIX + "".join(secrets.choice(string.ascii_letters) for _ in range(PSEUDONYM_LETTERS))


class GdprService:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._db = services.db
        self._clock = services.clock
        self._storage = services.storage
        self._data_keys = services.data_keys

    # --- export ---------------------------------------------------------------------------------

    async def export(self, actor: Actor) -> UserExport:
        """The caller's bundle; audited (`user.data_exported`) before it is returned. Raises
        StorageError (503) when a current KYC file cannot be read: a partial export would look
        complete."""
        now = self._clock.now()
        rows = await self._read_rows(actor, now)
        kyc = await self._open_kyc(rows.key, rows.kyc)
        export = UserExport(
            generated_at=now,
            user=rows.user,
            kyc=kyc,
            driver=self._open_driver(rows.key, rows.driver),
            trucks=Capped(
                [OwnTruck(t, docs, self._open_chassis(rows.key, t)) for t, docs in rows.trucks.items],
                rows.trucks.total,
            ),
            **rows.sections,
        )
        async with self._db.transaction() as conn:
            draft = AuditEntryDraft(
                actor.user_id, "user.data_exported", "user", actor.user_id, export.audit_data()
            )
            await append(conn, draft, now=now)
        return export

    async def _read_rows(self, actor: Actor, now: datetime) -> _Rows:
        """One snapshot (REPEATABLE READ on PostgreSQL): the sections agree with each other."""
        user_id = actor.user_id
        async with snapshot(self._db) as conn:
            user = await repo.get_user(conn, user_id)
            if user is None:  # authenticated a moment ago: the row cannot be gone
                raise UserNotFound()
            key = await self._key_of(conn, user_id)
            sections = {
                **await self._identity_sections(conn, user_id),
                **await self._freight_sections(conn, actor, now),
                **await self._fleet_sections(conn, user_id),
            }
            trucks = await self._own_trucks(conn, user_id, now)
            return _Rows(
                user=user,
                key=key,
                kyc=await kyc_repo.list_for_owner(conn, actor),
                driver=await repo.get_driver_licence(conn, user_id),
                trucks=trucks,
                sections=sections,
            )

    async def _key_of(self, conn: AsyncConnection, user_id: str) -> bytes | None:
        """None for a person who never stored anything encrypted (they have no key yet)."""
        try:
            return await self._data_keys.for_reading(conn, user_id)
        except DataKeyDestroyed:
            return None

    @staticmethod
    async def _identity_sections(conn: AsyncConnection, user_id: str) -> dict[str, Any]:
        keys, keys_total = await apikeys_repo.list_keys(
            conn, owner_user_id=user_id, offset=0, limit=SECTION_LIMIT
        )
        return {
            "sessions": await repo.list_sessions(conn, user_id, limit=SECTION_LIMIT),
            "devices": await repo.list_devices(conn, user_id, limit=SECTION_LIMIT),
            "notifications": await repo.list_notifications(conn, user_id, limit=SECTION_LIMIT),
            "api_keys": Capped(keys, keys_total),
            "audit_entries": await repo.list_audit_entries(conn, user_id, limit=SECTION_LIMIT),
        }

    async def _freight_sections(self, conn: AsyncConnection, actor: Actor, now: datetime) -> dict[str, Any]:
        user_id = actor.user_id
        bookings, bookings_total = await bookings_repo.list_bookings(
            conn, visible=repo.own_bookings(user_id), status=None, offset=0, limit=SECTION_LIMIT
        )
        return {
            "bookings": Capped(bookings, bookings_total),
            "bids": await self._bids(conn, actor),
            "shipments": await self._shipments(conn, actor, now),
            "gps_pings": await repo.list_gps_pings(conn, user_id, limit=GPS_PING_LIMIT),
            "gps_tracks": await repo.gps_tracks(conn, user_id),
            "ledger": await self._ledger(conn, actor),
            "pods": await repo.list_pods(conn, user_id, limit=SECTION_LIMIT),
        }

    async def _bids(self, conn: AsyncConnection, actor: Actor) -> Capped[BidView]:
        """An operator's own bids, with their fee; a shipper's view of the bids on their
        bookings, bidders masked. Exactly the bids API's rules (`view_for`)."""
        if actor.role not in (Role.SHIPPER, Role.OPERATOR):
            return Capped([], 0)
        found, total = await bids_repo.list_bids(
            conn, visible=bids_repo.readable(actor), status=None, offset=0, limit=SECTION_LIMIT
        )
        hmac_key = self._services.settings.hmac_key
        return Capped([view_for(actor, bid, hmac_key=hmac_key) for bid in found], total)

    @staticmethod
    async def _shipments(conn: AsyncConnection, actor: Actor, now: datetime) -> Capped[ShipmentView]:
        found, total = await shipments_repo.list_shipments(
            conn, visible=repo.party_shipments(actor.user_id), status=None, offset=0, limit=SECTION_LIMIT
        )
        ids = [s.id for s in found]
        holds: dict[str, list[shipments_repo.Hold]] = {}
        for hold in await shipments_repo.active_holds(conn, ids, now):
            holds.setdefault(hold.shipment_id, []).append(hold)
        issued = await shipments_repo.otp_issued(conn, ids)
        views = [shipment_view(actor, s, holds.get(s.id, []), otp_issued=s.id in issued) for s in found]
        return Capped(views, total)

    @staticmethod
    async def _ledger(conn: AsyncConnection, actor: Actor) -> Capped[Entry]:
        if actor.role is not Role.OPERATOR:  # only operators hold an account
            return Capped([], 0)
        entries, total = await ledger_repo.list_entries(
            conn, actor, actor.user_id, direction=None, entry_type=None, offset=0, limit=SECTION_LIMIT
        )
        return Capped(entries, total)

    @staticmethod
    async def _fleet_sections(conn: AsyncConnection, user_id: str) -> dict[str, Any]:
        return {
            "documents": await repo.list_truck_documents(conn, user_id, limit=SECTION_LIMIT),
            "inspections": await repo.list_inspections(conn, user_id, limit=SECTION_LIMIT),
        }

    @staticmethod
    async def _own_trucks(
        conn: AsyncConnection, user_id: str, now: datetime
    ) -> Capped[tuple[TruckRecord, list[DocumentRecord]]]:
        found, total = await fleet_repo.list_trucks(
            conn, visible=repo.own_trucks(user_id), status=None, now=now, offset=0, limit=SECTION_LIMIT
        )
        documents = await fleet_repo.latest_documents(conn, [t.id for t in found])
        return Capped([(t, documents[t.id]) for t in found], total)

    async def _open_kyc(self, key: bytes | None, documents: list[KycDocument]) -> list[OpenedKyc]:
        """Newest first, as stored: the first upload of each type is the current one."""
        seen: set[str] = set()
        opened = []
        for document in documents:
            current = document.document_type not in seen
            seen.add(document.document_type)
            opened.append(await self._open_document(key, document, with_file=current))
        return opened

    async def _open_document(self, key: bytes | None, document: KycDocument, *, with_file: bool) -> OpenedKyc:
        number = _open_text(key, document.number_ciphertext, kyc_aad(document.id, "number"))
        content = None
        if with_file and key is not None and number is not None:
            sealed = await self._storage.get(document.storage_key)
            try:
                content = decrypt(key, sealed, kyc_aad(document.id, "file"))
            except DecryptionFailed:
                content = None
        readable = number is not None and (content is not None or not with_file)
        if not readable:
            log.warning("gdpr_export_unreadable_kyc", kyc_id=document.id)
        return OpenedKyc(document, not with_file, number, content, readable)

    @staticmethod
    def _open_driver(key: bytes | None, record: DriverLicenceRow | None) -> DriverProfile | None:
        if record is None:
            return None
        return DriverProfile(record, _open_text(key, record.licence_ciphertext, licence_aad(record.user_id)))

    @staticmethod
    def _open_chassis(key: bytes | None, truck: TruckRecord) -> str | None:
        return _open_text(key, truck.chassis_ciphertext, chassis_aad(truck.id))

    # --- erasure --------------------------------------------------------------------------------

    async def erase(self, actor: Actor, user_id: str, *, reason: str) -> Erasure:
        """404 unknown user; 403 SELF_ERASURE for the caller's own account; 409 ALREADY_ERASED;
        409 ERASURE_BLOCKED (details: the open business, counted) while the person has
        bookings taking bids, ACTIVE bids or unfinished shipments."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            target = await repo.lock_user(conn, user_id)
            if target is None:
                raise UserNotFound()
            if target.id == actor.user_id:
                raise SelfErasure()
            if target.erased_at is not None:
                raise AlreadyErased()
            blocking = await repo.open_obligations(conn, user_id)
            if blocking:
                raise ErasureBlocked(details=blocking)
            counts = await self._erase_account(conn, actor, target, now)
            counts |= await self._erase_records(conn, user_id, now)
            data = {"reason": reason, "role": target.role, **counts}
            await append(conn, AuditEntryDraft(actor.user_id, "user.erased", "user", user_id, data), now=now)
        return Erasure(user_id, now, counts)

    async def _erase_account(
        self, conn: AsyncConnection, actor: Actor, target: UserRow, now: datetime
    ) -> dict[str, int]:
        """Identity, credentials and the data key."""
        await self._anonymise(conn, target.id, now)
        return {
            "sessionsRevoked": await repo.revoke_sessions(conn, target.id, now=now),
            "devicesRemoved": await repo.delete_devices(conn, target.id),
            "loginCodesRemoved": await repo.delete_login_code(conn, target.mobile),
            "apiKeysRevoked": await repo.revoke_api_keys(conn, target.id, revoked_by=actor.user_id, now=now),
            "idempotencyRecordsRemoved": await repo.delete_idempotency_records(conn, target.id),
            "adminTotpRemoved": await repo.delete_admin_totp(conn, target.id),
            "dataKeyDestroyed": int(await self._data_keys.destroy(conn, target.id, now=now)),
        }

    @staticmethod
    async def _anonymise(conn: AsyncConnection, user_id: str, now: datetime) -> None:
        for _ in range(PSEUDONYM_ATTEMPTS):
            try:
                if not await repo.anonymise_user(conn, user_id, pseudonym=new_pseudonym(), now=now):
                    raise AlreadyErased()  # the row is locked and was checked: defence in depth
                return
            except PseudonymTaken:
                continue
        raise RuntimeError("no free pseudonym after several attempts")

    @staticmethod
    async def _erase_records(conn: AsyncConnection, user_id: str, now: datetime) -> dict[str, int]:
        """Encrypted identifiers, and the free text the person wrote as a customer."""
        return {
            "kycDocumentsScrubbed": await repo.scrub_kyc_documents(conn, user_id),
            "driverLicencesScrubbed": await repo.scrub_driver_licence(conn, user_id),
            "trucksRetired": await repo.retire_trucks(conn, user_id, now=now),
            "bidNotesCleared": await repo.clear_bid_notes(conn, user_id),
            "bookingsScrubbed": await repo.scrub_bookings(conn, user_id),
            "shipmentsScrubbed": await repo.scrub_shipments(conn, user_id),
            "maintenanceWindowsScrubbed": await repo.scrub_maintenance_windows(conn, user_id),
            "ledgerDescriptionsScrubbed": await repo.scrub_deposit_descriptions(conn, user_id),
            "notificationsRemoved": await repo.delete_notifications(conn, user_id),
            "acsEventsRemoved": await repo.delete_acs_events(conn, user_id),
        }


def _open_text(key: bytes | None, stored: str, associated: bytes) -> str | None:
    """None when there is no key or the value does not open (corrupt, or not a ciphertext):
    one damaged record must not withhold the rest of the person's data from them."""
    if key is None:
        return None
    try:
        return decrypt_text(key, stored, associated)
    except (DecryptionFailed, binascii.Error, UnicodeDecodeError):
        return None
