"""HTTP for login codes and sessions. Public routes: nobody is signed in before logging in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response, status

from rodistaa.auth.schemas import AuthResponse, LoginRequest, OtpRequest, OtpResponse, RefreshRequest
from rodistaa.core.phone import mask_phone
from rodistaa.http.auth import CurrentActor
from rodistaa.http.errors import ERROR_RESPONSES
from rodistaa.http.services import Services, get_services
from rodistaa.users.schemas import UserOut

router = APIRouter(prefix="/auth", tags=["auth"])
ServicesDep = Annotated[Services, Depends(get_services)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/otp", response_model=OtpResponse, responses=ERROR_RESPONSES)
async def request_otp(
    body: OtpRequest, request: Request, response: Response, services: ServicesDep
) -> OtpResponse:
    issued = await services.auth.request_otp(body.mobile, client_ip=client_ip(request))
    response.headers.update(issued.limit.headers(0))
    return OtpResponse(
        message=f"OTP sent to {mask_phone(body.mobile)}",
        expiresIn=issued.expires_in_s,
        devOtp=issued.dev_code,
    )


@router.post("/login", response_model=AuthResponse, responses=ERROR_RESPONSES)
async def login(
    body: LoginRequest, request: Request, response: Response, services: ServicesDep
) -> AuthResponse:
    result = await services.auth.login(
        body.mobile, body.otp, device_id=body.deviceId, client_ip=client_ip(request)
    )
    response.headers.update(result.limit.headers(0))
    if result.tokens is None or result.user is None:
        assert result.signup_token is not None
        return AuthResponse(
            token=result.signup_token,
            refreshToken=None,
            user=None,
            expiresIn=15 * 60,
            registrationRequired=True,
        )
    return AuthResponse(
        token=result.tokens.access_token,
        refreshToken=result.tokens.refresh_token,
        user=UserOut.of(result.user),
        expiresIn=result.tokens.expires_in_s,
    )


@router.post("/refresh", response_model=AuthResponse, responses=ERROR_RESPONSES)
async def refresh(
    body: RefreshRequest,
    services: ServicesDep,
    x_device_id: Annotated[str | None, Header(alias="X-Device-Id")] = None,
) -> AuthResponse:
    user, tokens = await services.auth.refresh(body.refreshToken, device_header=x_device_id)
    return AuthResponse(
        token=tokens.access_token,
        refreshToken=tokens.refresh_token,
        user=UserOut.of(user),
        expiresIn=tokens.expires_in_s,
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=ERROR_RESPONSES)
async def logout(actor: CurrentActor, services: ServicesDep) -> Response:
    """Revokes this session: its refresh token and every access token issued for it."""
    await services.auth.logout(actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
