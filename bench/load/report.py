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


def _route_table(first: dict[str, Any], best: dict[str, Any] | None) -> list[str]:
    best_label = f"{best['multiple']:g}×" if best else "—"
    lines = [
        f"| Route | req/s at 1× | p95 ms at 1× | req/s at {best_label} | p95 ms at {best_label} "
        f"| p99 ms at {best_label} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    best_routes = best["result"]["routes"] if best else {}
    for name, route in first["result"]["routes"].items():
        top = best_routes.get(name)
        top_cells = f"{top['rate']} | {top['p95']:.0f} | {top['p99']:.0f}" if top else "— | — | —"
        lines.append(f"| `{name}` | {route['rate']} | {route['p95']:.0f} | {top_cells} |")
    return lines


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
        lines += _route_table(steps[0], best)
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
    gps = results["steps"][-1]["result"]["routes"].get("POST /v1/tracking/ping") if results["steps"] else None
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
            f"highest step it was served at p95 {gps['p95']:.0f} ms.",
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
