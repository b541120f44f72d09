"""Liveness, readiness and version. Liveness touches nothing; readiness checks the database,
the migration head and Redis (when configured) and says which check failed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import text

from rodistaa import __version__
from rodistaa.db.migrate import head_revision
from rodistaa.http.responses import JsonResponse
from rodistaa.http.services import Services, get_services

router = APIRouter(tags=["health"])
ServicesDep = Annotated[Services, Depends(get_services)]


def _liveness() -> dict[str, str]:
    return {"status": "ok", "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}


@router.get("/health")
async def health() -> dict[str, str]:
    return _liveness()


@router.get("/v1/health", tags=["health"])
async def health_v1() -> dict[str, str]:
    return _liveness()


@router.get("/version")
async def version() -> dict[str, str]:
    return {"version": __version__, "migrationHead": head_revision()}


async def _check_database(services: Services) -> tuple[bool, str]:
    try:
        async with services.db.read() as conn:
            await conn.execute(text("SELECT 1"))
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except Exception as exc:
        return False, f"database unreachable ({type(exc).__name__})"
    head = head_revision()
    if current != head:
        return False, f"migrations not at head (current {current}, head {head})"
    return True, "ok"


async def _check_redis(services: Services) -> tuple[bool, str]:
    try:
        return (True, "ok") if await services.limiter.ping() else (False, "redis unreachable")
    except Exception as exc:
        return False, f"redis unreachable ({type(exc).__name__})"


@router.get("/ready")
async def ready(services: ServicesDep) -> JsonResponse:
    checks: dict[str, dict[str, Any]] = {}
    ok, detail = await _check_database(services)
    checks["database"] = {"ok": ok, "detail": detail}
    if services.settings.redis_url:
        ok, detail = await _check_redis(services)
        checks["redis"] = {"ok": ok, "detail": detail}
    ready_now = all(check["ok"] for check in checks.values())
    body = {"status": "ready" if ready_now else "unavailable", "checks": checks}
    if not ready_now:
        failed = ", ".join(name for name, check in checks.items() if not check["ok"])
        body = {"code": "NOT_READY", "message": f"not ready: {failed}", "details": {"checks": checks}}
    return JsonResponse(body, status_code=200 if ready_now else 503)
