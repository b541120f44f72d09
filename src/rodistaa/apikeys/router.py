"""HTTP for partner API keys (ADMIN sessions only; a key can never manage keys): create and
rotate (the key is in the 201 response, once), list, read, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, status

from rodistaa.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyRotate
from rodistaa.apikeys.service import ApiKeyService
from rodistaa.http.auth import AdminActor
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services

router = APIRouter(tags=["admin"])


async def get_api_key_service(services: Annotated[Services, Depends(get_services)]) -> ApiKeyService:
    return ApiKeyService(services)


ApiKeyServiceDep = Annotated[ApiKeyService, Depends(get_api_key_service)]
PageDep = Annotated[PageRequest, Depends(page_request)]


@router.post(
    "/admin/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=ERROR_RESPONSES,
)
async def create_api_key(body: ApiKeyCreate, actor: AdminActor, service: ApiKeyServiceDep) -> ApiKeyCreated:
    """A key acting as `ownerUserId` within `scopes`. `key` goes in the `X-API-Key` header and
    is shown only in this response; 400 names `ownerUserId`, `scopes` or `expiresAt`."""
    record, key = await service.create(actor, body)
    return ApiKeyCreated.with_key(record, key)


@router.get("/admin/api-keys", response_model=Page[ApiKeyOut], responses=ERROR_RESPONSES)
async def list_api_keys(
    actor: AdminActor,
    service: ApiKeyServiceDep,
    page: PageDep,
    owner_user_id: Annotated[str | None, Query(alias="ownerUserId", max_length=64)] = None,
) -> dict[str, Any]:
    """Every key (or one owner's), newest first, without the key."""
    records, total = await service.list_keys(owner_user_id=owner_user_id, page=page)
    return build_page([ApiKeyOut.of(r) for r in records], total, page)


@router.get("/admin/api-keys/{apiKeyId}", response_model=ApiKeyOut, responses=ERROR_RESPONSES)
async def get_api_key(apiKeyId: str, actor: AdminActor, service: ApiKeyServiceDep) -> ApiKeyOut:
    return ApiKeyOut.of(await service.get(apiKeyId))


@router.post("/admin/api-keys/{apiKeyId}/revoke", response_model=ApiKeyOut, responses=ERROR_RESPONSES)
async def revoke_api_key(apiKeyId: str, actor: AdminActor, service: ApiKeyServiceDep) -> ApiKeyOut:
    """Refused from the very next request. Revoking a revoked key answers it unchanged."""
    return ApiKeyOut.of(await service.revoke(actor, apiKeyId))


@router.post(
    "/admin/api-keys/{apiKeyId}/rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=ERROR_RESPONSES,
)
async def rotate_api_key(
    apiKeyId: str,
    actor: AdminActor,
    service: ApiKeyServiceDep,
    body: Annotated[ApiKeyRotate | None, Body()] = None,
) -> ApiKeyCreated:
    """A successor key (same name, owner and scopes), shown once. The old key keeps working for
    `overlapMinutes` (default API_KEY_ROTATION_OVERLAP_MINUTES, at most 7 days) or until its own
    expiry if sooner; 409 INVALID_STATE for a revoked, expired or already rotated key."""
    overlap = body.overlapMinutes if body is not None else None
    record, key = await service.rotate(actor, apiKeyId, overlap_minutes=overlap)
    return ApiKeyCreated.with_key(record, key)
