"""Typed errors of the identity domain. Messages never echo codes, tokens or phone numbers."""

from __future__ import annotations

from rodistaa.core.errors import Conflict, Forbidden, Unauthorized


class InvalidOtp(Unauthorized):
    code, message = "OTP_INVALID", "The code is wrong or has expired"


class OtpLocked(Unauthorized):
    code, message = "OTP_LOCKED", "Too many wrong codes; request a new one"


class InvalidRefreshToken(Unauthorized):
    code, message = "INVALID_REFRESH_TOKEN", "The refresh token is not valid"


class RefreshTokenReused(Unauthorized):
    code, message = "REFRESH_TOKEN_REUSED", "The refresh token was already used; sign in again"


class DeviceMismatch(Unauthorized):
    code, message = "DEVICE_MISMATCH", "This session is bound to another device"


class DeviceBlocked(Forbidden):
    code, message = "DEVICE_BLOCKED", "This device is blocked"


class AccountBlocked(Forbidden):
    code, message = "ACCOUNT_BLOCKED", "This account is blocked"


class AccountSuspended(Forbidden):
    code, message = "ACCOUNT_SUSPENDED", "This account is suspended"


class AccountInactive(Forbidden):
    code, message = "ACCOUNT_INACTIVE", "This account is inactive"


class AlreadyRegistered(Conflict):
    code, message = "ALREADY_REGISTERED", "This phone number already has an account"
