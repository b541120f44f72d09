"""Prometheus metrics: the service's own families, `/metrics`, and the multiprocess mode that keeps
them right with several Uvicorn workers (docs/observability.md lists every family).

Decisions:

* One process (tests, `make run`, `rodistaa worker`): the default registry, as prometheus_client
  has it. Several workers (`rodistaa serve --workers N`): prometheus_client's multiprocess mode.
  It is chosen by `PROMETHEUS_MULTIPROC_DIR` being set when prometheus_client is first imported,
  which is why `rodistaa serve` sets it before Uvicorn spawns the workers
  (`multiprocess_directory`) and never changes it in a running process.
* In multiprocess mode every worker writes its values to files in that directory and a scrape,
  whichever worker answers it, merges them all: counters and histograms are summed (a dead
  worker's counts stay counted, as they must), each gauge merges as its `multiprocess_mode`
  says. Uvicorn has no hook for a worker's death, so a scrape forgets the `live*` gauge files
  of processes that no longer exist (`forget_dead_workers`); gauges in the other modes keep a
  dead worker's last value by design (a last-success time stays true after its writer died).
* A family none of the workers has written yet is still declared (`# HELP`/`# TYPE`), so a
  dashboard or alert can tell "no events" from "no such metric". The process_/python_
  families describe one process and are left out of the merged view.
* Labels are bounded: routes are templates (`<unmatched>` for anything else), methods outside
  the standard set count as `OTHER`, job names and outcomes come from code.
"""

from __future__ import annotations

import glob
import hmac
import os
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.concurrency import run_in_threadpool

from rodistaa.core.errors import Unauthorized

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from rodistaa.db.engine import Database

log = structlog.get_logger("rodistaa.metrics")

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"

# Around the 200 ms latency objective, so the p95 alert interpolates inside a narrow bucket.
REQUEST_DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0)
STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
WEBHOOK_OUTCOMES = ("delivered", "failed", "given_up")
JOB_OUTCOMES = ("succeeded", "failed")
_PER_PROCESS_PREFIXES = ("process_", "python_")

# No `*_created` series: the multiprocess mode cannot produce them, and both modes should expose
# the same families (they also double the series count for nothing a dashboard here reads).
disable_created_metrics()  # type: ignore[no-untyped-call]

# --- the service's families ----------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from a request reaching the app to the end of its response",
    ["method", "route"],
    buckets=REQUEST_DURATION_BUCKETS_S,
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use", "Database connections checked out of the pools", multiprocess_mode="livesum"
)
DB_POOL_SIZE = Gauge(
    "db_pool_size",
    "Most connections the pools may hold checked out at once (pool size plus overflow)",
    multiprocess_mode="livesum",
)
DB_CONNECTION_ERRORS = Counter(
    "db_connection_errors_total", "Failed connects, and connections lost during a statement"
)
DB_QUERY_ERRORS = Counter(
    "db_query_errors_total", "Statements the database refused or failed (constraint violations excluded)"
)
JOB_RUNS = Counter("job_runs_total", "Periodic job runs by outcome", ["job", "outcome"])
JOB_LAST_SUCCESS = Gauge(
    "job_last_success_timestamp_seconds",
    "Unix time at which the job's last successful run started",
    ["job"],
    multiprocess_mode="max",
)
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total",
    "Webhook delivery attempts: delivered, failed (retried later), given_up (the last attempt failed)",
    ["outcome"],
)
BOOKINGS_CREATED = Counter("bookings_created_total", "Bookings created")
BIDS_PLACED = Counter("bids_placed_total", "Bids placed")
SHIPMENTS_COMPLETED = Counter("shipments_completed_total", "Shipments completed (delivery OTP accepted)")
BIDDING_FEES_PAISE = Counter("bidding_fees_paise_total", "Bidding fees debited, in paise")

# A fixed label set: a series at zero from the start lets increase() see the first failure.
for _outcome in WEBHOOK_OUTCOMES:
    WEBHOOK_DELIVERIES.labels(_outcome)


def observe_request(method: str, route: str, status: int, duration_s: float) -> None:
    """Count one answered request; `route` is a template (`route_template`), never a raw path."""
    method = method if method in STANDARD_METHODS else "OTHER"
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_REQUEST_DURATION.labels(method, route).observe(duration_s)


def declare_jobs(names: Iterable[str]) -> None:
    """Zero series for every outcome of the given jobs (see WEBHOOK_DELIVERIES above)."""
    for name in names:
        for outcome in JOB_OUTCOMES:
            JOB_RUNS.labels(name, outcome)


# --- exposition ------------------------------------------------------------------------------------


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_DIR_ENV)
    return Path(value) if value else None


