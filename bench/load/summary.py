"""The summary of one locust run: requests, errors, rate and latency per route, as JSON (read by
`run.py` to write docs/performance.md) and Markdown (for people). Standard library and locust's
own statistics only."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

_statuses: defaultdict[str, Counter[int]] = defaultdict(Counter)
_started = time.time()
_server_errors_whole_run = 0  # warm-up included: the smoke test fails on any of them
_requests_whole_run = 0  # warm-up included: run.py divides the CPU time it measured by it


def is_server_error(status: int) -> bool:
    return status >= 500 or status == 0


def record_status(route: str, status: int) -> None:
    """Status codes per route (0 = no answer: connection refused, reset or timed out)."""
    global _server_errors_whole_run, _requests_whole_run
    _statuses[route][status] += 1
    _requests_whole_run += 1
    _server_errors_whole_run += is_server_error(status)


def end_warmup(environment: Any) -> None:
    """Forget the warm-up's figures: the run is measured once the load mix is steady."""
    environment.stats.reset_all()
    _statuses.clear()


def _route(entry: Any, seconds: float) -> dict[str, Any]:
    statuses = _statuses.get(entry.name, Counter())
    return {
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "serverErrors": sum(n for status, n in statuses.items() if is_server_error(status)),
        "rate": round(entry.num_requests / seconds, 2) if seconds else 0.0,
        "p50": entry.get_response_time_percentile(0.50),
        "p95": entry.get_response_time_percentile(0.95),
        "p99": entry.get_response_time_percentile(0.99),
        "max": round(entry.max_response_time or 0, 1),
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
    }


def collect(environment: Any) -> dict[str, Any]:
    stats = environment.stats
    total = stats.total
    first = total.start_time or _started
    last = total.last_request_timestamp or time.time()
    seconds = max(last - first, 1e-9)
    routes = {entry.name: _route(entry, seconds) for entry in stats.entries.values()}
    errors = sum(route["failures"] for route in routes.values())
    return {
        "seconds": round(seconds, 1),
        "users": environment.runner.user_count if environment.runner else 0,
        "requests": total.num_requests,
        "failures": errors,
        "errorRate": round(errors / total.num_requests, 5) if total.num_requests else 0.0,
        "serverErrors": sum(route["serverErrors"] for route in routes.values()),
        "serverErrorsWholeRun": _server_errors_whole_run,
        "requestsWholeRun": _requests_whole_run,
        "rate": round(total.num_requests / seconds, 2),
        "p50": total.get_response_time_percentile(0.50),
        "p95": total.get_response_time_percentile(0.95),
        "p99": total.get_response_time_percentile(0.99),
        "routes": dict(sorted(routes.items())),
        "failureSamples": [
            {"route": f.name, "error": str(f.error)[:200], "occurrences": f.occurrences}
            for f in list(stats.errors.values())[:20]
        ],
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"{result['requests']} requests in {result['seconds']} s ({result['rate']} req/s), "
        f"{result['failures']} failed ({result['errorRate']:.3%}), {result['serverErrors']} server errors; "
        f"p50 {result['p50']:.0f} ms, p95 {result['p95']:.0f} ms, p99 {result['p99']:.0f} ms.",
        "",
        "| Route | Requests | Failed | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, route in result["routes"].items():
        lines.append(
            f"| `{name}` | {route['requests']} | {route['failures']} | {route['rate']} | "
            f"{route['p50']:.0f} | {route['p95']:.0f} | {route['p99']:.0f} |"
        )
    for sample in result["failureSamples"]:
        lines.append(f"\nFailure ×{sample['occurrences']} on `{sample['route']}`: {sample['error']}")
    return "\n".join(lines) + "\n"


def write(environment: Any, prefix: Path) -> None:
    result = collect(environment)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_name(prefix.name + ".json").write_text(json.dumps(result, indent=2))
    prefix.with_name(prefix.name + ".md").write_text(markdown(result))
