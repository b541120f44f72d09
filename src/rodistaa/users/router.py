"""HTTP for profiles, self-registration and staff accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from rodistaa.core.errors import ValidationFailed
from rodistaa.core.roles import SELF_REGISTRATION_ROLES, Role
from rodistaa.http.auth import AdminActor, CurrentActor, bearer_token
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.pagination import Page, PageRequest, build_page, page_request
from rodistaa.http.services import Services, get_services
from rodistaa.users.schemas import ProfileOut, RegisterRequest, StaffUserCreate, UserOut

router = APIRouter(tags=["users"])
ServicesDep = Annotated[Services, Depends(get_services)]


class RegisterResponse(UserOut):
    """The contract's User, plus the session the new account is signed in with."""

    token: str
    refreshToken: str
    expiresIn: int


@router.get("/users/me", response_model=ProfileOut, responses=ERROR_RESPONSES)
async def get_me(actor: CurrentActor, services: ServicesDep) -> ProfileOut:
    return ProfileOut.of(await services.users.get_profile(actor))


@router.post(
    "/users/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisterResponse,
    responses=ERROR_RESPONSES,
    # The bearer token is the sign-up token of the login, read by the handler itself.
    openapi_extra={"security": [{"bearerAuth": []}]},
)
async def register(body: RegisterRequest, request: Request, services: ServicesDep) -> RegisterResponse:
    """Completes sign-up with the token `POST /auth/login` returned for a new phone."""
    claims = services.auth.signup_claims(bearer_token(request))
    if body.role not in SELF_REGISTRATION_ROLES:
        raise ValidationFailed.for_field("role", "must be SHIPPER or OPERATOR")
    if body.mobile is not None and body.mobile != claims.subject:
        raise ValidationFailed.for_field("mobile", "must be the phone number that was verified")
    user, tokens = await services.auth.register(claims, name=body.name, role=body.role, email=body.email)
    return RegisterResponse(
        **UserOut.of(user).model_dump(),
        token=tokens.access_token,
        refreshToken=tokens.refresh_token,
        expiresIn=tokens.expires_in_s,
    )


@router.post(
    "/admin/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=ERROR_RESPONSES,
    tags=["admin"],
)
async def create_user(body: StaffUserCreate, actor: AdminActor, services: ServicesDep) -> UserOut:
    user = await services.users.create_user(
        mobile=body.mobile, name=body.name, role=body.role, email=body.email, created_by=actor.user_id
    )
    return UserOut.of(user)


@router.get("/admin/users", response_model=Page[UserOut], responses=ERROR_RESPONSES, tags=["admin"])
async def list_users(
    _actor: AdminActor,
    services: ServicesDep,
    page: Annotated[PageRequest, Depends(page_request)],
    role: Annotated[Role | None, Query()] = None,
) -> dict[str, object]:
    users, total = await services.users.list_users(role=role, page=page)
    return build_page([UserOut.of(u) for u in users], total, page)
