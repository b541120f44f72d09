"""HTTP for login codes and sessions. Public routes: nobody is signed in before logging in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response, status

from rodistaa.auth.schemas import AuthResponse, LoginRequest, OtpRequest, OtpResponse, RefreshRequest
from rodistaa.core.phone import mask_phone
from rodistaa.http.auth import CurrentActor
from rodistaa.http.context import client_ip
from rodistaa.http.errors import ERROR_RESPONSES, documented_error
from rodistaa.http.ratelimit import publish
from rodistaa.http.services import Services, get_services
from rodistaa.users.schemas import UserOut

router = APIRouter(prefix="/auth", tags=["auth"])
ServicesDep = Annotated[Services, Depends(get_services)]
# Public routes, so the document builder infers no 401/403/429: these say what they answer.
_RATE_LIMITED = documented_error(429, "RATE_LIMIT_EXCEEDED: too many codes for this phone or address")
_LOGIN_ERRORS = (
    _RATE_LIMITED
    | documented_error(401, "OTP_INVALID: the code is wrong or expired (OTP_LOCKED after too many)")
    | documented_error(403, "ACCOUNT_BLOCKED, ACCOUNT_SUSPENDED, ACCOUNT_INACTIVE or DEVICE_BLOCKED")
)
_REFRESH_ERRORS = documented_error(
    401, "INVALID_REFRESH_TOKEN: unknown, expired or reused (REFRESH_TOKEN_REUSED), or DEVICE_MISMATCH"
) | documented_error(403, "ACCOUNT_BLOCKED, ACCOUNT_SUSPENDED or ACCOUNT_INACTIVE")


def limit_key_ip(request: Request) -> str:
    """The address the per-IP login budgets are counted on (one shared budget if unknown)."""
    return client_ip(request) or "unknown"


@router.post("/otp", response_model=OtpResponse, responses=ERROR_RESPONSES | _RATE_LIMITED)
async def request_otp(body: OtpRequest, request: Request, services: ServicesDep) -> OtpResponse:
    issued = await services.auth.request_otp(body.mobile, client_ip=limit_key_ip(request))
    publish(request, issued.limit)
    return OtpResponse(
        message=f"OTP sent to {mask_phone(body.mobile)}",
        expiresIn=issued.expires_in_s,
        devOtp=issued.dev_code,
    )


@router.post("/login", response_model=AuthResponse, responses=ERROR_RESPONSES | _LOGIN_ERRORS)
async def login(body: LoginRequest, request: Request, services: ServicesDep) -> AuthResponse:
    result = await services.auth.login(
        body.mobile, body.otp, device_id=body.deviceId, client_ip=limit_key_ip(request)
    )
    publish(request, result.limit)
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


@router.post("/refresh", response_model=AuthResponse, responses=ERROR_RESPONSES | _REFRESH_ERRORS)
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
