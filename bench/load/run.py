"""`make loadtest` and `make loadtest-smoke`: the freight day against a production-configured server
on loopback, unattended, ending by itself.

1. A fresh PostgreSQL database and a Redis key prefix of its own; production settings with
   secrets generated for this run; migrations; the population seeded (`seed.py`).
2. `rodistaa serve` with this machine's worker count, and `rodistaa worker` beside it.
3. The freight day (`locustfile.FreightDay`) at rising multiples of the seed's peak, each held
   for a fixed time after a warm-up, until one misses p95 < 200 ms, error rate < 0.1 % or 95 % of
   its target rate.
4. Throughput: bookings back to back against the service, then the ceiling app (bench/ceiling)
   with the same server and database, alone on the machine.
5. The report: docs/performance.md (or --report), from `report_template.md`, and every run's
   JSON and Markdown summary under var/load/<time>/.

Smoke (`--smoke`): 1x for a short time, no ceiling, no report; it fails on any server error and
on an error rate of 0.1 % or more (a broken flow), and reports a missed latency target without
failing on it (CI machines run other work). PostgreSQL and Redis must be running (.ci/run starts
them); LOAD_PG_URL and LOAD_REDIS_URL point elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import asyncpg
import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
import model  # noqa: E402
import report  # noqa: E402

PG_URL = os.environ.get("LOAD_PG_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/13")
API_PORT, CEILING_PORT = 8100, 8200
P95_TARGET_MS, ERROR_RATE_TARGET, RATE_SHARE_TARGET = 200, 0.001, 0.95


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- the SMS provider's stand-in -----------------------------------------------------------


class SmsSink(ThreadingHTTPServer):
    """Receives the server's SMS requests (`OTP_SENDER=http`) and lets the load generator read
    the last code per phone, as the driver reads the SMS."""

    codes: dict[str, str]


class _SmsHandler(BaseHTTPRequestHandler):
    server: SmsSink

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        match = re.search(r"\b(\d{6})\b", body["message"])
        if match:
            self.server.codes[body["to"]] = match.group(1)
        self._reply(200 if match else 400, {})

    def do_GET(self) -> None:
        code = self.server.codes.get(unquote(self.path.removeprefix("/codes/")))
        self._reply(200 if code else 404, {"code": code} if code else {})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        """Quiet: the codes are secrets even here."""


@contextmanager
def sms_sink() -> Iterator[str]:
    server = SmsSink(("127.0.0.1", 0), _SmsHandler)
    server.codes = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


# --- database, settings, processes -----------------------------------------------------------


async def _recreate_database(name: str) -> str:
    conn = await asyncpg.connect(f"{PG_URL}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def _drop_database(name: str) -> None:
    conn = await asyncpg.connect(f"{PG_URL}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def server_environment(database: str, sms_url: str, out: Path, prefix: str) -> dict[str, str]:
    """Production settings, as a deployment on this machine would have them, with secrets made for
    this run. TRUSTED_PROXIES names loopback, where the load generator stands in for the load
    balancer that sets X-Forwarded-For."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "TEST_"))}
    env.update(
        ENV="production",
        DATABASE_URL=f"{PG_URL.replace('postgresql://', 'postgresql+asyncpg://')}/{database}",
        REDIS_URL=REDIS_URL,
        REDIS_KEY_PREFIX=prefix,
        JWT_KEYS=f"load1:{secrets.token_urlsafe(48)}",
        JWT_ACTIVE_KID="load1",
        HMAC_KEY=secrets.token_urlsafe(48),
        LOCAL_KMS_KEY_ID="load-kms",
        LOCAL_KMS_KEYS=f"1:{key}",
        PAYMENT_WEBHOOK_SECRET=secrets.token_urlsafe(48),
        OTP_SENDER="http",
        OTP_HTTP_URL=sms_url,
        OTP_DEV_ECHO="false",
        TRUSTED_PROXIES="127.0.0.1/32",
        STORAGE_LOCAL_DIR=str(out / "storage"),
        BACKUP_DIR=str(out / "backups"),
        API_BASE_URL=f"http://127.0.0.1:{API_PORT}",
        LOG_LEVEL="WARNING",
        WORKER_IN_PROCESS="false",
        PYTHONUNBUFFERED="1",
    )
    return env


