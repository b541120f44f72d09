"""The cost of every request of the freight day, one at a time: CPU milliseconds in the API process,
wall milliseconds and SQL statements, per kind of step, on PostgreSQL and Redis with production
settings. The app runs in this process behind an in-memory ASGI transport and the loads are played
sequentially, so each request's CPU time is its own (plus the HTTP client's, shown by the
`GET /health` baseline row).

    .venv/bin/python bench/load/route_costs.py [--loads 10] [--profile gps_batch] [--json out.json]

`--profile KIND` prints pyinstrument's call tree over that kind's requests. Used to find and to
measure the fixes recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from pyinstrument import Profiler
from sqlalchemy import event

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import model  # noqa: E402
import run  # noqa: E402
import seed  # noqa: E402
import steps  # noqa: E402

from rodistaa.app import create_app  # noqa: E402


class Meter:
    """Per-kind samples of CPU ms, wall ms and SQL statements."""

    def __init__(self) -> None:
        self.samples: defaultdict[str, list[tuple[float, float, int]]] = defaultdict(list)
        self.statements = 0

    def count_statement(self, *_: Any) -> None:
        self.statements += 1

    def table(self) -> list[dict[str, Any]]:
        rows = []
        for kind, samples in self.samples.items():
            cpu, wall, sql = zip(*samples, strict=True)
            route = model.KINDS[kind][0] if kind in model.KINDS else kind
            rows.append(
                {
                    "kind": kind,
                    "route": route,
                    "requests": len(samples),
                    "cpuMs": round(statistics.fmean(cpu), 2),
                    "wallMs": round(statistics.fmean(wall), 2),
                    "statements": round(statistics.fmean(sql), 1),
                }
            )
        return sorted(rows, key=lambda row: -row["cpuMs"])


async def measured(
    client: httpx.AsyncClient, meter: Meter, kind: str, actor: str, state: steps.LoadState, profiler: Any
) -> None:
    request = steps.request_for(kind, actor, state)
    party = state.parties[actor]
    before_sql, before_cpu, before_wall = meter.statements, time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.start()
    response = await client.request(
        request.method,
        request.path,
        headers=steps.headers(party, request, kind),
        json=request.json,
        params=request.params,
        data=request.data,
        files=request.files,
    )
    if profiler is not None:
        profiler.stop()
    cpu, wall = time.process_time() - before_cpu, time.perf_counter() - before_wall
    meter.samples[kind].append((cpu * 1000, wall * 1000, meter.statements - before_sql))
    if response.status_code != request.expect:
        raise SystemExit(f"{kind}: {response.status_code} {response.text[:300]}")
    steps.absorb(kind, actor, state, response.json() if response.text else None)


async def play(args: argparse.Namespace, population: dict[str, Any], codes: seed.CapturedCodes) -> Meter:
    app = create_app(otp_sender=codes)
    meter = Meter()
    profiler = Profiler(interval=0.0002, async_mode="disabled") if args.profile else None
    async with LifespanManager(app, startup_timeout=60) as manager:
        engine = app.state.services.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", meter.count_statement)
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            operators, shippers = population["operators"], population["shippers"]
            # One load first, not measured: FastAPI builds a route's validation state on its first
            # request (tens of ms, once per process), which is not what a request costs.
            for n in range(-1, args.loads):
                if n == 0:
                    meter.samples.clear()
                winner, others = (
                    operators[n % len(operators)],
                    [operators[(n + k) % len(operators)] for k in (1, 2, 3)],
                )
                unit = winner["fleet"][(n + 1) // len(operators) % len(winner["fleet"])]
                parties = {model.SHIPPER: shippers[n % len(shippers)], model.DRIVER: unit["driver"]}
                parties.update(zip(model.BIDDER_ROLES, [winner, *others], strict=True))
                state = steps.LoadState(parties, unit["truck"], lambda mobile: codes.codes.pop(mobile))
                for step in model.load_plan():
                    chosen = profiler if step.kind == args.profile and n >= 0 else None
                    await measured(client, meter, step.kind, step.actor, state, chosen)
            for _ in range(20):  # the baseline, warm: the HTTP client and the smallest route
                before_cpu, before_wall = time.process_time(), time.perf_counter()
                await client.get("/health")
                sample = (
                    (time.process_time() - before_cpu) * 1000,
                    (time.perf_counter() - before_wall) * 1000,
                    0,
                )
                meter.samples["GET /health (baseline)"].append(sample)
    if profiler is not None:
        show_all = bool(os.environ.get("PROFILE_ALL"))
        print(profiler.output_text(unicode=False, color=False, show_all=show_all, short_mode=False))
    return meter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--profile", default="", help="a step kind to profile, e.g. gps_batch")
    parser.add_argument("--json", type=Path, help="write the table here too")
    args = parser.parse_args()
    database = f"rodistaa_costs_{os.getpid()}"
    asyncio.run(run._recreate_database(database))
    out = run.ROOT / "var" / "load" / "route-costs"
    try:
        with run.sms_sink() as sms_url:
            os.environ.update(run.server_environment(database, sms_url, out, f"costs-{os.getpid()}"))
            run.subprocess.run([run.venv_bin("rodistaa"), "db", "upgrade"], check=True, capture_output=True)
            seed_args = argparse.Namespace(shippers=10, operators=6, drivers_per_operator=4)
            population = asyncio.run(seed.seed(seed_args))
            codes = seed.CapturedCodes()
            meter = asyncio.run(play(args, population, codes))
    finally:
        asyncio.run(run._drop_database(database))
    rows = meter.table()
    print(f"{'route':45} {'kind':16} {'n':>5} {'CPU ms':>7} {'wall ms':>8} {'SQL':>5}")
    for row in rows:
        print(
            f"{row['route']:45} {row['kind']:16} {row['requests']:5} {row['cpuMs']:7.2f} "
            f"{row['wallMs']:8.2f} {row['statements']:5.1f}"
        )
    per_load = sum(row["cpuMs"] * row["requests"] for row in rows if row["kind"] in model.KINDS) / args.loads
    per_request = per_load / model.requests_per_load()
    print(f"\nCPU per load: {per_load:.0f} ms in the API process ({per_request:.2f} ms/request)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "cpuMsPerLoad": round(per_load, 1)}, indent=2))


if __name__ == "__main__":
    main()
