"""All SQL of the GDPR use cases.

Export: the person's own rows where no other domain has a read for them (sessions, devices, GPS
fixes sent, documents of their trucks, inspections authored, proofs of delivery uploaded,
notifications, audit entries), and the ownership predicates the export passes to the domains'
own list queries. Every read selects by the person's id ("about them"), never by what their
role may see: an operator may browse every open booking, but only their own bids are theirs.
Sections are newest first and capped (`Capped`); the caller says how many rows it takes.

Erasure: one statement per kind of record, each scrubbing the person's rows and returning how
many it touched; the service runs them all in one transaction after `lock_user`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, Self, TypeVar

from sqlalchemy import ColumnElement, Numeric, Select, cast, delete, func, literal, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from rodistaa.acs.audit.tables import audit_log
from rodistaa.acs.tables import acs_events, notifications
from rodistaa.apikeys.tables import api_keys
from rodistaa.bids.repo import BidStatus
from rodistaa.bids.tables import bids
from rodistaa.bookings.repo import OPEN_STATUSES
from rodistaa.bookings.tables import bookings
from rodistaa.core.roles import UserStatus
from rodistaa.db.tables import device_bindings, otp_codes, refresh_token_families, users
from rodistaa.delivery.repo import PodRecord
from rodistaa.delivery.tables import pods
from rodistaa.drivers.tables import drivers
from rodistaa.fleet.repo import DocumentRecord
from rodistaa.fleet.status import TruckStatus
from rodistaa.fleet.tables import maintenance_windows, truck_documents, trucks
from rodistaa.idempotency.tables import idempotency_records
from rodistaa.inspections.repo import InspectionRecord, PhotoRecord
from rodistaa.inspections.tables import inspection_photos, inspections
from rodistaa.kyc.tables import kyc_documents
from rodistaa.ledger.repo import EntryType
from rodistaa.ledger.tables import ledger_entries
from rodistaa.notifications.repo import NotificationRecord
from rodistaa.overrides.tables import admin_totp
from rodistaa.shipments.status import FINAL_STATUSES
from rodistaa.shipments.tables import shipments
from rodistaa.tracking.repo import PingRecord
from rodistaa.tracking.tables import gps_pings

T = TypeVar("T")


@dataclass(frozen=True)
class Capped(Generic[T]):
    """At most the requested number of rows of one section, newest first, and how many rows
    matched in all (`total > len(items)` when the section was cut)."""

    items: list[T]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.items)


@dataclass(frozen=True)
class _Row:
    """A record read whole from one row: every field is the column of the same name."""

    @classmethod
    def from_row(cls, row: RowMapping) -> Self:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class UserRow(_Row):
    id: str
    mobile: str
    name: str
    email: str | None
    role: str
    status: str
    franchise_id: str | None
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None


@dataclass(frozen=True)
class SessionRow(_Row):
    id: str
    device_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None


@dataclass(frozen=True)
class DeviceRow(_Row):
    device_id: str
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class DriverLicenceRow(_Row):
    """The driver's own record, with the licence still encrypted under their data key."""

    user_id: str
    operator_id: str
    licence_ciphertext: str
    licence_masked: str
    licence_expiry: date
    created_at: datetime


@dataclass(frozen=True)
class TrackSummary:
    """Every fix a driver sent for one shipment, counted (the fixes themselves are capped)."""

    shipment_id: str
    pings: int
    first_recorded_at: datetime
    last_recorded_at: datetime


@dataclass(frozen=True)
class AuditRow:
    seq: int
    id: str
    at: str
    actor: str
    action: str
    entity_type: str
    entity_id: str
    rule_id: str | None
    data: Any

    @classmethod
    def from_row(cls, row: RowMapping) -> AuditRow:
        fields = {name: row[name] for name in cls.__dataclass_fields__ if name != "data"}
        return cls(**fields, data=json.loads(row["data"]))


async def _capped(
    conn: AsyncConnection, query: Select[Any], *, limit: int, build: Callable[[RowMapping], T]
) -> Capped[T]:
    """One row more than asked says whether to count the rest (most sections are small)."""
    rows = (await conn.execute(query.limit(limit + 1))).mappings().all()
    if len(rows) <= limit:
        return Capped([build(row) for row in rows], len(rows))
    count = select(func.count()).select_from(query.order_by(None).subquery())
    return Capped([build(row) for row in rows[:limit]], int((await conn.execute(count)).scalar_one()))


