"""HTTP for the ACS engine: the active rules, reload, and the blocks on an entity. Admin only.

There is deliberately no endpoint that evaluates a caller-supplied context with side effects."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response

from rodistaa.acs.enforcement import active_blocks
from rodistaa.acsapi.schemas import (
    AcsRuleOut,
    ActiveBundleOut,
    BlockEntryOut,
    ReloadAttemptOut,
    ReloadOut,
)
from rodistaa.core.errors import AppError
from rodistaa.http.auth import AdminActor
from rodistaa.http.errors import ERROR_RESPONSES, documented_error
from rodistaa.http.services import Services, get_services

router = APIRouter(prefix="/acs", tags=["acs"])
ServicesDep = Annotated[Services, Depends(get_services)]
EntityType = Literal["user", "truck", "driver", "operator", "shipment", "device"]


class BundleInvalid(AppError):
    status, code, message = 422, "BUNDLE_INVALID", "The bundle was refused; the active rules are unchanged"


@router.get("/rules", response_model=list[AcsRuleOut], responses=ERROR_RESPONSES)
async def list_rules(_actor: AdminActor, services: ServicesDep, response: Response) -> list[AcsRuleOut]:
    """The active bundle's rules, highest priority first (the revision in `X-ACS-Revision`)."""
    bundle = services.acs.bundle
    response.headers["X-ACS-Revision"] = bundle.revision
    return [AcsRuleOut.of(rule) for rule in bundle.rules]


@router.get("/rules/active", response_model=ActiveBundleOut, responses=ERROR_RESPONSES)
async def active_bundle(_actor: AdminActor, services: ServicesDep) -> ActiveBundleOut:
    """The revision this instance runs and the last reload attempt on any instance (a refused
    bundle shows its errors here while the previous revision keeps running)."""
    bundle = services.acs.bundle
    attempt = await services.acs.last_reload_attempt()
    last = None
    if attempt is not None:
        last = ReloadAttemptOut(
            attemptedAt=attempt["attempted_at"],
            ok=attempt["ok"],
            revision=attempt["revision"],
            source=attempt["source"],
            actor=attempt["actor"],
            errors=attempt["errors"].splitlines() if attempt["errors"] else [],
        )
    enabled = sum(1 for rule in bundle.rules if rule.enabled)
    return ActiveBundleOut(
        revision=bundle.revision, rules=len(bundle.rules), enabledRules=enabled, lastReload=last
    )


@router.post(
    "/rules/reload",
    response_model=ReloadOut,
    responses=ERROR_RESPONSES
    | documented_error(422, "BUNDLE_INVALID: the bundle was refused; the active rules are unchanged"),
)
async def reload_rules(actor: AdminActor, services: ServicesDep) -> ReloadOut:
    """Load, validate and activate the configured bundle on every instance. The path is the
    service's `ACS_BUNDLE_PATH`, never one supplied by the caller."""
    result = await services.acs.reload_from_path(services.settings.acs_bundle_path, actor=actor.user_id)
    if not result.ok:
        raise BundleInvalid(details={"errors": list(result.errors), "activeRevision": result.revision})
    return ReloadOut(ok=True, revision=result.revision, changed=result.changed, errors=[])


@router.get("/blocks/{entityType}/{entityId}", response_model=list[BlockEntryOut], responses=ERROR_RESPONSES)
async def get_blocks(
    entityType: EntityType,
    entityId: str,
    _actor: AdminActor,
    services: ServicesDep,
) -> list[BlockEntryOut]:
    async with services.db.read() as conn:
        blocks = await active_blocks(conn, entityType, entityId, services.clock.now())
    return [BlockEntryOut.of(block) for block in blocks]
