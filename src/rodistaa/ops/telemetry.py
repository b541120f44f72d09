"""Optional error reporting (Sentry) and tracing (OpenTelemetry), both off by default and both
optional installs (`pip install 'rodistaa[sentry]'`, `'rodistaa[otel]'`). Switched on but not
installed, they log a warning and the service runs without them: telemetry must never be the
reason an instance does not start. docs/observability.md has the switches.

Sentry (`SENTRY_DSN`): no personal data collected (`DATA_COLLECTION`, the SDK's successor of
`send_default_pii=False`: no user, cookies, headers, query strings, bodies or local variables),
and every event passes `scrub_event` before it leaves: request bodies and cookies dropped,
credential headers redacted, user reduced to its id, and exception texts, log messages,
breadcrumbs and extras masked with the logging pipeline's masking (`security.pii`), so a phone
number, OTP or token in an error message is masked exactly as it would be in a log line. Trace
and event ids are left alone (they are random hex; masking their digit runs would break the
links between events).

OpenTelemetry (`OTEL_ENABLED`): FastAPI server spans and SQLAlchemy statement spans (statement
text with placeholders; parameters are never recorded), exported by OTLP over HTTP to the
endpoint of the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, ...). The
tracer provider belongs to the app (`app.state.tracing`), not the process-global one, so an app
instruments only itself; probes and `/metrics` are not traced.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import structlog

from rodistaa import __version__
from rodistaa.security.pii import REDACTED, is_sensitive_key, mask_text, mask_value

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sentry_sdk._types import DataCollectionUserOptions
    from sqlalchemy.ext.asyncio import AsyncEngine

    from rodistaa.settings import Settings

log = structlog.get_logger("rodistaa.telemetry")

SERVICE_NAME = "rodistaa-api"
UNTRACED_URLS = "/health,/ready,/v1/health,/metrics"
# Headers that carry credentials whatever their value looks like.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"})
# Event parts that may hold free text from requests, exceptions or logs.
_FREE_TEXT_PARTS = ("exception", "threads", "logentry", "message", "breadcrumbs", "extra")

# --- Sentry ----------------------------------------------------------------------------------------


# sentry-sdk 2.75 replaced `send_default_pii` with this structured form (and deprecates the
# flag). Every category that can carry personal data is off; headers and URL query strings are
# not collected by the SDK at all. The scrubber below still runs on whatever an integration adds.
DATA_COLLECTION: DataCollectionUserOptions = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "http_headers": {"request": {"mode": "off"}},
    "http_bodies": [],
    "url_query_params": {"mode": "off"},
    "graphql": {"document": False, "variables": False},
    "gen_ai": {"inputs": False, "outputs": False},
    "database_query_data": False,
    "queues": False,
    "stack_frame_variables": False,
}
# The crash handler's error line (`unhandled_error`) repeats a crash the FastAPI integration
# already reports with its stack trace; the logger is not turned into events a second time.
_REPORTED_ELSEWHERE = "rodistaa.http"


def init_sentry(settings: Settings, **client_options: Any) -> bool:
    """Start the Sentry client when `SENTRY_DSN` is set; True if it was started.
    `client_options` are passed to `sentry_sdk.init` (tests give a transport)."""
    if not settings.sentry_dsn:
        return False
    try:
        import sentry_sdk
        from sentry_sdk.integrations.logging import ignore_logger
    except ImportError:
        log.warning("sentry_unavailable", hint="SENTRY_DSN is set but sentry-sdk is not installed")
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment or settings.env.value,
        release=f"rodistaa@{__version__}",
        data_collection=DATA_COLLECTION,
        max_request_body_size="never",
        before_send=_before_send,
        before_send_transaction=_before_send,
        **client_options,
    )
    ignore_logger(_REPORTED_ELSEWHERE)
    log.info("sentry_enabled")
    return True


def _before_send(event: Any, _hint: Any) -> Any:
    return scrub_event(event)


def scrub_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event without request bodies, cookies, credentials or personal data in its free
    text (Sentry's `before_send`). Never drops an event: the error must still be reported."""
    request = event.get("request")
    if isinstance(request, dict):
        event["request"] = _scrub_request(request)
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": str(user["id"])} if user.get("id") else {}
    for part in _FREE_TEXT_PARTS:
        if part in event:
            event[part] = mask_value(_without_locals(event[part]))
    return event


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    scrubbed = {k: v for k, v in request.items() if k not in ("data", "cookies", "env")}
    headers = request.get("headers")
    if isinstance(headers, dict):
        scrubbed["headers"] = {
            name: REDACTED if _is_credential_header(name) else mask_text(str(value))
            for name, value in headers.items()
        }
    for key in ("url", "query_string"):
        if isinstance(request.get(key), str):
            scrubbed[key] = mask_text(request[key])
    return scrubbed


def _is_credential_header(name: str) -> bool:
    return name.lower() in CREDENTIAL_HEADERS or is_sensitive_key(name)


def _without_locals(value: Any) -> Any:
    """Stack frames' local variables, dropped wherever they appear (the client is told not to
    send them; this holds even if an integration adds them)."""
    if isinstance(value, dict):
        return {k: _without_locals(v) for k, v in value.items() if k != "vars"}
    if isinstance(value, list):
        return [_without_locals(item) for item in value]
    return value


# --- OpenTelemetry ---------------------------------------------------------------------------------


def span_exporter() -> SpanExporter:
    """Where spans go: OTLP over HTTP, configured by the standard environment variables. The
    boundary tests replace with an in-memory exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


class Tracing:
    """One app's tracer provider and instrumentations."""

    def __init__(self, app: FastAPI, provider: TracerProvider) -> None:
        self.app = app
        self.provider = provider

    def instrument_engine(self, engine: AsyncEngine) -> None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # The package declares support up to SQLAlchemy 2.0 only; its engine events are unchanged
        # in 2.1 (the tracing test runs against the pinned version).
        SQLAlchemyInstrumentor().instrument(
            engine=engine.sync_engine,
            tracer_provider=self.provider,
            enable_commenter=False,
            skip_dep_check=True,
        )

    def shutdown(self) -> None:
        """Remove the instrumentation and flush the spans not yet exported."""
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        SQLAlchemyInstrumentor().uninstrument()
        FastAPIInstrumentor.uninstrument_app(self.app)
        self.provider.shutdown()


def start_tracing(app: FastAPI, settings: Settings) -> Tracing | None:
    """Instrument `app` when `OTEL_ENABLED`; None when off or not installed (with a warning).
    Call before the app starts; the engine is instrumented in the lifespan (`Tracing`)."""
    if not settings.otel_enabled:
        return None
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor  # noqa: F401
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        log.warning(
            "otel_unavailable",
            hint="OTEL_ENABLED is set but OpenTelemetry is not installed",
            missing=exc.name,
        )
        return None
    # An OTEL_SERVICE_NAME in the environment wins over ours.
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create({**attributes, "service.version": __version__}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter()))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_URLS)
    log.info("otel_enabled")
    return Tracing(app, provider)
