"""The service container built once per application and handed to routers."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from rodistaa.acs.service import AcsService
from rodistaa.auth.service import AuthService
from rodistaa.core.clock import Clock
from rodistaa.db.engine import Database
from rodistaa.http.ratelimit import RateLimiter
from rodistaa.security.envelope import DataKeys
from rodistaa.security.kms import KmsProvider
from rodistaa.settings import Settings
from rodistaa.storage.base import FileStorage
from rodistaa.users.service import UserService


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    limiter: RateLimiter
    auth: AuthService
    users: UserService
    acs: AcsService
    kms: KmsProvider
    storage: FileStorage
    data_keys: DataKeys

    async def aclose(self) -> None:
        """Release the connections the services hold: the database pool and the rate limiter's
        Redis pool (left open, the latter warned at exit and kept sockets until then)."""
        await self.db.dispose()
        await self.limiter.aclose()


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """The dependency. Every dependency on a request's path is `async def`: FastAPI runs a plain
    `def` dependency in the thread pool, a thread hop per dependency per request (measured in
    docs/performance.md), and these only read attributes."""
    return services_of(request)
