"""Shared steps of the API key tests: create a key over HTTP, call with it, read its row."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from rodistaa.apikeys.tables import api_keys
from rodistaa.core.roles import UserStatus
from rodistaa.users import repo as users_repo
from tests.api.flows import Session
from tests.conftest import Harness

ADMIN_KEYS = "/v1/admin/api-keys"


def key_headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def create_key(
    h: Harness, admin: Session, owner_id: str, scopes: list[str], **extra: Any
) -> dict[str, Any]:
    body = {"name": "Partner TMS", "ownerUserId": owner_id, "scopes": scopes, **extra}
    response = await h.client.post(ADMIN_KEYS, json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def rotate(
    h: Harness, admin: Session, key_id: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await h.client.post(f"{ADMIN_KEYS}/{key_id}/rotate", json=body, headers=admin.headers)


async def revoke(h: Harness, admin: Session, key_id: str) -> httpx.Response:
    return await h.client.post(f"{ADMIN_KEYS}/{key_id}/revoke", headers=admin.headers)


async def get_with_key(h: Harness, key: str, path: str) -> httpx.Response:
    return await h.client.get(path, headers=key_headers(key))


async def key_row(h: Harness, key_id: str) -> dict[str, Any]:
    async with h.app.state.services.db.read() as conn:
        return dict((await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().one())


async def key_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.app.state.services.db.read() as conn:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        return [dict(r) for r in (await conn.execute(query)).mappings()]


def assert_unauthorized(response: httpx.Response) -> None:
    """Every refused key answers exactly this, whatever the reason."""
    assert response.status_code == 401, response.text
    assert response.json() == {"code": "UNAUTHORIZED", "message": "Invalid or missing authentication token"}


async def set_user_status(h: Harness, user_id: str, status: UserStatus) -> None:
    async with h.app.state.services.db.transaction() as conn:
        assert await users_repo.set_status(conn, user_id, status, h.clock.now())