# --- ownership predicates for the domains' own list queries ------------------------------------


def own_bookings(user_id: str) -> ColumnElement[bool]:
    return bookings.c.shipper_id == user_id


def party_shipments(user_id: str) -> ColumnElement[bool]:
    """Shipments the person takes part in, as shipper, operator or (current) driver."""
    return or_(
        shipments.c.shipper_id == user_id,
        shipments.c.operator_id == user_id,
        shipments.c.driver_id == user_id,
    )


def own_trucks(user_id: str) -> ColumnElement[bool]:
    return trucks.c.operator_id == user_id


# --- reads of the person's own rows -------------------------------------------------------------


async def get_user(conn: AsyncConnection, user_id: str) -> UserRow | None:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
    return UserRow.from_row(row) if row else None


async def list_sessions(conn: AsyncConnection, user_id: str, *, limit: int) -> Capped[SessionRow]:
    families = refresh_token_families
    query = (
        select(families)
        .where(families.c.user_id == user_id)
        .order_by(families.c.created_at.desc(), families.c.id.desc())
    )
    return await _capped(conn, query, limit=limit, build=SessionRow.from_row)


async def list_devices(conn: AsyncConnection, user_id: str, *, limit: int) -> Capped[DeviceRow]:
    query = (
        select(device_bindings)
        .where(device_bindings.c.user_id == user_id)
        .order_by(device_bindings.c.last_seen_at.desc(), device_bindings.c.device_id)
    )
    return await _capped(conn, query, limit=limit, build=DeviceRow.from_row)


async def get_driver_licence(conn: AsyncConnection, user_id: str) -> DriverLicenceRow | None:
    row = (await conn.execute(select(drivers).where(drivers.c.user_id == user_id))).mappings().first()
    return DriverLicenceRow.from_row(row) if row else None


async def list_gps_pings(conn: AsyncConnection, driver_id: str, *, limit: int) -> Capped[PingRecord]:
    query = (
        select(gps_pings)
        .where(gps_pings.c.driver_id == driver_id)
        .order_by(gps_pings.c.recorded_at.desc(), gps_pings.c.id.desc())
    )
    return await _capped(conn, query, limit=limit, build=PingRecord.from_row)


async def gps_tracks(conn: AsyncConnection, driver_id: str) -> list[TrackSummary]:
    """One line per shipment the driver sent fixes for, newest trip first: small whatever the
    number of fixes, so the export stays complete where the fixes are capped."""
    first = func.min(gps_pings.c.recorded_at)
    query = (
        select(gps_pings.c.shipment_id, func.count(), first, func.max(gps_pings.c.recorded_at))
        .where(gps_pings.c.driver_id == driver_id)
        .group_by(gps_pings.c.shipment_id)
        .order_by(first.desc(), gps_pings.c.shipment_id)
    )
    return [TrackSummary(str(s), int(n), a, b) for s, n, a, b in (await conn.execute(query)).all()]


async def list_truck_documents(
    conn: AsyncConnection, operator_id: str, *, limit: int
) -> Capped[DocumentRecord]:
    """Every upload for the operator's trucks (the truck list shows only the newest of each type)."""
    query = (
        select(truck_documents)
        .join(trucks, trucks.c.id == truck_documents.c.truck_id)
        .where(own_trucks(operator_id))
        .order_by(truck_documents.c.created_at.desc(), truck_documents.c.id.desc())
    )
    return await _capped(conn, query, limit=limit, build=DocumentRecord.from_row)


async def list_inspections(
    conn: AsyncConnection, inspector_id: str, *, limit: int
) -> Capped[InspectionRecord]:
    """The inspections the person performed (franchise staff), with their photos' metadata."""
    query = (
        select(inspections)
        .where(inspections.c.inspector_id == inspector_id)
        .order_by(inspections.c.created_at.desc(), inspections.c.id.desc())
    )
    found = await _capped(conn, query, limit=limit, build=lambda row: row)
    photos = await _photos_of(conn, [row["id"] for row in found.items])
    records = [InspectionRecord.from_row(row, photos.get(row["id"], [])) for row in found.items]
    return Capped(records, found.total)


