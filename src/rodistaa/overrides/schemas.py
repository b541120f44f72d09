"""API models of overrides and admin TOTP.

The contract's status enum is PENDING, APPROVED, REJECTED. An approved override is executed in
the approving transaction, so the stored EXECUTED is shown as APPROVED (and the `status` filter
takes APPROVED). Money is in rupees, as everywhere in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.core.money import paise_to_rupees_number
from rodistaa.overrides.repo import OverrideAction, OverrideRecord, OverrideStatus

EntityType = Literal["user", "operator", "driver", "truck", "device", "shipment", "booking", "inspection"]
ApiStatus = Literal["PENDING", "APPROVED", "REJECTED"]
MAX_JUSTIFICATION = 2000
MAX_NOTE = 500

_API_STATUS = {
    OverrideStatus.PENDING: "PENDING",
    OverrideStatus.EXECUTED: "APPROVED",
    OverrideStatus.REJECTED: "REJECTED",
}


def stored_status(api_status: ApiStatus) -> OverrideStatus:
    return next(stored for stored, shown in _API_STATUS.items() if shown == api_status)


TotpCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_NOTE)]


class OverrideCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entityType: EntityType
    entityId: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
    action: OverrideAction
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
    justification: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_JUSTIFICATION)] | None
    ) = Field(
        default=None, description="Required (with the approver's TOTP) for critical overrides; blank is none"
    )
    params: dict[str, Any] | None = Field(
        default=None,
        description=(
            "LEDGER_ADJUSTMENT: {amount: signed rupees, not 0}; FORCE_FINALIZE: {bidId?} (without it the "
            "candidate order chooses); other actions: none"
        ),
    )


class OverrideDecision(BaseModel):
    """Approve or reject. `totpCode` (approve only) is the approver's current TOTP code;
    `reason` is an optional note for the requester (kept out of the audit log)."""

    model_config = ConfigDict(extra="forbid")

    totpCode: TotpCode | None = None
    reason: Note | None = None


class RejectDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Note | None = None


class OverrideOut(BaseModel):
    id: str
    entityType: str
    entityId: str
    action: str
    reason: str
    status: ApiStatus
    requestedBy: str
    createdAt: datetime
    justification: str | None
    params: dict[str, Any] = Field(
        description="LEDGER_ADJUSTMENT: {amount} in rupees; FORCE_FINALIZE: {bidId?}"
    )
    critical: bool = Field(description="Approval needs a justification and the approver's TOTP code")
    decidedBy: str | None
    decidedAt: datetime | None
    updatedAt: datetime

    @classmethod
    def of(cls, record: OverrideRecord) -> OverrideOut:
        params: dict[str, Any] = {}
        if "amountPaise" in record.params:
            params["amount"] = paise_to_rupees_number(int(record.params["amountPaise"]))
        if "bidId" in record.params:
            params["bidId"] = record.params["bidId"]
        return cls(
            id=record.id,
            entityType=record.entity_type,
            entityId=record.entity_id,
            action=record.action.value,
            reason=record.reason,
            status=_API_STATUS[record.status],  # type: ignore[arg-type]
            requestedBy=record.requested_by,
            createdAt=record.created_at,
            justification=record.justification,
            params=params,
            critical=record.critical,
            decidedBy=record.decided_by,
            decidedAt=record.decided_at,
            updatedAt=record.updated_at,
        )


class TotpEnrolmentOut(BaseModel):
    secret: str = Field(description="Base32; shown once")
    otpauthUri: str = Field(description="For the authenticator app's QR code; shown once")


class TotpConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: TotpCode


class TotpStatusOut(BaseModel):
    enrolled: bool
    confirmed: bool