def venv_bin(name: str) -> str:
    return str(ROOT / ".venv" / "bin" / name)


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout_s:.0f} s")


@contextmanager
def running(
    command: list[str], env: dict[str, str], log_path: Path, health: str | None
) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            if health:
                wait_healthy(health, process)
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def locust(
    user_class: str,
    *,
    users: int,
    seconds: float,
    host: str,
    env: dict[str, str],
    summary_prefix: Path,
    warmup: float = 0,
) -> dict[str, Any]:
    """One headless locust run; its summary."""
    locust_bin = os.environ.get("LOCUST", str(ROOT / ".venv-load" / "bin" / "locust"))
    command = [
        locust_bin, "-f", str(HERE / "locustfile.py"), user_class, "--headless",
        "-u", str(users), "-r", str(users), "-t", f"{math.ceil(seconds)}s", "--stop-timeout", "5",
        "--host", host, "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    run_env = dict(env, LOAD_SUMMARY=str(summary_prefix), LOAD_WARMUP=str(warmup))
    log_path = summary_prefix.with_name(summary_prefix.name + ".log")
    with log_path.open("wb") as output:
        subprocess.run(command, env=run_env, stdout=output, stderr=subprocess.STDOUT, check=False, cwd=ROOT)
    summary_file = summary_prefix.with_name(summary_prefix.name + ".json")
    if not summary_file.exists():
        raise SystemExit(f"locust wrote no summary; see {log_path}")
    return dict(json.loads(summary_file.read_text()))


def profile(pid: int, args: argparse.Namespace, prefix: Path) -> subprocess.Popen[bytes]:
    """py-spy on the server and its workers for the measured part of a step: the folded stacks in
    `<prefix>.txt`, for `bench/load/hotspots.py`."""
    py_spy = str(ROOT / ".venv-load" / "bin" / "py-spy")
    command = [
        py_spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", "50",
        "--duration", str(math.ceil(args.step_seconds)), "--format", "raw",
        "--output", str(prefix.with_name(prefix.name + ".txt")),
    ]  # fmt: skip
    after_warmup = ["sh", "-c", 'sleep "$0" && exec "$@"', str(args.load_seconds)]  # as the step's figures
    return subprocess.Popen(after_warmup + command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _process_table() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds used) for every process we can read. A
    process's figure includes its exited children's (PostgreSQL's postmaster reaps backends
    that end during a step)."""
    ticks = os.sysconf("SC_CLK_TCK")
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue  # exited meanwhile
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        own, reaped = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
        table[int(stat.parent.name)] = (int(fields[1]), name, (own + reaped) / ticks)
    return table


def cpu_by_part(parts: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree, plus PostgreSQL's and Redis's
    server processes (whoever started them)."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)

    def tree(root: int) -> float:
        pending, total = [root], 0.0
        while pending:
            pid = pending.pop()
            total += table[pid][2] if pid in table else 0.0
            pending += children.get(pid, [])
        return total

    used = {part: tree(pid) for part, pid in parts.items()}
    used["postgresql"] = sum(cpu for _, name, cpu in table.values() if name.startswith("postgres"))
    used["redis"] = sum(cpu for _, name, cpu in table.values() if name.startswith("redis-server"))
    used["whole machine"] = _machine_busy_seconds()
    return used


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat), to show saturation."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@contextmanager
def cpu_meter(parts: dict[str, int]) -> Iterator[dict[str, float]]:
    """CPU seconds each part used while the block ran; the load generator's are those of the
    child processes this runner waited for meanwhile (the locust run)."""
    used: dict[str, float] = {}
    before, children_before = cpu_by_part(parts), resource.getrusage(resource.RUSAGE_CHILDREN)
    yield used
    after, children_after = cpu_by_part(parts), resource.getrusage(resource.RUSAGE_CHILDREN)
    used.update({part: round(after[part] - before[part], 2) for part in after})
    used["load generator"] = round(
        children_after.ru_utime
        + children_after.ru_stime
        - children_before.ru_utime
        - children_before.ru_stime,
        2,
    )


def drivers_needed(multiples: list[float], args: argparse.Namespace) -> int:
    """Drivers for every multiple that fits in the time budget: a load still on the road when a
    step ends keeps its driver busy for good (its shipment stays in transit), so each step
    needs fresh drivers for its own loads in flight."""
    fitting = max(1, int(args.time_budget // (args.load_seconds + args.step_seconds)))
    return sum(users_for(m, args.load_seconds) for m in multiples[:fitting])


def users_for(multiple: float, load_seconds: float) -> int:
    """Users needed for `multiple` x the peak: each plays one load per `load_seconds`."""
    return max(1, math.ceil(multiple * model.peak_loads_per_second() * load_seconds))


def judge(result: dict[str, Any], target_rate: float) -> list[str]:
    """What a step missed; empty when it held."""
    misses = []
    if result["p95"] >= P95_TARGET_MS:
        misses.append(f"p95 {result['p95']:.0f} ms >= {P95_TARGET_MS} ms")
    if result["errorRate"] >= ERROR_RATE_TARGET:
        misses.append(f"error rate {result['errorRate']:.3%} >= {ERROR_RATE_TARGET:.1%}")
    if result["rate"] < RATE_SHARE_TARGET * target_rate:
        misses.append(f"achieved {result['rate']:.1f} req/s < 95 % of {target_rate:.1f}")
    if result["serverErrorsWholeRun"]:
        misses.append(f"{result['serverErrorsWholeRun']} server errors")
    return misses


def smoke_failures(result: dict[str, Any]) -> list[str]:
    """What fails the smoke test: any server error, or requests the scenario did not expect
    (a broken flow). Latency is judged by the full run on a quiet machine, not by CI's."""
    problems = []
    if result["serverErrorsWholeRun"]:
        problems.append(f"{result['serverErrorsWholeRun']} server errors")
    if result["errorRate"] >= ERROR_RATE_TARGET:
        problems.append(f"error rate {result['errorRate']:.3%} >= {ERROR_RATE_TARGET:.1%}")
    return problems


def machine() -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = found.group(1).strip() if found else cpu
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"MemTotal:\s*(\d+) kB", meminfo.read_text())
        memory = f"{int(found.group(1)) / 1024 / 1024:.1f} GiB" if found else memory
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "redis": redis.Redis.from_url(REDIS_URL).info("server").get("redis_version", "?"),
        "commit": commit.stdout.strip() or "unknown",
    }


