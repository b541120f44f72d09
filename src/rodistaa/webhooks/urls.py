"""Where a partner webhook may point (PRODUCT §10; issue 6 item 5).

Outside development and test (`Settings.env`):

- the scheme must be `https` (the body carries platform events and the signature proves only
  who sent it, not that nobody read it on the way);
- the host must not be a private, loopback, link-local, multicast, reserved or unspecified
  address, nor `localhost`: the worker runs inside the platform's network, and a partner URL
  pointing at `http://169.254.169.254/` or an internal service would make it a request-forgery
  proxy (SSRF). Literal IPs are judged at registration; a host *name* is resolved by the worker
  before every attempt (`check_destination`) and an attempt to a name that resolves to any
  non-public address fails like an unreachable receiver (DNS can change after registration).
  The name is resolved again by the HTTP client when it connects, so a DNS answer that flips
  between the check and the connection (rebinding within seconds) is not covered: the egress
  firewall of the worker is the second line for that.

Everywhere: no user name or password in the URL (it would be stored and shown in clear; the
signature is the authentication), no fragment, at most 2,048 characters (the column's size).
Development and test accept `http` and loopback/private receivers so that a developer, and the
test suite, can run a receiver on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from rodistaa.core.errors import ValidationFailed
from rodistaa.settings import Environment

MAX_URL_LENGTH = 2048
_LOCAL_NAMES = ("localhost", "localhost.localdomain")


class UnsafeDestination(Exception):
    """The destination is not a public address (checked at delivery time)."""


def permissive(env: Environment) -> bool:
    """Development and test accept http and local receivers."""
    return env in (Environment.DEVELOPMENT, Environment.TEST)


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    if mapped is not None:  # ::ffff:10.0.0.1 reaches 10.0.0.1
        address = mapped
    return address.is_global and not address.is_multicast


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_local_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name in _LOCAL_NAMES or name.endswith(".localhost")


def check_registration_url(url: str, env: Environment) -> str:
    """The URL to store, or ValidationFailed naming `url`."""
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed.for_field("url", f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError:
        raise ValidationFailed.for_field("url", "is not a valid URL") from None
    allowed = ("http", "https") if permissive(env) else ("https",)
    if parts.scheme not in allowed:
        raise ValidationFailed.for_field("url", f"scheme must be {' or '.join(allowed)}")
    host = parts.hostname
    if not host:
        raise ValidationFailed.for_field("url", "must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed.for_field("url", "must not contain credentials")
    if parts.fragment:
        raise ValidationFailed.for_field("url", "must not contain a fragment")
    if port == 0:
        raise ValidationFailed.for_field("url", "is not a valid URL")
    if not permissive(env):
        literal = _literal_ip(host)
        if _is_local_name(host) or (literal is not None and not _is_public(literal)):
            raise ValidationFailed.for_field(
                "url", "must not point to a private, loopback or link-local address"
            )
    return url


async def check_destination(url: str, env: Environment) -> None:
    """Raise UnsafeDestination when `url`'s host is, or resolves to, a non-public address
    (outside development and test only)."""
    if permissive(env):
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    if _is_local_name(host):
        raise UnsafeDestination("local host name")
    literal = _literal_ip(host)
    if literal is not None:
        if not _is_public(literal):
            raise UnsafeDestination("non-public address")
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        raise UnsafeDestination("host name does not resolve") from None
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    if not addresses or not all(_is_public(a) for a in addresses):
        raise UnsafeDestination("host name resolves to a non-public address")
