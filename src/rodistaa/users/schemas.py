"""API models of users. Phone numbers leave the service masked, except to their owner."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from rodistaa.core.phone import InvalidPhoneNumber, mask_phone, normalize_indian_mobile
from rodistaa.core.roles import Role
from rodistaa.users.repo import UserRecord


def _normalise_mobile(value: str) -> str:
    try:
        return normalize_indian_mobile(value)
    except InvalidPhoneNumber as exc:
        raise ValueError("must be an Indian mobile number: +91 followed by 10 digits") from exc


Mobile = Annotated[
    str,
    StringConstraints(max_length=32),
    AfterValidator(_normalise_mobile),
    Field(
        description="An Indian mobile number: +91 and 10 digits starting with 6-9 (spaces, dashes and a "
        "leading 91 or 0 are accepted)",
        examples=["+919876543210"],
    ),
]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class UserOut(BaseModel):
    id: str
    role: Role
    name: str
    mobileMasked: str
    status: str
    createdAt: datetime

    @classmethod
    def of(cls, user: UserRecord) -> UserOut:
        return cls(
            id=user.id,
            role=user.role,
            name=user.name,
            mobileMasked=mask_phone(user.mobile),
            status=user.status.value,
            createdAt=user.created_at,
        )


class ProfileOut(UserOut):
    """The caller's own profile: their own phone and e-mail are not hidden from them."""

    mobile: str
    email: str | None

    @classmethod
    def of(cls, user: UserRecord) -> ProfileOut:
        base = UserOut.of(user).model_dump()
        return cls(**base, mobile=user.mobile, email=user.email)


class StaffUserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mobile: Mobile
    name: PersonName
    role: Role
    email: EmailStr | None = None


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PersonName
    role: Role = Field(description="SHIPPER or OPERATOR; drivers are created by their operator")
    email: EmailStr | None = None
    mobile: Mobile | None = Field(
        default=None, description="Optional; when given it must be the phone that was verified"
    )
