"""API models of the GDPR routes: the erasure request and its answer, and the export bundle.

The bundle reuses each domain's own API model for its records (`BookingOut`, `BidOut`,
`ShipmentOut`, ...), built as the owner sees them through that domain's API, so the export
masks counterparties exactly as the API does. Owner-only extras (the phone and e-mail, KYC
numbers and files, the licence and chassis numbers) are added next to them.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

from rodistaa.acs.audit.privacy import ensure_no_personal_data
from rodistaa.apikeys.schemas import ApiKeyOut
from rodistaa.bids.schemas import BidOut
from rodistaa.bookings.schemas import BOOKING_EXAMPLE, BookingOut
from rodistaa.core.roles import Role
from rodistaa.delivery.schemas import PodOut
from rodistaa.fleet.schemas import TruckDocumentOut, TruckOut, mask_chassis
from rodistaa.gdpr.repo import AuditRow, DeviceRow, SessionRow
from rodistaa.gdpr.service import EXPORT_FORMAT, GPS_PING_LIMIT, SECTION_LIMIT, Erasure, OpenedKyc, UserExport
from rodistaa.inspections.schemas import InspectionOut
from rodistaa.kyc.schemas import KycRecordOut
from rodistaa.ledger.schemas import LedgerTransactionOut
from rodistaa.notifications.schemas import NotificationOut
from rodistaa.shipments.schemas import ShipmentOut
from rodistaa.tracking.schemas import GpsPingOut

# --- erasure ---------------------------------------------------------------------------------------


def _no_personal_data(reason: str) -> str:
    """The reason is kept for good in the audit log, which must never hold personal data."""
    try:
        ensure_no_personal_data({"reason": reason})
    except ValueError:
        raise ValueError(
            "must not contain phone numbers, e-mails or document numbers: refer to the request by its ticket"
        ) from None
    return reason


ErasureReason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=10, max_length=500),
    AfterValidator(_no_personal_data),
]


class EraseRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "Erasure requested by the person, support ticket SUP-2024-0117"}]
        },
    )

    reason: ErasureReason = Field(
        description="Why, 10-500 characters. Kept for good in the audit log: name the request (its "
        "ticket), never the person; phone numbers, e-mails and document numbers are refused"
    )


class ErasureCounts(BaseModel):
    """What the erasure did, counted (the same figures are in the `user.erased` audit entry)."""

    sessionsRevoked: int
    devicesRemoved: int
    loginCodesRemoved: int
    apiKeysRevoked: int
    idempotencyRecordsRemoved: int
    adminTotpRemoved: int
    dataKeyDestroyed: int = Field(description="1 when the person had a data key (now destroyed), else 0")
    kycDocumentsScrubbed: int
    driverLicencesScrubbed: int
    trucksRetired: int
    bidNotesCleared: int
    bookingsScrubbed: int
    shipmentsScrubbed: int
    maintenanceWindowsScrubbed: int
    ledgerDescriptionsScrubbed: int
    notificationsRemoved: int
    acsEventsRemoved: int


_ERASURE_EXAMPLE: JsonDict = {
    "userId": "USR-SH-01J9Z6Q4YB7T3K5N8W2X4C6V1D",
    "status": "INACTIVE",
    "erasedAt": "2024-03-01T09:00:00Z",
    "erased": {
        "sessionsRevoked": 2,
        "devicesRemoved": 1,
        "loginCodesRemoved": 1,
        "apiKeysRevoked": 0,
        "idempotencyRecordsRemoved": 3,
        "adminTotpRemoved": 0,
        "dataKeyDestroyed": 1,
        "kycDocumentsScrubbed": 2,
        "driverLicencesScrubbed": 0,
        "trucksRetired": 0,
        "bidNotesCleared": 0,
        "bookingsScrubbed": 14,
        "shipmentsScrubbed": 9,
        "maintenanceWindowsScrubbed": 0,
        "ledgerDescriptionsScrubbed": 0,
        "notificationsRemoved": 37,
        "acsEventsRemoved": 52,
    },
}


class ErasureOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ERASURE_EXAMPLE]})

    userId: str
    status: Literal["INACTIVE"] = "INACTIVE"
    erasedAt: datetime
    erased: ErasureCounts

    @classmethod
    def of(cls, erasure: Erasure) -> ErasureOut:
        return cls(
            userId=erasure.user_id,
            status="INACTIVE",
            erasedAt=erasure.erased_at,
            erased=ErasureCounts.model_validate(erasure.counts),
        )


# --- export ----------------------------------------------------------------------------------------


class ExportUser(BaseModel):
    id: str
    role: Role
    name: str
    mobile: str
    email: str | None
    status: str
    franchiseId: str | None
    createdAt: datetime
    updatedAt: datetime


class ExportSession(BaseModel):
    id: str
    deviceId: str | None
    createdAt: datetime
    revokedAt: datetime | None
    revokedReason: str | None


class ExportDevice(BaseModel):
    deviceId: str
    firstSeenAt: datetime
    lastSeenAt: datetime


class ExportKycDocument(KycRecordOut):
    documentNumber: str | None = Field(description="In clear: the owner's own number")
    fileBase64: str | None = Field(
        description="The file in clear, for the current upload of each type; null for a superseded one"
    )
    readable: bool = Field(
        description="False when a stored value could not be opened (reported to operations)"
    )


class ExportDriverProfile(BaseModel):
    operatorId: str
    licenceNumber: str | None = Field(description="In clear: the driver's own licence")
    licenceMasked: str
    licenceExpiry: date
    createdAt: datetime


class ExportTruck(TruckOut):
    chassisNumber: str | None = Field(description="In clear: the operator's own truck")


class ExportTruckDocument(TruckDocumentOut):
    truckId: str


class ExportGpsTrack(BaseModel):
    shipmentId: str
    pings: int = Field(description="Every fix sent for this shipment, including those beyond the cap")
    firstRecordedAt: datetime
    lastRecordedAt: datetime


class ExportAuditEntry(BaseModel):
    seq: int
    id: str
    at: str
    actor: str
    action: str
    entityType: str
    entityId: str
    ruleId: str | None
    data: Any


class ExportTruncation(BaseModel):
    included: int
    total: int


class ExportLimits(BaseModel):
    rowsPerSection: int
    gpsPings: int


_SHIPPER_ID = "USR-SH-01J9Z6Q4YB7T3K5N8W2X4C6V1D"
_EXPORT_EXAMPLE: JsonDict = {
    "format": "rodistaa-export/1",
    "generatedAt": "2024-03-01T09:00:00Z",
    "limits": {"rowsPerSection": 5000, "gpsPings": 10000},
    "truncated": {},
    "user": {
        "id": _SHIPPER_ID,
        "role": "SHIPPER",
        "name": "Asha Transport",
        "mobile": "+919876543210",
        "email": "asha@example.com",
        "status": "ACTIVE",
        "franchiseId": None,
        "createdAt": "2024-01-10T08:00:00Z",
        "updatedAt": "2024-01-10T08:00:00Z",
    },
    "sessions": [
        {
            "id": "SES-01J9Z6Q4YB7T3K5N8W2X4C6V1E",
            "deviceId": "c0ffee00-1234-4d5e-8f90-abcdef012345",
            "createdAt": "2024-01-10T08:00:00Z",
            "revokedAt": None,
            "revokedReason": None,
        }
    ],
    "devices": [
        {
            "deviceId": "c0ffee00-1234-4d5e-8f90-abcdef012345",
            "firstSeenAt": "2024-01-10T08:00:00Z",
            "lastSeenAt": "2024-02-28T18:20:00Z",
        }
    ],
    "kyc": [
        {
            "id": "KYC-01J9Z6Q4YB7T3K5N8W2X4C6V1F",
            "userId": _SHIPPER_ID,
            "documentType": "PAN",
            "status": "VERIFIED",
            "fileUrl": None,
            "numberMasked": "ABCPE****F",
            "contentType": "application/pdf",
            "sizeBytes": 48213,
            "rejectionReason": None,
            "reviewedAt": "2024-01-11T10:00:00Z",
            "superseded": False,
            "createdAt": "2024-01-10T08:05:00Z",
            "documentNumber": "ABCPE1234F",
            "fileBase64": "JVBERi0xLjcKJeLjz9MK",
            "readable": True,
        }
    ],
    "driverProfile": None,
    "bookings": [BOOKING_EXAMPLE],
    "bids": [],
    "shipments": [],
    "gpsPings": [],
    "gpsTracks": [],
    "ledger": [],
    "notifications": [
        {
            "id": "NTF-01J9Z6Q4YB7T3K5N8W2X4C6V1G",
            "message": "New bid on booking RID-20240115-0001 (bid BK-01J9Z7A2M4Q8R6T1V3X5Z7B9D2)",
            "broadcast": False,
            "ruleId": None,
            "createdAt": "2024-01-15T11:00:00Z",
            "readAt": None,
        }
    ],
    "trucks": [],
    "documents": [],
    "inspections": [],
    "pods": [],
    "apiKeys": [],
    "auditEntries": [
        {
            "seq": 1042,
            "id": "AUD-01J9Z6Q4YB7T3K5N8W2X4C6V1H",
            "at": "2024-01-15T10:30:00.000000Z",
            "actor": _SHIPPER_ID,
            "action": "booking.created",
            "entityType": "booking",
            "entityId": "RID-20240115-0001",
            "ruleId": None,
            "data": {"shipperId": _SHIPPER_ID, "tonnage": 5.0},
        }
    ],
}


class ExportBundle(BaseModel):
    """Everything held about the caller. Lists are newest first; a section with more rows than
    the limits keeps the newest and is named in `truncated`."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXPORT_EXAMPLE]})

    format: Literal["rodistaa-export/1"]
    generatedAt: datetime
    limits: ExportLimits
    truncated: dict[str, ExportTruncation] = Field(description="Sections cut at the limit, and their size")
    user: ExportUser
    sessions: list[ExportSession]
    devices: list[ExportDevice]
    kyc: list[ExportKycDocument]
    driverProfile: ExportDriverProfile | None = Field(description="Drivers only")
    bookings: list[BookingOut] = Field(description="As shipper")
    bids: list[BidOut] = Field(description="An operator's own; for a shipper, those on their bookings")
    shipments: list[ShipmentOut] = Field(description="As shipper, operator or driver")
    gpsPings: list[GpsPingOut] = Field(description="Fixes sent as driver")
    gpsTracks: list[ExportGpsTrack]
    ledger: list[LedgerTransactionOut] = Field(description="Operators only")
    notifications: list[NotificationOut]
    trucks: list[ExportTruck] = Field(description="Operators only")
    documents: list[ExportTruckDocument] = Field(description="Every upload for the operator's trucks")
    inspections: list[InspectionOut] = Field(description="Performed by the caller (franchise staff)")
    pods: list[PodOut] = Field(description="Proofs of delivery the caller uploaded")
    apiKeys: list[ApiKeyOut]
    auditEntries: list[ExportAuditEntry] = Field(description="Where the caller is the actor or the subject")

    @classmethod
    def of(cls, export: UserExport) -> ExportBundle:
        return cls(
            format=EXPORT_FORMAT,
            generatedAt=export.generated_at,
            limits=ExportLimits(rowsPerSection=SECTION_LIMIT, gpsPings=GPS_PING_LIMIT),
            truncated={
                name: ExportTruncation(included=len(section.items), total=section.total)
                for name, section in export.capped_sections().items()
                if section.truncated
            },
            user=_user(export),
            sessions=[_session(s) for s in export.sessions.items],
            devices=[_device(d) for d in export.devices.items],
            kyc=[_kyc(k) for k in export.kyc],
            driverProfile=_driver(export),
            **_freight(export),
            **_fleet(export),
            notifications=[NotificationOut.of(n) for n in export.notifications.items],
            apiKeys=[ApiKeyOut.of(k) for k in export.api_keys.items],
            auditEntries=[_audit_entry(e) for e in export.audit_entries.items],
        )


