"""HTTP for tracking: pings from the assigned driver, the track and latest position for the
shipment's parties, NO_PING alerts for operators and admins.

`/tracking/alerts` is declared before `/tracking/{shipmentId}` so it is not taken for a
shipment id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from rodistaa.apikeys.scopes import Scope
from rodistaa.core.actor import Actor
from rodistaa.core.roles import Role
from rodistaa.core.timestamps import ApiDatetime
from rodistaa.http.auth import require_access, require_role
from rodistaa.http.context import client_ip
from rodistaa.http.errors import ERROR_RESPONSES, documented_error
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.ratelimit import publish
from rodistaa.http.services import Services, get_services
from rodistaa.tracking.schemas import (
    AlertOut,
    Coordinates,
    GpsPingOut,
    LatestFix,
    PingAccepted,
    PingRequest,
    PositionOut,
)
from rodistaa.tracking.service import TrackingService

router = APIRouter(tags=["tracking"])
DriverActor = Annotated[Actor, Depends(require_role(Role.DRIVER))]
# Who may read tracks at all (partner keys with tracking:read too); which shipments each sees
# is `shipments.repo.readable`.
TrackReaderActor = Annotated[
    Actor,
    Depends(
        require_access(Scope.TRACKING_READ, roles=(Role.SHIPPER, Role.OPERATOR, Role.DRIVER, Role.ADMIN))
    ),
]
AlertActor = Annotated[Actor, Depends(require_role(Role.OPERATOR, Role.ADMIN))]

DEFAULT_TRACK_LIMIT = 1000
MAX_TRACK_LIMIT = 5000


async def get_tracking_service(services: Annotated[Services, Depends(get_services)]) -> TrackingService:
    return TrackingService(services)


TrackingServiceDep = Annotated[TrackingService, Depends(get_tracking_service)]


@router.post(
    "/tracking/ping",
    response_model=PingAccepted,
    responses=ERROR_RESPONSES
    | documented_error(404, "NOT_FOUND: no shipment with this id is assigned to the driver"),
)
async def post_ping(
    body: PingRequest, actor: DriverActor, service: TrackingServiceDep, request: Request
) -> PingAccepted:
    """The assigned driver sends one fix or a batch of up to 500 while the shipment is
    IN_TRANSIT or OTP_PENDING (409 INVALID_STATE otherwise; 404 for another driver's shipment).
    A fix whose time is already stored is not stored: counted as `duplicates` when its
    coordinates are the stored ones, as `conflicts` (and logged) when not. ACS may freeze the shipment
    (RF05 GPS jump, RF06 spoofing): `frozen` reports it; the fixes are stored either way.
    At most `RATE_LIMIT_GPS_PER_SHIPMENT` fixes (1,000 an hour) per shipment: 429 beyond."""
    outcome = await service.record_pings(actor, body, ip=client_ip(request))
    publish(request, outcome.limit)
    latest = LatestFix(
        coordinates=Coordinates(lat=outcome.latest.lat, lng=outcome.latest.lng),
        recordedAt=outcome.latest.recorded_at,
    )
    return PingAccepted(
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        conflicts=outcome.conflicts,
        frozen=outcome.frozen,
        latest=latest,
    )


@router.get("/tracking/alerts", response_model=Page[AlertOut], responses=ERROR_RESPONSES)
async def list_alerts(
    actor: AlertActor,
    service: TrackingServiceDep,
    page: Annotated[PageRequest, Depends(page_request)],
    unacknowledged: bool = False,
    shipment_id: Annotated[str | None, Query(alias="shipmentId", max_length=64)] = None,
) -> dict[str, Any]:
    """Operators: alerts of their shipments; admins: all. Newest first."""
    alerts, total = await service.list_alerts(
        actor, unacknowledged=unacknowledged, shipment_id=shipment_id, page=page
    )
    return build_page([AlertOut.of(a) for a in alerts], total, page)


@router.post("/tracking/alerts/{alertId}/acknowledge", response_model=AlertOut, responses=ERROR_RESPONSES)
async def acknowledge_alert(alertId: str, actor: AlertActor, service: TrackingServiceDep) -> AlertOut:
    """The shipment's operator or an admin; 409 ALREADY_ACKNOWLEDGED the second time."""
    return AlertOut.of(await service.acknowledge_alert(actor, alertId))


@router.get("/tracking/{shipmentId}", response_model=list[GpsPingOut], responses=ERROR_RESPONSES)
async def get_track(
    shipmentId: str,
    actor: TrackReaderActor,
    service: TrackingServiceDep,
    since: Annotated[ApiDatetime | None, Query(description="Only fixes after this time")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TRACK_LIMIT)] = DEFAULT_TRACK_LIMIT,
) -> list[GpsPingOut]:
    """The track oldest first, at most `limit` fixes (default 1000, max 5000) after `since`
    (exclusive): a longer track is read by passing the last timestamp received as `since`."""
    pings = await service.get_track(actor, shipmentId, since=since, limit=limit)
    return [GpsPingOut.of(p) for p in pings]


@router.get("/tracking/{shipmentId}/latest", response_model=PositionOut, responses=ERROR_RESPONSES)
async def get_latest(shipmentId: str, actor: TrackReaderActor, service: TrackingServiceDep) -> PositionOut:
    """The latest fix; 404 NO_POSITION before the first one."""
    return PositionOut.of(await service.get_latest(actor, shipmentId))