def forget_dead_workers(directory: Path) -> list[int]:
    """Remove the `live*` gauge files of processes that have exited; returns their pids.

    Files are named `gauge_<mode>_<pid>.db`. A pid that was reused by another process after its
    worker died keeps its files until that process exits too: a short-lived inflation of the
    live gauges, accepted in exchange for not needing a hook Uvicorn does not have."""
    dead = set()
    for path in glob.glob(str(directory / "gauge_live*_*.db")):
        pid_text = Path(path).stem.rsplit("_", 1)[-1]
        if pid_text.isdigit() and not _process_exists(int(pid_text)):
            dead.add(int(pid_text))
    for pid in dead:
        mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    return sorted(dead)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class _MergedWorkers:
    """The multiprocess view: every worker's files merged, plus declarations of the families
    no worker has written yet."""

    def __init__(self, directory: Path) -> None:
        self._files = MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterator[Metric]:
        merged = list(self._files.collect())  # type: ignore[no-untyped-call]
        yield from merged
        written = {family.name for family in merged}
        for family in REGISTRY.collect():
            if family.name not in written and not family.name.startswith(_PER_PROCESS_PREFIXES):
                yield Metric(family.name, family.documentation, family.type, family.unit)


def render_latest() -> bytes:
    """The Prometheus text exposition of this process, or of all workers in multiprocess mode."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    forget_dead_workers(directory)
    registry = CollectorRegistry()
    registry.register(_MergedWorkers(directory))
    return generate_latest(registry)


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Constant-time check of an `Authorization: Bearer <token>` header."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


# --- `rodistaa serve --workers N` ------------------------------------------------------------------


@contextmanager
def multiprocess_directory(workers: int) -> Iterator[Path | None]:
    """The directory the workers of one `rodistaa serve` share, set up before they are spawned.

    `PROMETHEUS_MULTIPROC_DIR` set by the operator: created if missing and emptied of a previous
    run's files (except this process's own, which it has open), kept afterwards. Unset with more
    than one worker: a fresh temporary directory, exported to the workers' environment and
    removed when the server stops. Unset with one worker: nothing (the default registry)."""
    configured = multiprocess_dir()
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        _wipe(configured)
        yield configured
        return
    if workers == 1:
        yield None
        return
    created = Path(tempfile.mkdtemp(prefix="rodistaa-metrics-"))
    os.environ[MULTIPROC_DIR_ENV] = str(created)
    try:
        yield created
    finally:
        os.environ.pop(MULTIPROC_DIR_ENV, None)
        shutil.rmtree(created, ignore_errors=True)


def _wipe(directory: Path) -> None:
    own_suffix = f"_{os.getpid()}.db"
    for path in directory.glob("*.db"):
        if not path.name.endswith(own_suffix):
            path.unlink(missing_ok=True)


# --- the route -----------------------------------------------------------------------------------

ScrapeHook = Callable[["Database"], Awaitable[None]]


def metrics_router(*, token: str | None, before_scrape: ScrapeHook | None = None) -> APIRouter:
    """`GET /metrics`, outside `/v1` and the OpenAPI document. With `token`, only requests with
    `Authorization: Bearer <token>` are answered (401 otherwise). `before_scrape` refreshes
    values read from the database; its failure leaves them as they were and the scrape goes on."""
    router = APIRouter(include_in_schema=False)

    @router.get(METRICS_PATH)
    async def metrics(request: Request) -> Response:
        if token and not bearer_matches(request.headers.get("authorization"), token):
            raise Unauthorized("A valid metrics token is required", headers={"WWW-Authenticate": "Bearer"})
        if before_scrape is not None:
            await _run_hook(before_scrape, request.app.state.services.db)
        # Reading the workers' files is blocking I/O.
        body = await run_in_threadpool(render_latest)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


async def _run_hook(hook: ScrapeHook, db: Database) -> None:
    try:
        await hook(db)
    except Exception as exc:  # the database is down: its own metrics say so, the scrape still works
        log.warning("metrics_refresh_failed", error=type(exc).__name__)


# --- `rodistaa worker` -----------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the worker's own log lines."""


def _worker_metrics_app(token: str | None) -> Callable[[WSGIEnvironment, StartResponse], list[bytes]]:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        if environ.get("PATH_INFO") != METRICS_PATH:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"code":"NOT_FOUND","message":"Resource not found"}']
        if token and not bearer_matches(environ.get("HTTP_AUTHORIZATION"), token):
            start_response(
                "401 Unauthorized", [("Content-Type", "application/json"), ("WWW-Authenticate", "Bearer")]
            )
            return [b'{"code":"UNAUTHORIZED","message":"A valid metrics token is required"}']
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [render_latest()]

    return app


def serve_worker_metrics(host: str, port: int, *, token: str | None) -> WSGIServer:
    """Serve `/metrics` of a `rodistaa worker` process from a daemon thread (it has no HTTP server
    of its own); the same token rule as the API. Returns the server (`shutdown()` stops it)."""
    server = make_server(host, port, _worker_metrics_app(token), handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    log.info("worker_metrics_serving", host=host, port=server.server_port)
    return server