# --- the run ----------------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="1x for a short time; fail on any server error")
    parser.add_argument(
        "--multiples", default="1,1.25,1.5,2,3,4,5,7,10,14,20", help="peak multiples to try, rising"
    )
    parser.add_argument(
        "--time-budget", type=float, default=14 * 60, help="seconds; no step starts that would end later"
    )
    parser.add_argument("--load-seconds", type=float, default=60, help="how long one load's requests take")
    parser.add_argument("--step-seconds", type=float, default=60, help="measured time per multiple")
    parser.add_argument("--burst-seconds", type=float, default=20, help="booking and ceiling burst length")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--profile", action="store_true", help="py-spy the server during each measured step")
    parser.add_argument(
        "--bursts-only",
        action="store_true",
        help="only the throughput bursts (to compare commits); no report",
    )
    args = parser.parse_args()
    if args.smoke:
        args.multiples, args.load_seconds, args.step_seconds = "1", 20, 25
    if args.bursts_only:
        args.multiples = "1"  # sizes the population: the bursts need shippers, not drivers
    args.multiples = [float(m) for m in args.multiples.split(",")]
    return args


def seed_population(args: argparse.Namespace, env: dict[str, str], out: Path) -> tuple[Path, float]:
    """Migrate the run's database and seed it; the population file and the seconds it took."""
    subprocess.run(
        [venv_bin("rodistaa"), "db", "upgrade"], env=env, check=True, cwd=ROOT, capture_output=True
    )
    # Enough drivers for every load in flight, and operators enough that none bids or modifies
    # faster than a real one (RF20 allows ten modifications a minute).
    per_operator = 8
    operators = max(24, math.ceil(drivers_needed(args.multiples, args) * 1.15 / per_operator))
    shippers = 40 if args.smoke else 400
    log(f"seeding {shippers} shippers, {operators} operators with {per_operator} drivers and trucks each")
    population = out / "population.json"
    started = time.monotonic()
    subprocess.run(
        [venv_bin("python"), str(HERE / "seed.py"), "--out", str(population),
         "--shippers", str(shippers), "--operators", str(operators),
         "--drivers-per-operator", str(per_operator)],
        env=env, check=True, cwd=ROOT,
    )  # fmt: skip
    return population, time.monotonic() - started


