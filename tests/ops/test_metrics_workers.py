"""Metrics across processes: `rodistaa serve --workers 2` as a real server (a scrape answered by
either worker reports exactly the requests both served, every family is declared, a killed
worker's counts stay while its live gauges go), `rodistaa worker`'s own `/metrics` with the job
families, and the directory handling of the multiprocess mode.

The servers run as subprocesses in a process group of their own, on a free loopback port, with a
temporary SQLite database migrated by `rodistaa db upgrade`. Every wait has a deadline, and the
fixtures kill the process group whatever the test's outcome."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from rodistaa.jobs.registry import available_jobs
from rodistaa.ops.metrics import MULTIPROC_DIR_ENV, forget_dead_workers, multiprocess_directory
from tests.ops.metrics_text import FAMILIES, Scrape, parse
from tests.test_worker_processes import worker_env

TOKEN = "metrics-token-0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DRIVEN_ROUTE = {"method": "GET", "route": "/v1/health", "status": "200"}
BATCH = 20
MAX_BATCHES = 10
DEADLINE_S = 90.0  # a loaded CI machine starts a worker in seconds; a hung one never answers
SQLITE_POOL_CAPACITY = 15  # SQLAlchemy's 5 + 10 overflow (db/engine.py)


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def get(self, path: str, **headers: str) -> httpx.Response:
        # A connection per request, so the kernel hands requests to either worker.
        return httpx.get(f"{self.base_url}{path}", headers={"Connection": "close", **headers}, timeout=10)

    def scrape(self) -> Scrape:
        response = self.get("/metrics", **AUTH)
        assert response.status_code == 200, response.text
        return parse(response.text)

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited while waiting for {what}:\n{self.log()}"
            try:
                if condition():
                    return
            except httpx.TransportError:
                pass  # not listening yet, or a worker is being replaced
            time.sleep(0.2)
        pytest.fail(f"timed out waiting for {what}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def workers_started(self) -> int:
        """Uvicorn's line for each worker that finished its start-up (replacements included)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace").count(
            "Application startup complete"
        )

    def stop(self) -> None:
        """Signal the whole group, even when the supervisor has already exited: its workers may
        outlive it. SIGKILL what is left after the grace period."""
        signal_group(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)  # reaped: a zombie leader would keep the group "alive"
        deadline = time.monotonic() + 10
        while group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)


def signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rodistaa.cli", *args], env=env, cwd=cwd, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """The test settings as a real process's environment, on a SQLite file migrated by the CLI."""
    env = worker_env(f"sqlite+aiosqlite:///{tmp_path / 'rodistaa.db'}")
    env.pop(MULTIPROC_DIR_ENV, None)
    env["METRICS_TOKEN"] = TOKEN
    run_cli(["db", "upgrade"], env, tmp_path)
    return env


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[list[str], dict[str, str]], Server]]:
    started: list[Server] = []

    def launch(args: list[str], env: dict[str, str]) -> Server:
        port = free_port()
        log_path = tmp_path / f"server-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rodistaa.cli",
                    *args,
                    *(["--port", str(port)] if args[0] == "serve" else []),
                ],
                env={**env, **({} if args[0] == "serve" else {"WORKER_METRICS_PORT": str(port)})},
                cwd=tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group: the supervisor and its workers
            )
        server = Server(process, f"http://127.0.0.1:{port}", log_path)
        started.append(server)
        return server

    try:
        yield launch
    finally:
        for server in started:
            server.stop()


# --- `rodistaa serve --workers 2` ------------------------------------------------------------------


def pids_with_files(directory: Path, pattern: str) -> set[int]:
    return {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob(pattern)}


def served_per_worker(directory: Path) -> dict[int, float]:
    """The driven route's count in each worker's own file."""
    key = mmap_key(
        "http_requests",
        "http_requests_total",
        list(DRIVEN_ROUTE),
        list(DRIVEN_ROUTE.values()),
        "HTTP requests answered, by route template and status",
    )
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        for found, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            if found == key:
                counts[int(path.stem.rsplit("_", 1)[1])] = value
    return counts


def stale_counter_file(directory: Path) -> Path:
    """What a previous run of the server leaves behind: 1000 requests of the driven route."""
    path = directory / "counter_4000000.db"
    stale = MmapedDict(str(path))
    key = mmap_key(
        "http_requests",
        "http_requests_total",
        list(DRIVEN_ROUTE),
        list(DRIVEN_ROUTE.values()),
        "HTTP requests answered, by route template and status",
    )
    stale.write_value(key, 1000.0, 0.0)
    stale.close()
    return path


def drive(server: Server, directory: Path) -> int:
    """Requests to the driven route in concurrent batches until both workers have served some;
    returns how many were sent (every one answered 200)."""
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(MAX_BATCHES):
            statuses = list(pool.map(lambda _: server.get("/v1/health").status_code, range(BATCH)))
            assert statuses == [200] * BATCH
            sent += BATCH
            if len([n for n in served_per_worker(directory).values() if n > 0]) == 2:
                return sent
    pytest.fail(f"after {sent} requests one worker had served them all: {served_per_worker(directory)}")


