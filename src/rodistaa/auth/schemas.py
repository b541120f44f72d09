"""API models of login and sessions (the contract's AuthResponse plus documented extras)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.users.schemas import Mobile, UserOut

DeviceId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]


class OtpRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mobile: Mobile


class OtpResponse(BaseModel):
    message: str
    expiresIn: int
    devOtp: str | None = Field(default=None, description="Development only (OTP_DEV_ECHO)")


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mobile: Mobile
    otp: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
    deviceId: DeviceId | None = None


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refreshToken: Annotated[str, StringConstraints(min_length=16, max_length=256)]


class AuthResponse(BaseModel):
    token: str
    refreshToken: str | None
    user: UserOut | None
    tokenType: str = "Bearer"
    expiresIn: int
    registrationRequired: bool = False
