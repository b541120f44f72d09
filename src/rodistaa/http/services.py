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


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