def assert_consistent(s: Scrape, sent: int) -> None:
    for name, kind in FAMILIES.items():
        assert s.families.get(name) == kind, name
    assert s.value("http_requests_total", DRIVEN_ROUTE) == sent
    by_route = {"method": "GET", "route": "/v1/health"}
    assert s.value("http_request_duration_seconds_count", by_route) == sent
    assert s.value("http_request_duration_seconds_bucket", {**by_route, "le": "+Inf"}) == sent
    assert s.value("db_pool_size") == 2 * SQLITE_POOL_CAPACITY
    assert 0 <= s.value("db_pool_connections_in_use") <= 2 * SQLITE_POOL_CAPACITY
    assert s.value("rate_limit_degraded") == 0
    for outcome in ("delivered", "failed", "given_up"):
        assert s.exists("webhook_deliveries_total", {"outcome": outcome})
    # Declared before any rule ran: the critical rules of the default bundle, at zero.
    assert s.exists("acs_critical_matches_total", {"rule": "RF01_KYC_MANDATORY"})
    # No verification stored yet: the audit gauges are declared and have no sample (not 0).
    assert not s.exists("audit_last_verification_ok")
    # Every gauge merges over the workers: no series is split by a per-worker pid label.
    assert all("pid" not in dict(labels) for (_, labels) in s.samples)


def test_two_workers_report_the_same_counts_whichever_answers(
    tmp_path: Path, sqlite_env: dict[str, str], start: Callable[[list[str], dict[str, str]], Server]
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    stale = stale_counter_file(directory)
    server = start(["serve", "--workers", "2"], {**sqlite_env, MULTIPROC_DIR_ENV: str(directory)})
    server.wait_until(lambda: server.workers_started() >= 2, "both workers to start")
    assert not stale.exists(), "a previous run's file was not wiped at start"

    sent = drive(server, directory)
    for _ in range(6):  # each scrape is answered by either worker
        assert_consistent(server.scrape(), sent)
    refused = server.get("/metrics")
    assert (refused.status_code, refused.json()["code"]) == (401, "UNAUTHORIZED")

    # A worker dies (uvicorn starts another): its counts stay, its live gauges go.
    # The supervisor writes files too (it imported the app's metrics with the variable set).
    workers = pids_with_files(directory, "gauge_livesum_*.db") - {server.process.pid}
    assert len(workers) == 2
    victim, started = min(workers), server.workers_started()
    os.kill(victim, signal.SIGKILL)
    server.wait_until(lambda: server.workers_started() > started, "a replacement worker")
    after = server.scrape()
    assert_consistent(after, sent)
    assert victim not in pids_with_files(directory, "gauge_livesum_*.db")
    assert victim in pids_with_files(directory, "counter_*.db")


# --- `rodistaa worker` -----------------------------------------------------------------------------


def test_the_worker_serves_its_job_metrics(
    sqlite_env: dict[str, str], start: Callable[[list[str], dict[str, str]], Server]
) -> None:
    started_at = time.time()
    worker = start(["worker"], {**sqlite_env, "WORKER_METRICS_HOST": "127.0.0.1"})
    succeeded = {"job": "audit-checkpoint", "outcome": "succeeded"}
    worker.wait_until(lambda: worker.scrape().value("job_runs_total", succeeded) >= 2, "two checkpoint runs")

    s = worker.scrape()
    for job in available_jobs():
        for outcome in ("succeeded", "failed"):
            assert s.exists("job_runs_total", {"job": job, "outcome": outcome}), (job, outcome)
    last_success = s.value("job_last_success_timestamp_seconds", {"job": "audit-checkpoint"})
    assert started_at <= last_success <= time.time()
    assert s.value("job_runs_total", {"job": "audit-checkpoint", "outcome": "failed"}) == 0
    assert s.families["job_last_success_timestamp_seconds"] == "gauge"

    refused = worker.get("/metrics")
    assert (refused.status_code, refused.json()["code"]) == (401, "UNAUTHORIZED")
    assert worker.get("/other", **AUTH).status_code == 404


# --- the directory ---------------------------------------------------------------------------------


class TestMultiprocessDirectory:
    def test_several_workers_get_a_temporary_directory_removed_afterwards(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv(MULTIPROC_DIR_ENV, raising=False)
        with multiprocess_directory(2) as created:
            assert created is not None and created.is_dir()
            assert os.environ[MULTIPROC_DIR_ENV] == str(created)
        assert not created.exists()
        assert MULTIPROC_DIR_ENV not in os.environ

    def test_one_worker_without_a_directory_uses_the_default_registry(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv(MULTIPROC_DIR_ENV, raising=False)
        with multiprocess_directory(1) as directory:
            assert directory is None
            assert MULTIPROC_DIR_ENV not in os.environ

    def test_a_configured_directory_is_created_or_emptied_and_kept(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        configured = tmp_path / "multiproc"
        monkeypatch.setenv(MULTIPROC_DIR_ENV, str(configured))
        with multiprocess_directory(4) as directory:
            assert directory == configured and configured.is_dir()
        (configured / "counter_123.db").write_bytes(b"stale")
        own = configured / f"counter_{os.getpid()}.db"
        own.write_bytes(b"this process's, open")
        (configured / "notes.txt").write_text("not a metrics file")
        with multiprocess_directory(4):
            assert sorted(p.name for p in configured.iterdir()) == sorted([own.name, "notes.txt"])
        assert configured.is_dir()


def test_only_the_live_gauge_files_of_dead_processes_are_forgotten(tmp_path: Path) -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait(timeout=30)
    dead, alive = exited.pid, os.getpid()
    names = [
        f"gauge_livesum_{dead}.db",
        f"gauge_livemax_{dead}.db",
        f"gauge_max_{dead}.db",
        f"counter_{dead}.db",
        f"gauge_livesum_{alive}.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")

    assert forget_dead_workers(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"gauge_max_{dead}.db", f"counter_{dead}.db", f"gauge_livesum_{alive}.db"]
    )