async def _photos_of(conn: AsyncConnection, inspection_ids: Sequence[str]) -> dict[str, list[PhotoRecord]]:
    if not inspection_ids:
        return {}
    query = (
        select(inspection_photos)
        .where(inspection_photos.c.inspection_id.in_(list(inspection_ids)))
        .order_by(inspection_photos.c.created_at, inspection_photos.c.id)
    )
    by_inspection: dict[str, list[PhotoRecord]] = {}
    for row in (await conn.execute(query)).mappings():
        by_inspection.setdefault(row["inspection_id"], []).append(PhotoRecord.from_row(row))
    return by_inspection


async def list_pods(conn: AsyncConnection, uploaded_by: str, *, limit: int) -> Capped[PodRecord]:
    query = (
        select(pods).where(pods.c.uploaded_by == uploaded_by).order_by(pods.c.created_at.desc(), pods.c.id)
    )
    return await _capped(conn, query, limit=limit, build=PodRecord.from_row)


async def list_notifications(
    conn: AsyncConnection, user_id: str, *, limit: int
) -> Capped[NotificationRecord]:
    """The person's own inbox; broadcasts to a whole role are about nobody in particular."""
    query = (
        select(notifications)
        .where(notifications.c.user_id == user_id)
        .order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
    )
    return await _capped(conn, query, limit=limit, build=NotificationRecord.from_row)


async def list_audit_entries(conn: AsyncConnection, user_id: str, *, limit: int) -> Capped[AuditRow]:
    """Entries the person made (actor) or that are about them (entity id): user ids are
    unique prefixed ULIDs, so the entity type need not be checked."""
    query = (
        select(audit_log)
        .where(or_(audit_log.c.actor == user_id, audit_log.c.entity_id == user_id))
        .order_by(audit_log.c.seq.desc())
    )
    return await _capped(conn, query, limit=limit, build=AuditRow.from_row)


# --- erasure -------------------------------------------------------------------------------------

ERASED_USER_NAME = "Erased user"
ERASED_TEXT = "[erased]"
ERASURE_REVOKE_REASON = "ERASED"
# Who wrote a breakdown report is only recorded by this audit action (shipments.service).
BREAKDOWN_AUDIT_ACTION = "shipment.breakdown_reported"
# Replaces ciphertexts and masked numbers: not valid base64, never mistaken for a ciphertext.
ERASED_VALUE = "ERASED"
# Coordinates of an erased person's places keep two decimals (about 1 km): the city and pincode
# stay for the trip's record, the doorstep goes.
KEPT_COORDINATE_DECIMALS = 2
CLOSED_SHIPMENT_STATUSES = tuple(s.value for s in FINAL_STATUSES)
OPEN_BOOKING_STATUSES = tuple(s.value for s in OPEN_STATUSES)


class PseudonymTaken(Exception):
    """The random pseudonym is another erased user's (unique index on users.mobile)."""


