"""The vehicle registry (Vahan): which chassis number a registration belongs to.

ACS rule RF11 compares the chassis number read from an uploaded RC with the registry's; a
mismatch blocks the truck. The boundary is `RegistryLookup`. Two implementations live here:

* `LocalRegistry`, deterministic and offline, for development and tests: a small fixture map
  (registrations the registry does not know, and fixed answers) and, for everything else, a
  chassis number derived from the registration (`derived_chassis`), so a test can present the
  "right" chassis number without a network.
* `UnavailableRegistry`, which knows nothing: production uses it until the HTTP adapter to the
  government registry exists. Answering "unknown" (None) is the safe failure: RF11 only blocks a
  truck on a real mismatch, never because the registry had no answer; the fake derived numbers
  must never be compared with real RCs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from rodistaa.settings import Environment, Settings


class RegistryLookup(Protocol):
    async def chassis_for(self, registration: str) -> str | None:
        """The registry's chassis number for a normalised registration, or None if unknown."""
        ...


# Development fixtures: registrations the local registry does not know (None) or answers fixed.
LOCAL_FIXTURES: Mapping[str, str | None] = MappingProxyType(
    {
        "KA01ZZ0000": None,
        "MH12AB1234": "MA3EWDE1S00123456",
    }
)


def derived_chassis(registration: str) -> str:
    """A stable 17-character, VIN-shaped chassis number for a registration (development only)."""
    digest = hashlib.sha256(f"rodistaa-local-vahan:{registration}".encode()).hexdigest().upper()
    return "LV" + digest[:15]


class LocalRegistry:
    def __init__(self, fixtures: Mapping[str, str | None] = LOCAL_FIXTURES) -> None:
        self._fixtures = fixtures

    async def chassis_for(self, registration: str) -> str | None:
        if registration in self._fixtures:
            return self._fixtures[registration]
        return derived_chassis(registration)


class UnavailableRegistry:
    async def chassis_for(self, registration: str) -> str | None:
        return None


def build_registry(settings: Settings) -> RegistryLookup:
    if settings.env is Environment.PRODUCTION:
        return UnavailableRegistry()
    return LocalRegistry()
