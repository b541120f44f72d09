"""Small HTTP flows shared by API tests. Every step asserts its own status so a failure points
at the step that broke."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rodistaa.core.roles import Role
from tests.conftest import Harness


@dataclass(frozen=True)
class Session:
    user_id: str
    token: str
    refresh_token: str
    device_id: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.device_id:
            headers["X-Device-Id"] = self.device_id
        return headers


async def request_code(h: Harness, mobile: str) -> str:
    response = await h.client.post("/v1/auth/otp", json={"mobile": mobile})
    assert response.status_code == 200, response.text
    return h.sms.last_code(mobile)


async def login(h: Harness, mobile: str, *, device_id: str | None = None) -> dict[str, Any]:
    code = await request_code(h, mobile)
    body: dict[str, Any] = {"mobile": mobile, "otp": code}
    if device_id:
        body["deviceId"] = device_id
    response = await h.client.post("/v1/auth/login", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def sign_up(
    h: Harness,
    mobile: str,
    *,
    role: Role = Role.SHIPPER,
    name: str = "Asha Transport",
    device_id: str | None = None,
) -> Session:
    first = await login(h, mobile, device_id=device_id)
    assert first["registrationRequired"] is True
    response = await h.client.post(
        "/v1/users/register",
        json={"name": name, "role": role.value},
        headers={"Authorization": f"Bearer {first['token']}"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Session(body["id"], body["token"], body["refreshToken"], device_id)


async def create_user_directly(h: Harness, mobile: str, role: Role, name: str = "Staff Member") -> str:
    """The first admin comes from the CLI; tests use the same service call."""
    user = await h.app.state.services.users.create_user(
        mobile=mobile, name=name, role=role, email=None, created_by="test"
    )
    return user.id


async def sign_in(h: Harness, mobile: str, *, device_id: str | None = None) -> Session:
    body = await login(h, mobile, device_id=device_id)
    assert body["registrationRequired"] is False
    return Session(body["user"]["id"], body["token"], body["refreshToken"], device_id)


async def admin_session(h: Harness, mobile: str = "+919000000001") -> Session:
    await create_user_directly(h, mobile, Role.ADMIN, "Head Office Admin")
    return await sign_in(h, mobile)


async def refreshed(h: Harness, session: Session) -> Session:
    """The same session with a fresh access token (after the test clock jumped ahead)."""
    headers = {"X-Device-Id": session.device_id} if session.device_id else {}
    response = await h.client.post(
        "/v1/auth/refresh", json={"refreshToken": session.refresh_token}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Session(session.user_id, body["token"], body["refreshToken"], session.device_id)
