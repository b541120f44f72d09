"""HTTP for drivers: created and listed by their operator; read by the driver and admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.drivers.schemas import DriverCreate, DriverOut
from rodistaa.drivers.service import DriverService, shows_mobile
from rodistaa.http.auth import require_role
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services

router = APIRouter(tags=["drivers"])

OperatorActor = Annotated[Actor, Depends(require_role(Role.OPERATOR))]
DriverListReader = Annotated[Actor, Depends(require_role(Role.OPERATOR, Role.ADMIN))]
DriverReader = Annotated[Actor, Depends(require_role(Role.OPERATOR, Role.DRIVER, Role.ADMIN))]


async def get_driver_service(services: Annotated[Services, Depends(get_services)]) -> DriverService:
    return DriverService(services)


ServiceDep = Annotated[DriverService, Depends(get_driver_service)]


@router.post(
    "/drivers",
    status_code=status.HTTP_201_CREATED,
    response_model=DriverOut,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
)
async def create_driver(body: DriverCreate, actor: OperatorActor, service: ServiceDep) -> DriverOut:
    """Creates the driver's account (role DRIVER) in the caller's fleet; the driver then signs
    in with a login code sent to `mobile`."""
    driver = await service.create(
        actor,
        name=body.name,
        mobile=body.mobile,
        licence_number=body.licenceNumber,
        licence_expiry=body.licenceExpiry,
    )
    return DriverOut.of(driver, show_mobile=True)


@router.get(
    "/drivers", response_model=Page[DriverOut], response_model_exclude_none=True, responses=ERROR_RESPONSES
)
async def list_drivers(
    actor: DriverListReader, service: ServiceDep, page: Annotated[PageRequest, Depends(page_request)]
) -> dict[str, Any]:
    """An operator's own fleet; every driver for an admin. Newest first."""
    drivers, total = await service.list_visible(actor, page=page)
    return build_page([DriverOut.of(d, show_mobile=shows_mobile(actor, d)) for d in drivers], total, page)


@router.get(
    "/drivers/{driverId}",
    response_model=DriverOut,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
)
async def get_driver(driverId: str, actor: DriverReader, service: ServiceDep) -> DriverOut:
    driver = await service.get(actor, driverId)
    return DriverOut.of(driver, show_mobile=shows_mobile(actor, driver))
