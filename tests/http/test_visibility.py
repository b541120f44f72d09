"""The ownership rule every domain uses: owners and staff see a resource, others get 404."""

from __future__ import annotations

import pytest

from rodistaa.core.actor import Actor
from rodistaa.core.errors import NotFound
from rodistaa.core.roles import Role
from rodistaa.http.auth import ensure_visible

OWNER = Actor("USR-OP-1", Role.OPERATOR, "SES-1")
OTHER = Actor("USR-OP-2", Role.OPERATOR, "SES-2")
ADMIN = Actor("USR-AD-1", Role.ADMIN, "SES-3")
KYC_ADMIN = Actor("USR-KA-1", Role.KYC_ADMIN, "SES-4")


def test_owner_and_admin_see_it() -> None:
    ensure_visible(OWNER, "USR-OP-1")
    ensure_visible(ADMIN, "USR-OP-1")


@pytest.mark.parametrize("actor", [OTHER, KYC_ADMIN])
def test_everyone_else_gets_not_found(actor: Actor) -> None:
    with pytest.raises(NotFound):
        ensure_visible(actor, "USR-OP-1")


def test_staff_roles_are_configurable() -> None:
    ensure_visible(KYC_ADMIN, "USR-OP-1", staff=frozenset({Role.KYC_ADMIN}))
    with pytest.raises(NotFound):
        ensure_visible(ADMIN, "USR-OP-1", staff=frozenset({Role.KYC_ADMIN}))


def test_an_ownerless_resource_is_staff_only() -> None:
    with pytest.raises(NotFound):
        ensure_visible(OWNER, None)
