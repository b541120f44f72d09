"""Liveness, readiness and version. Liveness touches nothing; readiness checks the database,
the migration state (at this release's head, or ahead of it during a rollout; behind is not
ready) and reports Redis (when configured) without failing on it: the service runs without
Redis, in degraded rate-limit mode (docs/http-edge.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from rodistaa import __version__
from rodistaa.db.migrate import head_revision, known_revisions
from rodistaa.http.errors import documented_error
from rodistaa.http.responses import JsonResponse
from rodistaa.http.services import Services, get_services

router = APIRouter(tags=["health"])
ServicesDep = Annotated[Services, Depends(get_services)]


class LivenessOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ok", "timestamp": "2024-01-15T10:30:00Z"}]}
    )

    status: str
    timestamp: str


class VersionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"version": "0.1.0", "migrationHead": "0009_api_keys_idempotency"}]}
    )

    version: str
    migrationHead: str


class CheckOut(BaseModel):
    ok: bool
    detail: str


class ReadinessOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "checks": {"database": {"ok": True, "detail": "ok"}}}]
        }
    )

    status: str
    checks: dict[str, CheckOut]


def _liveness() -> LivenessOut:
    return LivenessOut(status="ok", timestamp=datetime.now(UTC).isoformat().replace("+00:00", "Z"))


@router.get("/health", response_model=LivenessOut)
async def health() -> LivenessOut:
    return _liveness()


@router.get("/v1/health", response_model=LivenessOut)
async def health_v1() -> LivenessOut:
    return _liveness()


@router.get("/version", response_model=VersionOut)
async def version() -> VersionOut:
    return VersionOut(version=__version__, migrationHead=head_revision())


async def _check_database(services: Services) -> tuple[bool, str]:
    try:
        async with services.db.read() as conn:
            await conn.execute(text("SELECT 1"))
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except Exception as exc:
        return False, f"database unreachable ({type(exc).__name__})"
    head = head_revision()
    if current == head:
        return True, "ok"
    if current not in known_revisions():
        # A rollout migrates first and then replaces the pods: until then this older code serves
        # a newer schema, which every migration keeps compatible for one release.
        return True, f"database is ahead of this release (current {current}, head {head})"
    return False, f"migrations not at head (current {current}, head {head})"


async def _check_redis(services: Services) -> tuple[bool, str]:
    try:
        return (True, "ok") if await services.limiter.ping() else (False, "redis unreachable")
    except Exception as exc:
        return False, f"redis unreachable ({type(exc).__name__})"


@router.get(
    "/ready",
    response_model=ReadinessOut,
    responses=documented_error(503, "NOT_READY: a check failed; details.checks says which"),
)
async def ready(services: ServicesDep) -> JsonResponse:
    checks: dict[str, dict[str, Any]] = {}
    ok, detail = await _check_database(services)
    checks["database"] = {"ok": ok, "detail": detail}
    if services.settings.redis_url:
        ok, detail = await _check_redis(services)
        # Reported, never blocking: without Redis the rate limits count per instance (degraded,
        # not open) and nothing durable lives there, so pulling every Pod out of the Service
        # would turn a Redis outage into a full outage.
        checks["redis"] = {"ok": ok, "detail": detail if ok else f"{detail}; rate limits per instance"}
    ready_now = checks["database"]["ok"]
    body = {"status": "ready" if ready_now else "unavailable", "checks": checks}
    if not ready_now:
        failed = ", ".join(name for name, check in checks.items() if not check["ok"])
        body = {"code": "NOT_READY", "message": f"not ready: {failed}", "details": {"checks": checks}}
    return JsonResponse(body, status_code=200 if ready_now else 503)