def _user(export: UserExport) -> ExportUser:
    user = export.user
    return ExportUser(
        id=user.id,
        role=Role(user.role),
        name=user.name,
        mobile=user.mobile,
        email=user.email,
        status=user.status,
        franchiseId=user.franchise_id,
        createdAt=user.created_at,
        updatedAt=user.updated_at,
    )


def _session(session: SessionRow) -> ExportSession:
    return ExportSession(
        id=session.id,
        deviceId=session.device_id,
        createdAt=session.created_at,
        revokedAt=session.revoked_at,
        revokedReason=session.revoked_reason,
    )


def _device(device: DeviceRow) -> ExportDevice:
    return ExportDevice(
        deviceId=device.device_id, firstSeenAt=device.first_seen_at, lastSeenAt=device.last_seen_at
    )


def _kyc(opened: OpenedKyc) -> ExportKycDocument:
    return ExportKycDocument(
        **KycRecordOut.of(opened.document, superseded=opened.superseded).model_dump(),
        documentNumber=opened.number,
        fileBase64=base64.b64encode(opened.content).decode("ascii") if opened.content is not None else None,
        readable=opened.readable,
    )


def _driver(export: UserExport) -> ExportDriverProfile | None:
    if export.driver is None:
        return None
    record = export.driver.record
    return ExportDriverProfile(
        operatorId=record.operator_id,
        licenceNumber=export.driver.licence_number,
        licenceMasked=record.licence_masked,
        licenceExpiry=record.licence_expiry,
        createdAt=record.created_at,
    )


