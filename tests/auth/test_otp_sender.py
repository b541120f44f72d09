"""The SMS provider boundary: what the HTTP sender posts, and a provider failure as a 503."""

from __future__ import annotations

import json

import httpx

from rodistaa.auth.otp_sender import HttpOtpSender
from tests.conftest import make_settings, running_app


def provider(status: int, seen: list[httpx.Request]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={"ok": status < 400})

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def test_posts_the_code_with_the_bearer_token() -> None:
    seen: list[httpx.Request] = []
    sender = HttpOtpSender("https://sms.example/send", "provider-token", 5, client=provider(200, seen))
    await sender.send("+919876543210", "123456", 300)
    assert len(seen) == 1
    assert seen[0].headers["authorization"] == "Bearer provider-token"
    body = json.loads(seen[0].content)
    assert body["to"] == "+919876543210" and "123456" in body["message"]


async def test_provider_failure_is_503_and_nothing_leaks(clean_database: str) -> None:
    seen: list[httpx.Request] = []
    sender = HttpOtpSender("https://sms.example/send", None, 5, client=provider(502, seen))
    async with running_app(make_settings(clean_database), otp_sender=sender) as h:
        response = await h.client.post("/v1/auth/otp", json={"mobile": "+919876543210"})
    assert response.status_code == 503
    assert response.json() == {
        "code": "OTP_DELIVERY_FAILED",
        "message": "The code could not be sent; try again shortly",
    }
    assert len(seen) == 1
