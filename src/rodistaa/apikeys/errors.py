"""Typed errors of partner API keys. None of them carries a key, a prefix or a hash: a refused
key is always the plain 401 UNAUTHORIZED, so the response tells nothing about why."""

from __future__ import annotations

from rodistaa.apikeys.scopes import Scope
from rodistaa.core.errors import Forbidden, InvalidState, NotFound


class ApiKeyNotFound(NotFound):
    message = "API key not found"


class InsufficientScope(Forbidden):
    code, message = "INSUFFICIENT_SCOPE", "The API key does not grant access to this route"

    def __init__(self, required: Scope) -> None:
        super().__init__(details={"requiredScope": required.value})


class ApiKeyNotRotatable(InvalidState):
    message = "Only a key that is not revoked, expired or already rotated can be rotated"
