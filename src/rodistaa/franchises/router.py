"""HTTP for franchises: the tree and staff membership (admins), and a staff member's own franchise."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.franchises.schemas import (
    EntityId,
    FranchiseCreate,
    FranchiseKind,
    FranchiseOut,
    MyFranchiseOut,
    StaffAssign,
    StaffAssignmentOut,
)
from rodistaa.franchises.service import FranchiseService
from rodistaa.http.auth import AdminActor, require_role
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services

router = APIRouter(tags=["franchises"])
StaffActor = Annotated[Actor, Depends(require_role(Role.FRANCHISE_UNIT, Role.FRANCHISE_DISTRICT))]


async def get_franchise_service(services: Annotated[Services, Depends(get_services)]) -> FranchiseService:
    return FranchiseService(services)


FranchiseServiceDep = Annotated[FranchiseService, Depends(get_franchise_service)]


@router.post(
    "/admin/franchises",
    status_code=status.HTTP_201_CREATED,
    response_model=FranchiseOut,
    responses=ERROR_RESPONSES,
    tags=["admin"],
)
async def create_franchise(
    body: FranchiseCreate, actor: AdminActor, service: FranchiseServiceDep
) -> FranchiseOut:
    return FranchiseOut.of(await service.create(actor, body))


@router.get("/admin/franchises", response_model=Page[FranchiseOut], responses=ERROR_RESPONSES, tags=["admin"])
async def list_franchises(
    _actor: AdminActor,
    service: FranchiseServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    kind: Annotated[FranchiseKind | None, Query()] = None,
    parent_id: Annotated[EntityId | None, Query(alias="parentId")] = None,
) -> dict[str, Any]:
    """Oldest first, so the tree reads top-down."""
    records, total = await service.list_franchises(kind=kind, parent_id=parent_id, page=page)
    return build_page([FranchiseOut.of(r) for r in records], total, page)


@router.post(
    "/admin/franchises/{franchiseId}/staff",
    response_model=StaffAssignmentOut,
    responses=ERROR_RESPONSES,
    tags=["admin"],
)
async def assign_staff(
    franchiseId: str, body: StaffAssign, actor: AdminActor, service: FranchiseServiceDep
) -> StaffAssignmentOut:
    assignment = await service.assign_staff(actor, franchiseId, body.userId)
    return StaffAssignmentOut(
        userId=assignment.user_id,
        role=assignment.role.value,
        franchiseId=assignment.franchise_id,
        previousFranchiseId=assignment.previous_franchise_id,
    )


@router.get("/franchise/me", response_model=MyFranchiseOut, responses=ERROR_RESPONSES)
async def my_franchise(actor: StaffActor, service: FranchiseServiceDep) -> MyFranchiseOut:
    franchise, units = await service.my_franchise(actor)
    return MyFranchiseOut(
        **FranchiseOut.of(franchise).model_dump(), units=[FranchiseOut.of(u) for u in units]
    )
