"""Application factory: settings in, a FastAPI app out. Pools and keys are set up in the
lifespan, never at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from rodistaa import __version__
from rodistaa.acs.metrics import refresh_audit_gauges
from rodistaa.acs.service import AcsService
from rodistaa.acsapi.audit_router import router as audit_router
from rodistaa.acsapi.router import router as acs_router
from rodistaa.acsapi.tasks import checkpoint_forever, sync_revision_forever, watch_bundle_forever
from rodistaa.apikeys.router import router as api_keys_router
from rodistaa.auth import repo as auth_repo
from rodistaa.auth.otp_sender import OtpSender, build_otp_sender
from rodistaa.auth.router import router as auth_router
from rodistaa.auth.service import AuthService
from rodistaa.bids.router import router as bids_router
from rodistaa.bookings.router import router as bookings_router
from rodistaa.core.clock import Clock, SystemClock
from rodistaa.dashboard.router import router as admin_dashboard_router
from rodistaa.db.engine import Database, create_engine
from rodistaa.delivery.router import router as delivery_router
from rodistaa.drivers.router import router as drivers_router
from rodistaa.finalization.router import router as finalization_router
from rodistaa.fleet.router import router as fleet_router
from rodistaa.franchises.ops_router import router as franchise_ops_router
from rodistaa.franchises.router import router as franchises_router
from rodistaa.gdpr.router import router as gdpr_router
from rodistaa.governance.router import router as governance_router
from rodistaa.http.docs import docs_router
from rodistaa.http.edge import BodySizeLimitMiddleware, HttpsRedirectMiddleware
from rodistaa.http.errors import install_error_handlers
from rodistaa.http.middleware import RequestContextMiddleware
from rodistaa.http.openapi import install_openapi
from rodistaa.http.ratelimit import RateLimiter, RateLimitHeadersMiddleware
from rodistaa.http.security_headers import SecurityHeadersMiddleware
from rodistaa.http.services import Services
from rodistaa.idempotency.middleware import IdempotencyMiddleware
from rodistaa.inspections.router import router as inspections_router
from rodistaa.jobs.worker import run_worker_forever
from rodistaa.kyc.router import router as kyc_router
from rodistaa.ledger.router import router as ledger_router
from rodistaa.notifications.router import router as notifications_router
from rodistaa.ops.health import router as health_router
from rodistaa.ops.logging import configure_logging
from rodistaa.ops.metrics import metrics_router
from rodistaa.ops.telemetry import init_sentry, start_tracing
from rodistaa.overrides.router import router as overrides_router
from rodistaa.security.envelope import DataKeys
from rodistaa.security.kms import build_kms
from rodistaa.security.tokens import KeyRing, TokenService
from rodistaa.settings import Settings, load_settings
from rodistaa.shipments.router import router as shipments_router
from rodistaa.storage.factory import build_storage
from rodistaa.tracking.router import router as tracking_router
from rodistaa.users.router import router as users_router
from rodistaa.users.service import UserService
from rodistaa.webhooks.router import router as webhooks_router

# Served with the docs pages only (Settings.docs_served).
OPENAPI_URL = "/v1/openapi.json"
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-Request-ID",
    "X-Device-Id",
    "X-API-Key",
    "Idempotency-Key",
]
# Headers a browser client may read from a cross-origin response.
CORS_EXPOSED_HEADERS = [
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "Retry-After",
    "Idempotent-Replayed",
]


def rate_limit_policies(settings: Settings) -> dict[str, str]:
    return {
        "otp_request_phone": settings.rate_limit_auth_per_phone,
        "otp_request_ip": settings.rate_limit_auth_per_ip,
        "login_phone": settings.rate_limit_auth_per_phone,
        "login_ip": settings.rate_limit_auth_per_ip,
        "booking_create": settings.rate_limit_booking_create_per_user,
        "gps_ping": settings.rate_limit_gps_per_shipment,
        "default": settings.rate_limit_default_per_user,
    }


async def build_services(
    settings: Settings, *, clock: Clock, otp_sender: OtpSender | None = None
) -> Services:
    db = Database(
        create_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
        )
    )
    key_ring = await load_key_ring(db, settings, clock)
    tokens = TokenService(key_ring, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    limiter = RateLimiter(
        rate_limit_policies(settings),
        redis_url=settings.redis_url,
        key_prefix=f"{settings.redis_key_prefix}-rl",
    )
    auth = AuthService(
        db=db,
        settings=settings,
        clock=clock,
        tokens=tokens,
        limiter=limiter,
        sender=otp_sender or build_otp_sender(settings),
        hmac_key=settings.hmac_key.encode(),
    )
    users = UserService(db=db, clock=clock)
    acs = AcsService(db=db, clock=clock)
    await acs.start(settings.acs_bundle_path)
    kms = build_kms(settings)
    return Services(
        storage=build_storage(settings),
        data_keys=DataKeys(kms),
        settings=settings,
        clock=clock,
        db=db,
        limiter=limiter,
        auth=auth,
        users=users,
        acs=acs,
        kms=kms,
    )


async def load_key_ring(db: Database, settings: Settings, clock: Clock) -> KeyRing:
    """Previous keys verify until the active key's first activation plus the grace period;
    the activation time lives in the database so every instance agrees on it."""
    async with db.transaction() as conn:
        activated_at = await auth_repo.key_activated_at(conn, kid=settings.jwt_active_kid, now=clock.now())
    return KeyRing(
        keys=settings.jwt_key_ring,
        active_kid=settings.jwt_active_kid,
        previous_keys_valid_until=activated_at + settings.rotation_grace,
    )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    otp_sender: OtpSender | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    clock = clock or SystemClock()
    configure_logging(settings.log_level, json=settings.log_json)
    init_sentry(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings, clock=clock, otp_sender=otp_sender)
        app.state.services = services
        if app.state.tracing is not None:
            app.state.tracing.instrument_engine(services.db.engine)
        tasks = [
            asyncio.create_task(sync_revision_forever(services.acs, settings.acs_sync_interval_s)),
            asyncio.create_task(checkpoint_forever(services)),
        ]
        worker_stop = asyncio.Event()
        worker = (
            asyncio.create_task(run_worker_forever(services, worker_stop))
            if settings.worker_in_process
            else None
        )
        if settings.acs_watch_bundle:
            watch = watch_bundle_forever(
                services.acs, Path(settings.acs_bundle_path), settings.acs_sync_interval_s
            )
            tasks.append(asyncio.create_task(watch))
        try:
            yield
        finally:
            if worker is not None:
                worker_stop.set()  # let running jobs finish: a run cut short is only repeated later
                await asyncio.wait([worker], timeout=10)
                tasks.append(worker)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await services.aclose()
            if app.state.tracing is not None:
                app.state.tracing.shutdown()

    app = FastAPI(
        title="Rodistaa Core API",
        version=__version__,
        lifespan=lifespan,
        openapi_url=OPENAPI_URL if settings.docs_served else None,
        # FastAPI's own pages load their scripts from a CDN; http/docs.py serves bundled ones.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_openapi(app)
    api = APIRouter(prefix="/v1")
    api.include_router(auth_router)
    api.include_router(users_router)
    api.include_router(acs_router)
    api.include_router(audit_router)
    api.include_router(notifications_router)
    api.include_router(governance_router)
    api.include_router(overrides_router)
    api.include_router(webhooks_router)
    api.include_router(api_keys_router)
    api.include_router(admin_dashboard_router)
    api.include_router(franchise_ops_router)
    api.include_router(gdpr_router)
    for domain_router in (franchises_router, fleet_router, inspections_router, drivers_router, kyc_router):
        api.include_router(domain_router)
    freight = (
        bookings_router,
        ledger_router,
        bids_router,
        finalization_router,
        shipments_router,
        tracking_router,
        delivery_router,
    )
    for freight_router in freight:
        api.include_router(freight_router)
    app.include_router(api)
    app.include_router(health_router)
    if settings.metrics_enabled:
        app.include_router(metrics_router(token=settings.metrics_token, before_scrape=refresh_audit_gauges))
    if settings.docs_served:
        app.include_router(docs_router(title=app.title, openapi_url=OPENAPI_URL))
    add_middleware_stack(app, settings)
    app.state.tracing = start_tracing(app, settings)
    return app


def add_middleware_stack(app: FastAPI, settings: Settings) -> None:
    """Each `add_middleware` wraps the ones added before it, so this list runs from the innermost
    (next to the routes) to the outermost (first to see a request)."""
    # Innermost: replays get the request id, CORS and security headers added outside it, and the
    # body it buffers for the fingerprint has already passed the size limit.
    app.add_middleware(IdempotencyMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials="*" not in settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
        )
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        json_bytes=settings.max_json_body_bytes,
        upload_bytes=settings.max_upload_body_bytes,
    )
    if settings.force_https:
        app.add_middleware(HttpsRedirectMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, docs_enabled=settings.docs_served)
    if settings.trusted_proxies:
        # Client address and scheme from X-Forwarded-For/-Proto, only when the peer is a proxy.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    # Outermost, so every response (errors and CORS refusals included) carries the request id.
    app.add_middleware(RequestContextMiddleware)
