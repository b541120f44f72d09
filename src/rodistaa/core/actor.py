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
    # Set when the caller is a partner API key acting as its owner: the key's id and the scopes
    # it was granted. A signed-in session has every permission of its role (`scopes` is None).
    api_key_id: str | None = None
    scopes: frozenset[str] | None = None
