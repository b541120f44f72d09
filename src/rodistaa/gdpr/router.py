"""HTTP for GDPR: the signed-in person's export of their own data, and erasure by an admin
(docs/privacy.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from rodistaa.gdpr.schemas import EraseRequest, ErasureOut, ExportBundle
from rodistaa.gdpr.service import GdprService
from rodistaa.http.auth import AdminActor, CurrentActor
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.services import Services, get_services

router = APIRouter(tags=["privacy"])

# The bundle holds the person's KYC numbers and files in clear: no cache may keep a copy.
_EXPORT_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def get_gdpr_service(services: Annotated[Services, Depends(get_services)]) -> GdprService:
    return GdprService(services)


GdprServiceDep = Annotated[GdprService, Depends(get_gdpr_service)]


@router.get(
    "/users/me/export",
    response_model=ExportBundle,
    response_model_exclude_unset=True,
    responses=ERROR_RESPONSES,
)
async def export_my_data(actor: CurrentActor, service: GdprServiceDep, response: Response) -> ExportBundle:
    """Everything held about the caller, as one JSON document (`rodistaa-export/1`), with
    their KYC numbers and current files decrypted. Each export is audited
    (`user.data_exported`)."""
    bundle = ExportBundle.of(await service.export(actor))
    response.headers.update(_EXPORT_HEADERS)
    response.headers["Content-Disposition"] = f'attachment; filename="rodistaa-export-{actor.user_id}.json"'
    return bundle


@router.post(
    "/admin/users/{userId}/erase",
    response_model=ErasureOut,
    responses=ERROR_RESPONSES,
    tags=["admin"],
)
async def erase_user(
    userId: str, body: EraseRequest, actor: AdminActor, service: GdprServiceDep
) -> ErasureOut:
    """Erase a person's personal data (irreversible): identity anonymised, sessions, devices
    and keys revoked, their data key destroyed (KYC documents become unreadable), free text
    they wrote removed; ledger, trip and audit records stay under the pseudonymous id. 403
    SELF_ERASURE for one's own account, 409 ALREADY_ERASED, 409 ERASURE_BLOCKED while they
    have open bookings, active bids or unfinished shipments."""
    return ErasureOut.of(await service.erase(actor, userId, reason=body.reason))
