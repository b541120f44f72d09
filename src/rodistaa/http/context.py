"""Per-request context shared by middleware, dependencies and log lines."""

from __future__ import annotations

from contextvars import ContextVar

from fastapi import Request

_request_id: ContextVar[str] = ContextVar("request_id", default="")


def current_request_id() -> str:
    return _request_id.get()


def set_request_id(value: str) -> None:
    _request_id.set(value)


def client_ip(request: Request) -> str | None:
    """The peer address (behind a proxy, what Uvicorn's `--forwarded-allow-ips` resolved)."""
    return request.client.host if request.client else None
