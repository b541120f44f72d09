"""The log stream of a whole login never carries a phone number, a code or a token."""

from __future__ import annotations

import io
import json

from rodistaa.auth.otp_sender import ConsoleOtpSender
from rodistaa.ops.logging import configure_logging
from tests.conftest import make_settings, running_app

MOBILE = "+919876543210"


async def test_full_login_log_stream_has_no_secrets(clean_database: str) -> None:
    settings = make_settings(clean_database, otp_dev_echo=True, log_level="DEBUG")
    stream = io.StringIO()
    secrets: list[str] = [MOBILE, MOBILE[3:]]
    try:
        async with running_app(settings, otp_sender=ConsoleOtpSender()) as h:
            configure_logging("DEBUG", json=True, stream=stream)
            device = {"X-Device-Id": "device-0001"}
            code = (await h.client.post("/v1/auth/otp", json={"mobile": "98765 43210"})).json()["devOtp"]
            wrong = f"{(int(code) + 1) % 1_000_000:06d}"
            await h.client.post("/v1/auth/login", json={"mobile": MOBILE, "otp": wrong})
            login = await h.client.post(
                "/v1/auth/login", json={"mobile": MOBILE, "otp": code, "deviceId": "device-0001"}
            )
            signup_token = login.json()["token"]
            registered = await h.client.post(
                "/v1/users/register",
                json={"name": "Asha", "role": "SHIPPER", "email": "asha@example.in"},
                headers={"Authorization": f"Bearer {signup_token}", **device},
            )
            body = registered.json()
            auth = {"Authorization": f"Bearer {body['token']}", **device}
            assert (await h.client.get("/v1/users/me", headers=auth)).status_code == 200
            refreshed = await h.client.post(
                "/v1/auth/refresh", json={"refreshToken": body["refreshToken"]}, headers=device
            )
            await h.client.post(
                "/v1/auth/logout", headers={"Authorization": f"Bearer {refreshed.json()['token']}", **device}
            )
            secrets += [
                code,
                wrong,
                signup_token,
                body["token"],
                body["refreshToken"],
                refreshed.json()["token"],
                refreshed.json()["refreshToken"],
                "asha@example.in",
            ]
    finally:
        configure_logging("INFO")

    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    events = [line["event"] for line in lines]
    # The stream is not empty: the sender and every request left a line.
    assert "otp_sent" in events
    assert sum(1 for line in lines if line["event"] == "request") >= 7
    assert any(line.get("route") == "/v1/auth/login" for line in lines)
    for secret in secrets:
        assert secret not in text, "a secret value reached the log stream"
