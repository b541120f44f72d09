"""HTTP for the governance queues, admin only: `GET|POST /v1/admin/blocks`,
`GET /v1/admin/watchlist`, `GET /v1/admin/tickets`, `GET /v1/admin/tickets/{ticketId}`,
`POST /v1/admin/tickets/{ticketId}/assign`, `POST /v1/admin/tickets/{ticketId}/status`.

There is deliberately no unblock endpoint: lifting a block is an override (four eyes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from rodistaa.governance.repo import TicketStatus
from rodistaa.governance.schemas import (
    BlockCreate,
    BlockOut,
    BlockSource,
    EntityType,
    TicketAssign,
    TicketOut,
    TicketStatusChange,
    WatchlistEntryOut,
)
from rodistaa.governance.service import GovernanceService
from rodistaa.http.auth import AdminActor
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services

router = APIRouter(prefix="/admin", tags=["admin"])


async def get_governance_service(services: Annotated[Services, Depends(get_services)]) -> GovernanceService:
    return GovernanceService(services)


ServiceDep = Annotated[GovernanceService, Depends(get_governance_service)]
PageDep = Annotated[PageRequest, Depends(page_request)]


@router.get("/blocks", response_model=Page[BlockOut], responses=ERROR_RESPONSES)
async def list_blocks(
    _actor: AdminActor,
    service: ServiceDep,
    page: PageDep,
    entity_type: Annotated[EntityType | None, Query(alias="entityType")] = None,
    entity_id: Annotated[str | None, Query(alias="entityId", max_length=128)] = None,
    source: Annotated[BlockSource | None, Query()] = None,
) -> dict[str, Any]:
    """Active blocks (not lifted, not expired) from ACS rules and admins, newest first."""
    blocks, total = await service.list_blocks(
        entity_type=entity_type, entity_id=entity_id, source=source, page=page
    )
    return build_page([BlockOut.of(b) for b in blocks], total, page)


@router.post(
    "/blocks", status_code=status.HTTP_201_CREATED, response_model=BlockOut, responses=ERROR_RESPONSES
)
async def create_block(body: BlockCreate, actor: AdminActor, service: ServiceDep) -> BlockOut:
    """Block an existing entity (404 otherwise) until `expiresAt`, or until an override lifts it.
    A blocked account's next request is refused; writes the `acs.block` event."""
    return BlockOut.of(await service.block(actor, body))


@router.get("/watchlist", response_model=Page[WatchlistEntryOut], responses=ERROR_RESPONSES)
async def list_watchlist(
    _actor: AdminActor,
    service: ServiceDep,
    page: PageDep,
    entity_type: Annotated[str | None, Query(alias="entityType", max_length=32)] = None,
) -> dict[str, Any]:
    """One entry per flagged entity with its accumulated reasons, most recently flagged first."""
    entries, total = await service.list_watchlist(entity_type=entity_type, page=page)
    return build_page([WatchlistEntryOut.of(e) for e in entries], total, page)


@router.get("/tickets", response_model=Page[TicketOut], responses=ERROR_RESPONSES)
async def list_tickets(
    _actor: AdminActor,
    service: ServiceDep,
    page: PageDep,
    team: Annotated[str | None, Query(max_length=32)] = None,
    ticket_status: Annotated[TicketStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    """Team queues, newest first."""
    tickets, total = await service.list_tickets(team=team, status=ticket_status, page=page)
    return build_page([TicketOut.of(t) for t in tickets], total, page)


@router.get("/tickets/{ticketId}", response_model=TicketOut, responses=ERROR_RESPONSES)
async def get_ticket(ticketId: str, _actor: AdminActor, service: ServiceDep) -> TicketOut:
    return TicketOut.of(await service.get_ticket(ticketId))


@router.post("/tickets/{ticketId}/assign", response_model=TicketOut, responses=ERROR_RESPONSES)
async def assign_ticket(
    ticketId: str, body: TicketAssign, actor: AdminActor, service: ServiceDep
) -> TicketOut:
    """To an ACTIVE admin or staff account (400 otherwise); 409 once the ticket is resolved."""
    return TicketOut.of(await service.assign_ticket(actor, ticketId, body.assigneeId))


@router.post("/tickets/{ticketId}/status", response_model=TicketOut, responses=ERROR_RESPONSES)
async def change_ticket_status(
    ticketId: str, body: TicketStatusChange, actor: AdminActor, service: ServiceDep
) -> TicketOut:
    """OPEN -> IN_PROGRESS -> RESOLVED one step at a time (409 INVALID_STATE otherwise);
    resolving needs `resolutionNote`."""
    return TicketOut.of(await service.change_ticket_status(actor, ticketId, body))
