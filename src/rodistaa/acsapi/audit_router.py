"""HTTP for the audit log: browse entries (the contract's AuditLog shape first, the chain
fields after) and the last verification. Admin only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from rodistaa.acs.audit import AuditEntry, last_verification, record_verification, verify_chain
from rodistaa.acs.audit.repo import list_entries
from rodistaa.acs.metrics import AUDIT_CHAIN_LENGTH, AUDIT_VERIFY_OK
from rodistaa.core.errors import NotFound
from rodistaa.http.auth import AdminActor
from rodistaa.http.errors import ERROR_RESPONSES, documented_error
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services

router = APIRouter(prefix="/admin/audit", tags=["admin"])
ServicesDep = Annotated[Services, Depends(get_services)]


class AuditLogOut(BaseModel):
    id: str
    entityType: str
    entityId: str
    action: str
    performedBy: str
    timestamp: datetime
    metadata: dict[str, Any]
    seq: int
    ruleId: str | None
    ruleVersion: int | None
    bundleRevision: str | None
    prevHash: str
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditLogOut:
        return cls(
            id=entry.id,
            entityType=entry.entity_type,
            entityId=entry.entity_id,
            action=entry.action,
            performedBy=entry.actor,
            timestamp=datetime.fromisoformat(entry.at),
            metadata=entry.data,
            seq=entry.seq,
            ruleId=entry.rule_id,
            ruleVersion=entry.rule_version,
            bundleRevision=entry.bundle_revision,
            prevHash=entry.prev_hash,
            hash=entry.hash,
        )


class VerificationOut(BaseModel):
    verifiedAt: datetime
    ok: bool
    count: int
    lastSeq: int | None
    firstBadSeq: int | None
    kind: str | None
    detail: str


@router.get("", response_model=Page[AuditLogOut], responses=ERROR_RESPONSES)
async def list_audit(
    _actor: AdminActor,
    services: ServicesDep,
    page: Annotated[PageRequest, Depends(page_request)],
    entity_type: Annotated[str | None, Query(alias="entityType", max_length=64)] = None,
    entity_id: Annotated[str | None, Query(alias="entityId", max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    performed_by: Annotated[str | None, Query(alias="performedBy", max_length=64)] = None,
) -> dict[str, Any]:
    """Newest first."""
    async with services.db.read() as conn:
        entries, total = await list_entries(
            conn,
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            actor=performed_by,
            offset=page.offset,
            limit=page.limit,
        )
    return build_page([AuditLogOut.of(e) for e in entries], total, page)


@router.get(
    "/verify",
    response_model=VerificationOut,
    responses=ERROR_RESPONSES | documented_error(404, "NOT_FOUND: the chain has not been verified yet"),
)
async def get_last_verification(_actor: AdminActor, services: ServicesDep) -> VerificationOut:
    """The last verification of the whole chain (run by `rodistaa audit verify`, the
    scheduler, or `POST` on this path)."""
    stored = await last_verification(services.db)
    if stored is None:
        raise NotFound("The audit chain has not been verified yet")
    return _verification_out(stored.verified_at, stored.report.to_dict())


@router.post("/verify", response_model=VerificationOut, responses=ERROR_RESPONSES)
async def run_verification(_actor: AdminActor, services: ServicesDep) -> VerificationOut:
    """Verify the whole chain now, link by link and every checkpoint signature, and record it."""
    report = await verify_chain(services.db, services.kms)
    stored = await record_verification(services.db, report, now=services.clock.now())
    AUDIT_CHAIN_LENGTH.set(report.count)
    AUDIT_VERIFY_OK.set(1 if report.ok else 0)
    return _verification_out(stored.verified_at, report.to_dict())


def _verification_out(verified_at: datetime, report: dict[str, Any]) -> VerificationOut:
    return VerificationOut(
        verifiedAt=verified_at,
        ok=report["ok"],
        count=report["count"],
        lastSeq=report["lastSeq"],
        firstBadSeq=report["firstBadSeq"],
        kind=report["kind"],
        detail=report["detail"],
    )
