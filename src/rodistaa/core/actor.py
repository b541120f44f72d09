"""The authenticated caller, as every service sees it."""

from __future__ import annotations

from dataclasses import dataclass

from rodistaa.core.roles import Role


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: Role
    session_id: str
    device_id: str | None = None
