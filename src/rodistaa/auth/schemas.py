"""API models of login and sessions (the contract's AuthResponse plus documented extras)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.users.schemas import Mobile, UserOut

DeviceId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$"),
    Field(examples=["device-7f3a9c21"]),
]


class OtpRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"mobile": "+919876543210"}]})
    mobile: Mobile


class OtpResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message": "OTP sent to +91******3210", "expiresIn": 300}]}
    )

    message: str
    expiresIn: int
    devOtp: str | None = Field(default=None, description="Development only (OTP_DEV_ECHO)")


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"mobile": "+919876543210", "otp": "123456", "deviceId": "device-7f3a9c21"}]
        },
    )
    mobile: Mobile
    otp: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$"), Field(examples=["123456"])]
    deviceId: DeviceId | None = None


class RefreshRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"refreshToken": "q0Yl3vYb2R9Xk4t7mWcZ1nH8sJf6dPaEoUiG5rTxB2c"}]},
    )
    refreshToken: Annotated[str, StringConstraints(min_length=16, max_length=256)]


class AuthResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJVU1ItU0gtMDEifQ.c2ln",  # nosec B105 # an OpenAPI example value
                    "refreshToken": "q0Yl3vYb2R9Xk4t7mWcZ1nH8sJf6dPaEoUiG5rTxB2c",
                    "user": {
                        "id": "USR-SH-01J9Z6Q4YB7T3K5N8W2X4C6V1D",
                        "role": "SHIPPER",
                        "name": "Patel Cements",
                        "mobileMasked": "+91******3210",
                        "status": "ACTIVE",
                        "createdAt": "2024-01-15T10:30:00Z",
                    },
                    "tokenType": "Bearer",
                    "expiresIn": 900,
                    "registrationRequired": False,
                }
            ]
        }
    )

    token: str
    refreshToken: str | None
    user: UserOut | None
    tokenType: str = "Bearer"
    expiresIn: int
    registrationRequired: bool = False
