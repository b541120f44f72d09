"""API models of partner API keys. The key itself appears only in `ApiKeyCreated` (the 201 of
create and rotate); the stored hash never appears anywhere."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from rodistaa.apikeys.keys import public_prefix
from rodistaa.apikeys.repo import ApiKeyRecord
from rodistaa.apikeys.scopes import Scope

MAX_ROTATION_OVERLAP_MINUTES = 7 * 24 * 60

KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: KeyName = Field(description="What the key is for, e.g. the partner system's name")
    ownerUserId: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The user the key acts as: an active SHIPPER, OPERATOR or ADMIN"
    )
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]
    expiresAt: AwareDatetime | None = Field(
        default=None,
        description="In the future and at most API_KEY_MAX_TTL_DAYS ahead; absent means that maximum",
    )


class ApiKeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlapMinutes: Annotated[int, Field(ge=0, le=MAX_ROTATION_OVERLAP_MINUTES)] | None = Field(
        default=None,
        description="How long the old key keeps working (default API_KEY_ROTATION_OVERLAP_MINUTES)",
    )


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="`rk_<prefix>`: the public start of the key")
    scopes: list[str]
    ownerUserId: str
    createdAt: datetime
    expiresAt: datetime | None
    lastUsedAt: datetime | None
    revokedAt: datetime | None
    rotatedTo: str | None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> ApiKeyOut:
        return cls.model_validate(_key_fields(record))


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The whole key, for the X-API-Key header. Shown once: store it now.")

    @classmethod
    def with_key(cls, record: ApiKeyRecord, key: str) -> ApiKeyCreated:
        return cls.model_validate({**_key_fields(record), "key": key})


def _key_fields(record: ApiKeyRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "name": record.name,
        "prefix": public_prefix(record.prefix),
        "scopes": list(record.scopes),
        "ownerUserId": record.owner_user_id,
        "createdAt": record.created_at,
        "expiresAt": record.expires_at,
        "lastUsedAt": record.last_used_at,
        "revokedAt": record.revoked_at,
        "rotatedTo": record.rotated_to,
    }
