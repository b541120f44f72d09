"""Delivery of login codes. The console sender is for development: it logs the event through
the masked log stream (the code itself is redacted; developers read it from the dev echo). The
HTTP sender posts to an SMS provider."""

from __future__ import annotations

from typing import Protocol

import httpx
import structlog

from rodistaa.core.errors import ServiceUnavailable
from rodistaa.core.phone import mask_phone
from rodistaa.settings import OtpSenderKind, Settings

log = structlog.get_logger("rodistaa.otp")


class OtpDeliveryFailed(ServiceUnavailable):
    code, message = "OTP_DELIVERY_FAILED", "The code could not be sent; try again shortly"


class OtpSender(Protocol):
    async def send(self, mobile: str, code: str, ttl_s: int) -> None: ...


class ConsoleOtpSender:
    async def send(self, mobile: str, code: str, ttl_s: int) -> None:
        log.info("otp_sent", to=mask_phone(mobile), otp=code, ttl_s=ttl_s, channel="console")


class HttpOtpSender:
    """POSTs `{to, message}` with a bearer token; any failure is a 503 to the caller."""

    def __init__(
        self, url: str, token: str | None, timeout_s: float, client: httpx.AsyncClient | None = None
    ) -> None:
        self._url = url
        self._token = token
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def send(self, mobile: str, code: str, ttl_s: int) -> None:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        message = f"Your Rodistaa code is {code}. It expires in {ttl_s // 60} minutes."
        try:
            response = await self._client.post(
                self._url, json={"to": mobile, "message": message}, headers=headers
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("otp_delivery_failed", to=mask_phone(mobile), error=type(exc).__name__)
            raise OtpDeliveryFailed() from exc
        log.info("otp_sent", to=mask_phone(mobile), channel="http")

    async def aclose(self) -> None:
        await self._client.aclose()


def build_otp_sender(settings: Settings) -> OtpSender:
    if settings.otp_sender is OtpSenderKind.HTTP:
        if not settings.otp_http_url:
            raise ValueError("OTP_HTTP_URL is required when OTP_SENDER=http")
        return HttpOtpSender(settings.otp_http_url, settings.otp_http_token, settings.otp_http_timeout_s)
    return ConsoleOtpSender()