def _freight(export: UserExport) -> dict[str, Any]:
    return {
        "bookings": [BookingOut.of(b, with_expected_price=True) for b in export.bookings.items],
        "bids": [
            BidOut.of(v.bid, with_fee=v.with_fee, operator_alias=v.operator_alias) for v in export.bids.items
        ],
        "shipments": [
            ShipmentOut.of(
                v.shipment, frozen=v.frozen, frozen_reason=v.frozen_reason, otp_issued=v.otp_issued
            )
            for v in export.shipments.items
        ],
        "gpsPings": [GpsPingOut.of(p) for p in export.gps_pings.items],
        "gpsTracks": [
            ExportGpsTrack(
                shipmentId=t.shipment_id,
                pings=t.pings,
                firstRecordedAt=t.first_recorded_at,
                lastRecordedAt=t.last_recorded_at,
            )
            for t in export.gps_tracks
        ],
        "ledger": [LedgerTransactionOut.of(e) for e in export.ledger.items],
        "pods": [PodOut.of(p) for p in export.pods.items],
    }


def _fleet(export: UserExport) -> dict[str, Any]:
    return {
        "trucks": [
            ExportTruck(
                **TruckOut.of(
                    own.truck,
                    own.latest_documents,
                    mask_chassis(own.chassis_number) if own.chassis_number else None,
                ).model_dump(),
                chassisNumber=own.chassis_number,
            )
            for own in export.trucks.items
        ],
        "documents": [
            ExportTruckDocument(**TruckDocumentOut.of(d).model_dump(), truckId=d.truck_id)
            for d in export.documents.items
        ],
        "inspections": [InspectionOut.of(i) for i in export.inspections.items],
    }


def _audit_entry(entry: AuditRow) -> ExportAuditEntry:
    return ExportAuditEntry(
        seq=entry.seq,
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        entityType=entry.entity_type,
        entityId=entry.entity_id,
        ruleId=entry.rule_id,
        data=entry.data,
    )
