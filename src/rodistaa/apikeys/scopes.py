"""What a partner API key may be granted, and which owners may hold each grant.

A key acts as its owner user, so a scope only narrows what the owner's role already allows; the
routes' ownership rules apply unchanged. `webhooks:manage` reaches every subscription (the
webhook routes are ADMIN-only), so only an ADMIN-owned key may hold it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from rodistaa.core.roles import Role


class Scope(StrEnum):
    TRACKING_READ = "tracking:read"
    BOOKINGS_READ = "bookings:read"
    WEBHOOKS_MANAGE = "webhooks:manage"


# Roles a key may act as: the ones with partner integrations (shippers' and operators' own
# systems, HQ's). Drivers, franchise and KYC staff act through the apps only.
OWNER_ROLES = frozenset({Role.SHIPPER, Role.OPERATOR, Role.ADMIN})

SCOPE_OWNER_ROLES: Mapping[Scope, frozenset[Role]] = MappingProxyType(
    {
        Scope.TRACKING_READ: OWNER_ROLES,
        Scope.BOOKINGS_READ: OWNER_ROLES,
        Scope.WEBHOOKS_MANAGE: frozenset({Role.ADMIN}),
    }
)