async def lock_user(conn: AsyncConnection, user_id: str) -> UserRow | None:
    """The user's row, locked until the erasure commits (PostgreSQL; SQLite's write
    transaction already excludes other writers): two erasures of one person serialise here,
    and the second sees `erased_at` set."""
    query = select(users).where(users.c.id == user_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return UserRow.from_row(row) if row else None


async def open_obligations(conn: AsyncConnection, user_id: str) -> dict[str, int]:
    """What still binds the person to someone else: their bookings taking bids, their ACTIVE
    bids, and the unfinished shipments they take part in. Only the non-zero counts."""
    counts = {
        "openBookings": select(func.count())
        .select_from(bookings)
        .where(own_bookings(user_id), bookings.c.status.in_(OPEN_BOOKING_STATUSES)),
        "activeBids": select(func.count())
        .select_from(bids)
        .where(bids.c.operator_id == user_id, bids.c.status == BidStatus.ACTIVE.value),
        "openShipments": select(func.count())
        .select_from(shipments)
        .where(party_shipments(user_id), shipments.c.status.not_in(CLOSED_SHIPMENT_STATUSES)),
    }
    found = {name: int((await conn.execute(query)).scalar_one()) for name, query in counts.items()}
    return {name: count for name, count in found.items() if count}


async def anonymise_user(conn: AsyncConnection, user_id: str, *, pseudonym: str, now: datetime) -> bool:
    """Name, phone and e-mail replaced; INACTIVE; `erased_at` set. The claim is `erased_at IS
    NULL`. Raises PseudonymTaken (the savepoint keeps the transaction usable for a retry)."""
    statement = (
        update(users)
        .where(users.c.id == user_id, users.c.erased_at.is_(None))
        .values(
            name=ERASED_USER_NAME,
            mobile=pseudonym,
            email=None,
            status=UserStatus.INACTIVE.value,
            erased_at=now,
            updated_at=now,
        )
    )
    try:
        async with conn.begin_nested():
            result = await conn.execute(statement)
    except IntegrityError as exc:
        raise PseudonymTaken() from exc
    return result.rowcount == 1


async def revoke_sessions(conn: AsyncConnection, user_id: str, *, now: datetime) -> int:
    """Every live session revoked (its refresh tokens stop working, and access tokens are
    refused at the next request); the device ids of all sessions forgotten."""
    families = refresh_token_families
    revoked = await conn.execute(
        update(families)
        .where(families.c.user_id == user_id, families.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=ERASURE_REVOKE_REASON)
    )
    await conn.execute(update(families).where(families.c.user_id == user_id).values(device_id=None))
    return int(revoked.rowcount)


async def delete_devices(conn: AsyncConnection, user_id: str) -> int:
    return int(
        (await conn.execute(delete(device_bindings).where(device_bindings.c.user_id == user_id))).rowcount
    )


async def delete_login_code(conn: AsyncConnection, mobile: str) -> int:
    """The login code row is keyed by the phone number itself."""
    return int((await conn.execute(delete(otp_codes).where(otp_codes.c.mobile == mobile))).rowcount)


async def revoke_api_keys(conn: AsyncConnection, user_id: str, *, revoked_by: str, now: datetime) -> int:
    """The person's partner keys revoked; their labels (typed by an admin, often a business
    name) erased."""
    owned = api_keys.c.owner_user_id == user_id
    revoked = await conn.execute(
        update(api_keys)
        .where(owned, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=revoked_by)
    )
    await conn.execute(update(api_keys).where(owned).values(name=ERASED_TEXT))
    return int(revoked.rowcount)


async def delete_idempotency_records(conn: AsyncConnection, user_id: str) -> int:
    """Stored responses of the person's requests and of their keys' (sealed under their data
    key, which is destroyed too; deleting them frees the rows now instead of in 24 h)."""
    key_principals = select(literal("apikey:") + api_keys.c.id).where(api_keys.c.owner_user_id == user_id)
    principal = idempotency_records.c.principal
    statement = delete(idempotency_records).where(
        or_(principal == f"user:{user_id}", principal.in_(key_principals))
    )
    return int((await conn.execute(statement)).rowcount)


async def delete_admin_totp(conn: AsyncConnection, user_id: str) -> int:
    return int((await conn.execute(delete(admin_totp).where(admin_totp.c.user_id == user_id))).rowcount)


async def scrub_kyc_documents(conn: AsyncConnection, user_id: str) -> int:
    """Numbers, masked numbers, duplicate-detection hashes and rejection reasons go; the rows
    stay (type, status, review times) as the record that KYC was done. The files in storage
    are left as ciphertext: the destroyed data key is what makes them unreadable."""
    statement = (
        update(kyc_documents)
        .where(kyc_documents.c.user_id == user_id)
        .values(
            number_ciphertext=ERASED_VALUE,
            number_masked=ERASED_VALUE,
            number_hash=literal(f"{ERASED_VALUE}:") + kyc_documents.c.id,
            rejection_reason=None,
        )
    )
    return int((await conn.execute(statement)).rowcount)


async def scrub_driver_licence(conn: AsyncConnection, user_id: str) -> int:
    """The hash column is unique: each erased row gets its own marker."""
    statement = (
        update(drivers)
        .where(drivers.c.user_id == user_id)
        .values(
            licence_ciphertext=ERASED_VALUE,
            licence_masked=ERASED_VALUE,
            licence_hash=literal(f"{ERASED_VALUE}:") + drivers.c.user_id,
        )
    )
    return int((await conn.execute(statement)).rowcount)


async def retire_trucks(conn: AsyncConnection, operator_id: str, *, now: datetime) -> int:
    """The operator's trucks go INACTIVE (no owner to run them) and lose their chassis
    ciphertext; registration and chassis fingerprint stay, as the vehicle's (not the
    person's) identity that bids, trips, inspections and fraud rule RF11 refer to."""
    statement = (
        update(trucks)
        .where(own_trucks(operator_id))
        .values(chassis_ciphertext=ERASED_VALUE, status=TruckStatus.INACTIVE.value, updated_at=now)
    )
    return int((await conn.execute(statement)).rowcount)


async def clear_bid_notes(conn: AsyncConnection, operator_id: str) -> int:
    statement = (
        update(bids).where(bids.c.operator_id == operator_id, bids.c.notes.is_not(None)).values(notes=None)
    )
    return int((await conn.execute(statement)).rowcount)


def _erased_place(table: Any, prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}_address": ERASED_TEXT,
        f"{prefix}_lat": _rounded(table.c[f"{prefix}_lat"]),
        f"{prefix}_lng": _rounded(table.c[f"{prefix}_lng"]),
    }


