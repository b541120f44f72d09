"""User roles as the API spells them, and the lower-case form the ACS rule bundles expect."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    SHIPPER = "SHIPPER"
    OPERATOR = "OPERATOR"
    DRIVER = "DRIVER"
    ADMIN = "ADMIN"
    FRANCHISE_UNIT = "FRANCHISE_UNIT"
    FRANCHISE_DISTRICT = "FRANCHISE_DISTRICT"
    KYC_ADMIN = "KYC_ADMIN"

    @property
    def acs_name(self) -> str:
        return self.value.lower()


SELF_REGISTRATION_ROLES = frozenset({Role.SHIPPER, Role.OPERATOR})


class UserStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    BLOCKED = "BLOCKED"
    SUSPENDED = "SUSPENDED"
