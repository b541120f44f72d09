"""docs/performance.md from one `make loadtest` run: the model's figures (from `model.py`), the
measured steps, the ceiling comparison and the machine, around the hand-written findings in
`findings.md` (profiling and what each fix gained). Nothing in the measured sections is typed by
hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import model

HERE = Path(__file__).resolve().parent
P95_TARGET_MS, ERROR_RATE_TARGET = 200, 0.001


def _model_section() -> list[str]:
    groups = model.requests_by_group()
    lines = [
        "## The freight-day model",
        "",
        f"One load is {model.requests_per_load()} requests (`bench/load/model.py`, replayed step by step "
        "by the locust scenario):",
        "",
        "| Per load | Requests |",
        "|---|---:|",
    ]
    lines += [f"| {group} | {count} |" for group, count in groups.most_common()]
    lines += [
        "",
        "| Route | Requests per load |",
        "|---|---:|",
    ]
    lines += [f"| `{route}` | {count} |" for route, count in model.requests_by_route().most_common()]
    lines += [
        "",
        f"{model.LOADS_PER_DAY:,} loads a day × {model.requests_per_load()} requests = "
        f"{model.LOADS_PER_DAY * model.requests_per_load():,} requests a day, "
        f"{model.average_rate():.1f} req/s on average. The peak hour carries {model.PEAK_HOUR_FACTOR}× the "
        f"average: **the seed's peak (1×) is {model.peak_rate():.1f} req/s**, "
        f"{model.peak_loads_per_second():.3f} loads starting every second. "
        f"The goal, 10×, is {10 * model.peak_rate():.0f} req/s.",
        "",
    ]
    return lines


def _route_table(columns: list[dict[str, Any]]) -> list[str]:
    """Per route: rate, p95 and p99 at each of the given steps (1x, the best, the first missed)."""
    header, rule = "| Route |", "|---|"
    for step in columns:
        label = f"{step['multiple']:g}×"
        header += f" req/s at {label} | p95 ms at {label} | p99 ms at {label} |"
        rule += "---:|---:|---:|"
    lines = [header, rule]
    for name in columns[0]["result"]["routes"]:
        cells = ""
        for step in columns:
            route = step["result"]["routes"].get(name)
            missing = " — | — | — |"
            cells += f" {route['rate']} | {route['p95']:.0f} | {route['p99']:.0f} |" if route else missing
        lines.append(f"| `{name}` |{cells}")
    return lines


def _cost_table(steps: list[dict[str, Any]]) -> list[str]:
    """CPU per request and cores busy, by process, for each step: the cost against the machine."""
    parts = list(steps[0]["result"]["cpuMsPerRequest"])
    titles = " | ".join(f"{part} ms/request" for part in parts)
    rule = "|---:|" + "---:|" * (len(parts) + 1)
    lines = [f"| Multiple | {titles} | cores busy (of the machine's) |", rule]
    for step in steps:
        cost, busy = step["result"]["cpuMsPerRequest"], step["result"]["cpuCoresBusy"]
        cells = " | ".join(f"{cost[part]:.2f}" for part in parts)
        lines.append(f"| {step['multiple']:g}× | {cells} | {busy.get('whole machine', 0):.2f} |")
    return lines


def _hardware_limit(step: dict[str, Any], cores: int) -> str:
    """What the machine could serve if every core were busy with this mix and nothing queued."""
    per_request = step["result"]["cpuMsPerRequest"]["whole machine"]
    limit = cores * 1000 / per_request
    return (
        f"At {step['multiple']:g}× the whole machine spent {per_request:.1f} ms of CPU per request, load "
        f"generator included, so its {cores} cores could serve at most {limit:.0f} req/s of this mix "
        f"({limit / model.peak_rate():.1f}× the peak) with every core busy and no queueing at all."
    )


def _steps_section(results: dict[str, Any]) -> list[str]:
    steps = results["steps"]
    held = [step for step in steps if not step["misses"]]
    best = held[-1] if held else None
    lines = [
        "## Results",
        "",
        f"Each multiple ran for {results['loadSeconds']:g} s of warm-up (one load's length, so the mix "
        f"is steady) and then {results['stepSeconds']:g} s measured. A multiple holds when "
        f"p95 < {P95_TARGET_MS} ms, the error rate < {ERROR_RATE_TARGET:.1%}, and the achieved rate is "
        "at least 95 % of the target.",
        "",
        "| Multiple | Users | Target req/s | Achieved req/s | Requests | Errors "
        "| p50 ms | p95 ms | p99 ms | Held |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for step in steps:
        r = step["result"]
        verdict = "yes" if not step["misses"] else "no: " + "; ".join(step["misses"])
        lines.append(
            f"| {step['multiple']:g}× | {step['users']} | {step['target']:.1f} | {r['rate']:.1f} "
            f"| {r['requests']} | {r['failures']} ({r['errorRate']:.3%}) | {r['p50']:.0f} "
            f"| {r['p95']:.0f} | {r['p99']:.0f} | {verdict} |"
        )
    headline = (
        f"**Highest multiple sustained: {best['multiple']:g}× the seed's peak "
        f"({best['result']['rate']:.1f} req/s).**"
        if best
        else "**No multiple held, not even 1×.**"
    )
    lines += [
        "",
        headline,
        "",
        "### Per route",
        "",
    ]
    if steps:
        missed = next((step for step in steps if step["misses"]), None)
        shown = [steps[0], *(s for s in (best, missed) if s is not None and s is not steps[0])]
        lines += _route_table(shown)
        lines += [
            "",
            "### What a request costs",
            "",
            "CPU milliseconds per request in each process, over the whole step (warm-up included), and how "
            "many of the machine's cores were busy on average (`/proc`; `whole machine` includes the load "
            "generator):",
            "",
            *_cost_table(steps),
            "",
            _hardware_limit(steps[0], results["machine"]["cores"]),
        ]
    failures = [(step["multiple"], s) for step in steps for s in step["result"]["failureSamples"]]
    if failures:
        lines += ["", "Failures seen (first of each kind):", ""]
        lines += [f"- at {m:g}×, ×{s['occurrences']} `{s['route']}`: {s['error']}" for m, s in failures[:15]]
    return [*lines, ""]


def _ceiling_section(results: dict[str, Any]) -> list[str]:
    bookings, ceiling = results.get("bookingBurst"), results.get("ceilingBurst")
    if not bookings or not ceiling:
        return []
    booking_rate = bookings["routes"].get("POST /v1/bookings", {}).get("rate", 0.0)
    ceiling_rate = ceiling["rate"]
    share = booking_rate / ceiling_rate if ceiling_rate else 0.0
    last = results["steps"][-1] if results["steps"] else None
    gps = last["result"]["routes"].get("POST /v1/tracking/ping") if last else None
    lines = [
        "## Against the ceiling",
        "",
        "The ceiling app (`bench/ceiling/app.py`) is the cheapest request that writes: raw ASGI on the same "
        "Uvicorn, worker count, PostgreSQL and engine settings, one INSERT per request. Both were driven by "
        "32 locust users sending back to back, the service's bookings each from the next seeded shipper.",
        "",
        "| Back to back | req/s | p50 ms | p95 ms | Errors |",
        "|---|---:|---:|---:|---:|",
        f"| Ceiling: one INSERT | {ceiling_rate:.1f} | {ceiling['p50']:.0f} | {ceiling['p95']:.0f} "
        f"| {ceiling['failures']} |",
        f"| `POST /v1/bookings` | {booking_rate:.1f} | {bookings['p50']:.0f} | {bookings['p95']:.0f} "
        f"| {bookings['failures']} |",
        "",
        f"**Booking creation reaches {share:.0%} of the ceiling** (goal ≥ 50 %).",
    ]
    if gps and gps["rate"]:
        lines += [
            "",
            "A GPS batch was not driven back to back (each shipment's batches are rate limited); in the "
            f"last step ({last['multiple']:g}×) it was served at p95 {gps['p95']:.0f} ms.",
        ]
    return [*lines, ""]


def _machine_section(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    return [
        "## The machine and the run",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; memory {m['memory']}; {m['os']}",
        f"- Python {m['python']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}; commit `{m['commit']}`",
        f"- The server: `rodistaa serve --workers {results['workers']}` with production settings "
        "(`ENV=production`, PostgreSQL, Redis, SMS over HTTP, secrets generated for the run) and "
        "`rodistaa worker` beside it. The load generator (locust, one process) runs on the same machine "
        "and takes its share of the same cores.",
        f"- Seeding took {results['seedSeconds']:.0f} s; "
        f"the whole run {results['totalSeconds'] / 60:.1f} min.",
        "",
    ]


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Performance",
        "",
        "<!-- Written by `make loadtest` (bench/load/run.py); edit bench/load/findings.md or "
        "bench/load/report.py instead. -->",
        "",
    ]
    lines += (
        _model_section() + _steps_section(results) + _ceiling_section(results) + _machine_section(results)
    )
    findings = HERE / "findings.md"
    if findings.exists():
        lines.append(findings.read_text().rstrip() + "\n")
    return "\n".join(lines)
