"""Authentication and authorization dependencies for routers.

Routers are authenticated by default by depending on `CurrentActor` (or a role alias); public
routes opt out visibly by not depending on it. Visibility helpers answer 404 for resources the
caller may not see (no existence leak) and 403 for those it may see but not act on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from rodistaa.core.actor import Actor
from rodistaa.core.errors import Forbidden, NotFound, Unauthorized
from rodistaa.core.roles import Role
from rodistaa.http.services import Services, get_services


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


async def authenticate_session(request: Request, services: Services) -> Actor:
    """The signed-in user behind the request's bearer token (401 without a valid one)."""
    device_header = request.headers.get("x-device-id")
    actor = await services.auth.authenticate(bearer_token(request), device_header=device_header)
    request.state.user_id = actor.user_id  # read by the access log
    return actor


async def current_actor(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    x_device_id: Annotated[str | None, Header(alias="X-Device-Id", include_in_schema=False)] = None,
) -> Actor:
    return await authenticate_session(request, services)


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require_role(*roles: Role) -> Callable[[Actor], Awaitable[Actor]]:
    allowed = frozenset(roles)

    async def dependency(actor: CurrentActor) -> Actor:
        if actor.role not in allowed:
            raise Forbidden()
        return actor

    return dependency


AdminActor = Annotated[Actor, Depends(require_role(Role.ADMIN))]


def ensure_visible(
    actor: Actor, owner_id: str | None, *, staff: frozenset[Role] = frozenset({Role.ADMIN})
) -> None:
    """The single ownership rule later domains use: the owner and staff roles see a resource;
    everyone else gets 404 as if it did not exist."""
    if actor.role in staff or (owner_id is not None and owner_id == actor.user_id):
        return
    raise NotFound()