def _rounded(column: ColumnElement[float]) -> ColumnElement[Any]:
    # PostgreSQL rounds to a number of places only numerics, not doubles.
    return func.round(cast(column, Numeric), KEPT_COORDINATE_DECIMALS)


async def scrub_bookings(conn: AsyncConnection, shipper_id: str) -> int:
    """The shipper's pickup and drop: address lines erased, coordinates coarsened; their own
    cancellation reasons dropped. Returns the bookings whose places were scrubbed."""
    places = {**_erased_place(bookings, "pickup"), **_erased_place(bookings, "drop")}
    scrubbed = await conn.execute(update(bookings).where(own_bookings(shipper_id)).values(**places))
    await conn.execute(
        update(bookings).where(bookings.c.cancelled_by == shipper_id).values(cancel_reason=None)
    )
    return int(scrubbed.rowcount)


async def scrub_shipments(conn: AsyncConnection, user_id: str) -> int:
    """As for bookings on the shipper's trips (shipments copy the booking's places), plus the
    person's own cancellation reasons and the breakdown reports they wrote (the author is in
    the audit log only). Returns how many shipments were touched."""
    places = {**_erased_place(shipments, "pickup"), **_erased_place(shipments, "drop")}
    reported = select(audit_log.c.entity_id).where(
        audit_log.c.actor == user_id, audit_log.c.action == BREAKDOWN_AUDIT_ACTION
    )
    statements = [
        update(shipments).where(shipments.c.shipper_id == user_id).values(**places),
        update(shipments).where(shipments.c.cancelled_by == user_id).values(cancel_reason=None),
        update(shipments)
        .where(shipments.c.id.in_(reported), shipments.c.breakdown_reason.is_not(None))
        .values(breakdown_reason=ERASED_TEXT),
    ]
    touched: set[str] = set()
    for statement in statements:
        touched.update((await conn.execute(statement.returning(shipments.c.id))).scalars())
    return len(touched)


async def scrub_maintenance_windows(conn: AsyncConnection, operator_id: str) -> int:
    """Reasons of the operator's own windows (platform-wide ones are staff records)."""
    statement = (
        update(maintenance_windows)
        .where(maintenance_windows.c.operator_id == operator_id)
        .values(reason=ERASED_TEXT)
    )
    return int((await conn.execute(statement)).rowcount)


async def scrub_deposit_descriptions(conn: AsyncConnection, operator_id: str) -> int:
    """Deposit descriptions are free text ("NEFT from Sharma Roadlines"); amounts, balances,
    types, references and times, which the accounts need, are not touched."""
    statement = (
        update(ledger_entries)
        .where(
            ledger_entries.c.operator_id == operator_id,
            ledger_entries.c.type == EntryType.DEPOSIT.value,
        )
        .values(description=ERASED_TEXT)
    )
    return int((await conn.execute(statement)).rowcount)


async def delete_notifications(conn: AsyncConnection, user_id: str) -> int:
    statement = delete(notifications).where(notifications.c.user_id == user_id)
    return int((await conn.execute(statement)).rowcount)


async def delete_acs_events(conn: AsyncConnection, user_id: str) -> int:
    """Evaluated events the person caused or that name them anywhere in their stored context
    (IP addresses, devices, free text such as bid notes or a KYC decryption's purpose). They
    are the rules' backtest corpus, not a record anyone is owed; the decisions they led to are
    in the audit log."""
    mentions = [
        column.contains(user_id, autoescape=True)
        for column in (acs_events.c.event, acs_events.c.context, acs_events.c.facts)
    ]
    statement = delete(acs_events).where(or_(acs_events.c.actor_id == user_id, *mentions))
    return int((await conn.execute(statement)).rowcount)