def run_step(
    args: argparse.Namespace,
    multiple: float,
    processes: dict[str, int],
    load_env: dict[str, str],
    out: Path,
) -> dict[str, Any]:
    """The freight day at `multiple` x the peak: warm-up, measured time, CPU per process, verdict."""
    users = users_for(multiple, args.load_seconds)
    target = multiple * model.peak_rate()
    log(f"{multiple:g}x peak: {users} users, target {target:.1f} req/s")
    profiler = profile(processes["api"], args, out / f"profile-{multiple:g}x") if args.profile else None
    seconds = args.load_seconds + args.step_seconds
    with cpu_meter(processes) as cpu:
        result = locust(
            "FreightDay", users=users, seconds=seconds, host=f"http://127.0.0.1:{API_PORT}", env=load_env,
            summary_prefix=out / f"step-{multiple:g}x", warmup=0 if args.smoke else args.load_seconds,
        )  # fmt: skip
    if profiler is not None:
        profiler.wait()
    requests = max(result["requestsWholeRun"], 1)
    result["cpuMsPerRequest"] = {part: round(used * 1000 / requests, 2) for part, used in cpu.items()}
    result["cpuCoresBusy"] = {part: round(used / seconds, 2) for part, used in cpu.items()}
    misses = judge(result, 0 if args.smoke else target)  # the smoke run is all ramp-up
    missed_note = f"; missed: {'; '.join(misses)}" if misses else ""
    log(
        f"  {result['rate']:.1f} req/s, p95 {result['p95']:.0f} ms, "
        f"errors {result['errorRate']:.3%}{missed_note}"
    )
    return {"multiple": multiple, "users": users, "target": target, "result": result, "misses": misses}


