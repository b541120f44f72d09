"""Authentication and authorization dependencies for routers.

Routers are authenticated by default by depending on `CurrentActor` (or a role alias); public
routes opt out visibly by not depending on it. Visibility helpers answer 404 for resources the
caller may not see (no existence leak) and 403 for those it may see but not act on.

Partner API keys (`X-API-Key`) are denied by default: `CurrentActor` and the role aliases read
only bearer tokens, so a key on any other route is simply no credential (401). A route opens
itself to keys by depending on `require_access(scope, roles=...)`, which takes a bearer session
or a key granted that scope (docs/partner-api.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader

from rodistaa.apikeys.errors import InsufficientScope
from rodistaa.apikeys.scopes import Scope
from rodistaa.apikeys.service import ApiKeyService
from rodistaa.core.actor import Actor
from rodistaa.core.errors import Forbidden, NotFound, Unauthorized
from rodistaa.core.roles import Role
from rodistaa.http.ratelimit import limit_request
from rodistaa.http.services import Services, get_services


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def _credentials(request: Request) -> tuple[str | None, str | None, str | None]:
    return (
        request.headers.get("authorization"),
        request.headers.get("x-api-key"),
        request.headers.get("x-device-id"),
    )


def _already_authenticated(request: Request) -> Actor | None:
    """The actor this request's credentials were already resolved to (the idempotency
    middleware authenticates before the route does). Bound to the credential headers, so a
    per-request state shared by mistake can never hand one caller's identity to another."""
    cached: tuple[tuple[str | None, ...], Actor] | None = getattr(request.state, "authenticated", None)
    if cached is not None and cached[0] == _credentials(request):
        return cached[1]
    return None


async def _authenticated(request: Request, actor: Actor) -> Actor:
    """Remember the actor for the rest of the request and charge its default budget, once."""
    request.state.authenticated = (_credentials(request), actor)
    request.state.user_id = actor.user_id  # read by the access log
    request.state.api_key_id = actor.api_key_id
    # A partner key has a budget of its own, apart from its owner's own use of the app.
    caller = f"apikey:{actor.api_key_id}" if actor.api_key_id else f"user:{actor.user_id}"
    await limit_request(request, [("default", caller)])
    return actor


async def authenticate_session(request: Request, services: Services) -> Actor:
    """The signed-in user behind the request's bearer token (401 without a valid one)."""
    cached = _already_authenticated(request)
    if cached is not None and cached.api_key_id is None:
        return cached
    device_header = request.headers.get("x-device-id")
    actor = await services.auth.authenticate(bearer_token(request), device_header=device_header)
    return await _authenticated(request, actor)


async def current_actor(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    x_device_id: Annotated[str | None, Header(alias="X-Device-Id", include_in_schema=False)] = None,
) -> Actor:
    return await authenticate_session(request, services)


CurrentActor = Annotated[Actor, Depends(current_actor)]

# Declares the header in the OpenAPI document of the routes open to partners; the value is read
# by `authenticate_any`, which the idempotency middleware shares.
partner_api_key = APIKeyHeader(
    name="X-API-Key",
    scheme_name="partnerApiKey",
    description="A partner API key (`rk_<prefix>_<secret>`), on the routes open to partners",
    auto_error=False,
)


async def authenticate_any(request: Request, services: Services) -> Actor:
    """The caller behind a bearer token or, when the request has no Authorization header, an
    `X-API-Key` (as its owner, with the key's scopes; no scope is checked here). 401 without a
    valid one. With both headers the bearer token decides, so a request has one identity."""
    api_key = request.headers.get("x-api-key")
    if "authorization" in request.headers or not api_key:
        return await authenticate_session(request, services)
    cached = _already_authenticated(request)
    if cached is not None:
        return cached
    return await _authenticated(request, await ApiKeyService(services).authenticate(api_key))


def require_access(scope: Scope, *, roles: Iterable[Role]) -> Callable[..., Awaitable[Actor]]:
    """A dependency for a route open to partners: a bearer session of one of `roles`, or an API
    key granted `scope` whose owner has one of `roles` (403 INSUFFICIENT_SCOPE for a key
    without the scope, then 403 FORBIDDEN for a role outside `roles`)."""
    allowed = frozenset(roles)

    async def dependency(
        request: Request,
        services: Annotated[Services, Depends(get_services)],
        _api_key: Annotated[str | None, Depends(partner_api_key)],
    ) -> Actor:
        actor = await authenticate_any(request, services)
        if actor.scopes is not None and scope not in actor.scopes:
            raise InsufficientScope(scope)
        if actor.role not in allowed:
            raise Forbidden()
        return actor

    return dependency


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
