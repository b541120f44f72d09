"""Where webhooks may point: https and public addresses only outside development and test,
judged at registration for literal IPs and at delivery time for host names."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from rodistaa.core.errors import ValidationFailed
from rodistaa.settings import Environment
from rodistaa.webhooks.urls import UnsafeDestination, check_destination, check_registration_url

PROD = Environment.PRODUCTION


@pytest.mark.parametrize(
    "url",
    [
        "http://partner.example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.9/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://224.0.0.1/hook",
        "https://localhost/hook",
        "https://api.localhost/hook",
    ],
)
def test_production_refuses_plain_http_and_non_public_addresses(url: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_registration_url(url, PROD)
    assert raised.value.details is not None and raised.value.details["field"] == "url"


@pytest.mark.parametrize("url", ["https://partner.example.com/hook", "https://8.8.8.8:8443/x?y=1"])
def test_production_accepts_https_to_public_hosts(url: str) -> None:
    assert check_registration_url(url, PROD) == url


@pytest.mark.parametrize("env", [Environment.DEVELOPMENT, Environment.TEST])
def test_development_and_test_accept_local_receivers(env: Environment) -> None:
    assert check_registration_url("http://127.0.0.1:9000/hook", env) == "http://127.0.0.1:9000/hook"
    assert check_registration_url("http://localhost/hook", env) == "http://localhost/hook"


def _resolver(monkeypatch: pytest.MonkeyPatch, addresses: list[str]) -> None:
    """The DNS answer (the true external) for the host name being checked."""

    async def getaddrinfo(self: Any, host: str, port: int, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr("asyncio.base_events.BaseEventLoop.getaddrinfo", getaddrinfo)


async def test_delivery_refuses_a_name_resolving_to_a_private_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _resolver(monkeypatch, ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(UnsafeDestination):
        await check_destination("https://partner.example.com/hook", PROD)


async def test_delivery_accepts_a_name_resolving_to_public_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolver(monkeypatch, ["93.184.216.34"])
    await check_destination("https://partner.example.com/hook", PROD)


async def test_delivery_refuses_literal_loopback_and_localhost_in_production() -> None:
    for url in ("https://127.0.0.1/hook", "https://localhost/hook"):
        with pytest.raises(UnsafeDestination):
            await check_destination(url, PROD)


async def test_delivery_checks_nothing_in_test() -> None:
    await check_destination("http://127.0.0.1:1/hook", Environment.TEST)