def serve_and_load(
    args: argparse.Namespace, env: dict[str, str], load_env: dict[str, str], out: Path, started: float
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The service and its jobs worker under the rising steps, then the booking burst."""
    api = f"http://127.0.0.1:{API_PORT}"
    serve = [venv_bin("rodistaa"), "serve", "--port", str(API_PORT), "--workers", str(args.workers)]
    steps: list[dict[str, Any]] = []
    with (
        running(serve, env, out / "server.log", f"{api}/health") as server,
        running([venv_bin("rodistaa"), "worker"], env, out / "worker.log", None) as worker,
    ):
        for multiple in [] if args.bursts_only else args.multiples:
            step_ends = time.monotonic() - started + args.load_seconds + args.step_seconds
            if step_ends + (0 if args.smoke else 2 * args.burst_seconds + 30) > args.time_budget:
                log(f"no time left for {multiple:g}x within the {args.time_budget:.0f} s budget")
                break
            steps.append(
                run_step(args, multiple, {"api": server.pid, "jobs worker": worker.pid}, load_env, out)
            )
            if steps[-1]["misses"]:
                break
        if args.smoke:
            return steps, None
        log("bookings back to back")
        bookings = locust(
            "BookingBurst", users=32, seconds=args.burst_seconds, host=api, env=load_env,
            summary_prefix=out / "burst-bookings", warmup=3,
        )  # fmt: skip
    return steps, bookings


def measure_ceiling(
    args: argparse.Namespace, env: dict[str, str], load_env: dict[str, str], out: Path
) -> dict[str, Any]:
    """The ceiling app alone on the machine, driven like the booking burst."""
    log("the ceiling app, alone")
    ceiling_env = dict(env, CEILING_DATABASE_URL=env["DATABASE_URL"])
    serve_ceiling = [
        venv_bin("python"), "-m", "uvicorn", "bench.ceiling.app:create_app", "--factory",
        "--workers", str(args.workers), "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--port", str(CEILING_PORT), "--log-level", "warning",
    ]  # fmt: skip
    ceiling_url = f"http://127.0.0.1:{CEILING_PORT}"
    with running(serve_ceiling, ceiling_env, out / "ceiling.log", f"{ceiling_url}/health"):
        return locust(
            "CeilingBurst", users=32, seconds=args.burst_seconds, host=ceiling_url, env=load_env,
            summary_prefix=out / "burst-ceiling", warmup=3,
        )  # fmt: skip


def clean_up(database: str, prefix: str, out: Path) -> None:
    """Drop the run's database, its Redis keys and the stored files (the results stay)."""
    asyncio.run(_drop_database(database))
    client = redis.Redis.from_url(REDIS_URL)
    keys = client.keys(f"{prefix}*")
    if keys:
        client.delete(*keys)
    shutil.rmtree(out / "storage", ignore_errors=True)


def conclude(args: argparse.Namespace, results: dict[str, Any], out: Path) -> None:
    """Save the results; fail the smoke test, print the burst comparison, or write the report."""
    (out / "results.json").write_text(json.dumps(results, indent=2))
    steps, bookings, ceiling = results["steps"], results["bookingBurst"], results["ceilingBurst"]
    if args.smoke:
        log(f"smoke done in {results['totalSeconds']} s; summary in {out.relative_to(ROOT)}")
        broken = smoke_failures(steps[0]["result"])
        if broken:
            raise SystemExit(f"smoke failed: {'; '.join(broken)}")
        if steps[0]["misses"]:
            log(f"latency or rate target missed (not a failure here: {'; '.join(steps[0]['misses'])})")
    elif args.bursts_only:
        booking_rate = bookings["routes"]["POST /v1/bookings"]["rate"]
        share = booking_rate / ceiling["rate"]
        log(f"bookings {booking_rate:.1f} req/s, ceiling {ceiling['rate']:.1f} req/s ({share:.0%})")
    else:
        args.report.write_text(report.render(results))
        log(f"done in {results['totalSeconds']} s; report {args.report}")


def main() -> None:
    args = parse_arguments()
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "var" / "load" / (f"smoke-{stamp}" if args.smoke else stamp)
    out.mkdir(parents=True, exist_ok=True)
    database = f"rodistaa_load_{secrets.token_hex(4)}"
    prefix = f"load-{secrets.token_hex(4)}"
    postgres_version = asyncio.run(_recreate_database(database))
    log(f"database {database}, output {out.relative_to(ROOT)}")
    try:
        with sms_sink() as sms_url:
            env = server_environment(database, sms_url, out, prefix)
            population, seed_s = seed_population(args, env, out)
            load_env = dict(
                env,
                LOAD_POPULATION=str(population),
                LOAD_SMS_SINK=sms_url,
                LOAD_SECONDS=str(args.load_seconds),
            )
            steps, bookings = serve_and_load(args, env, load_env, out, started)
            ceiling = None if args.smoke else measure_ceiling(args, env, load_env, out)
    finally:
        clean_up(database, prefix, out)
    results = {
        "smoke": args.smoke,
        "loadSeconds": args.load_seconds,
        "stepSeconds": args.step_seconds,
        "workers": args.workers,
        "seedSeconds": round(seed_s, 1),
        "totalSeconds": round(time.monotonic() - started, 1),
        "machine": dict(machine(), postgresql=postgres_version),
        "steps": steps,
        "bookingBurst": bookings,
        "ceilingBurst": ceiling,
    }
    conclude(args, results, out)


if __name__ == "__main__":
    main()
