"""Times the project's ACS engine on the benchmark corpus with the reference bundle.

Run: ``python bench/acs/python_bench.py [--corpus bench/acs/corpus.json] [--out FILE] [--summaries FILE]``

Everything an engine needs is prepared before timing: the bundle is loaded, every event's
``AcsEvent`` and facts are built, and (for the main figure) the evaluation context too. Three
figures are measured, each with warm-up passes first:

* ``decide``: ``engine.decide(bundle, event, context, facts=..., now_ms=at)`` -- the decision the
  service waits for (rules in priority order, and for matched rules their reasons and resolved
  actions), context prebuilt;
* ``build_context+decide``: the same plus ``engine.build_context`` per event;
* ``conditions``: only the conditions of the event type's rules (``condition.evaluate(...) is
  True``) -- the same work the jexl harness does, for a like-for-like comparison.

Throughput (events/s) comes from passes timed as a whole (no per-event clock reads); latency
percentiles from separate passes that time every event with ``time.perf_counter_ns``.

Every decision is summarised as ``id<TAB>OUTCOME<TAB>matched ids<TAB>errored ids``; the checksum
is the SHA-256 of those lines, so the jexl harness can be compared line by line.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rodistaa.acs.bundle import Bundle, load_bundle  # noqa: E402
from rodistaa.acs.engine import AcsEvent, Decision, build_context, decide  # noqa: E402
from rodistaa.acs.lang import ExpressionEvaluationError  # noqa: E402

Prepared = tuple[
    AcsEvent, dict[str, Any], dict[str, Any], dict[str, Any], int
]  # event, names, context, facts, now


def prepare(corpus: dict[str, Any]) -> list[Prepared]:
    config = corpus["systemConfig"]
    prepared = []
    for raw in corpus["events"]:
        at = datetime.fromtimestamp(raw["at"] / 1000, UTC)
        event = AcsEvent(raw["type"], raw["id"], at, raw["ctx"], raw.get("payload") or {})
        context = build_context(event, raw["names"], config)
        prepared.append((event, raw["names"], context, raw["facts"], raw["at"]))
    return prepared


def summary_line(event_id: str, outcome: str, matched: list[str], errored: list[str]) -> str:
    return f"{event_id}\t{outcome}\t{','.join(matched)}\t{','.join(errored)}"


def summarise(event: AcsEvent, decision: Decision) -> str:
    return summary_line(
        event.id,
        decision.outcome.value,
        [m.rule_id for m in decision.matched],
        [e.rule_id for e in decision.errors],
    )


# -- the three workloads: each takes one prepared event -------------------------------------------


def make_workloads(bundle: Bundle, config: dict[str, Any]) -> dict[str, Callable[[Prepared], Any]]:
    def run_decide(p: Prepared) -> Any:
        return decide(bundle, p[0], p[2], facts=p[3], now_ms=p[4])

    def run_build_and_decide(p: Prepared) -> Any:
        context = build_context(p[0], p[1], config)
        return decide(bundle, p[0], context, facts=p[3], now_ms=p[4])

    def run_conditions(p: Prepared) -> Any:
        event, _, context, facts, now = p
        matched = []
        for rule in bundle.rules_for(event.type):
            try:
                if rule.condition.evaluate(context, facts=facts, now_ms=now) is True:
                    matched.append(rule.id)
            except ExpressionEvaluationError:
                pass
        return matched

    return {"decide": run_decide, "build_context+decide": run_build_and_decide, "conditions": run_conditions}


def throughput_pass(work: Callable[[Prepared], Any], events: list[Prepared]) -> float:
    gc.collect()
    start = time.perf_counter_ns()
    for p in events:
        work(p)
    return (time.perf_counter_ns() - start) / 1e9


def latency_pass(work: Callable[[Prepared], Any], events: list[Prepared], into: list[int]) -> None:
    gc.collect()
    clock = time.perf_counter_ns
    append = into.append
    for p in events:
        t0 = clock()
        work(p)
        append(clock() - t0)


def percentile(sorted_ns: list[int], q: float) -> float:
    """Nearest-rank percentile (the same definition as the Node harness), in microseconds."""
    rank = max(1, min(len(sorted_ns), -(-len(sorted_ns) * q // 100)))
    return sorted_ns[int(rank) - 1] / 1000


def measure(
    work: Callable[[Prepared], Any], events: list[Prepared], warmup: int, passes: int
) -> dict[str, Any]:
    for _ in range(warmup):
        throughput_pass(work, events)
    seconds = [throughput_pass(work, events) for _ in range(passes)]
    samples: list[int] = []
    for _ in range(passes):
        latency_pass(work, events, samples)
    samples.sort()
    best = min(seconds)
    median = statistics.median(seconds)
    return {
        "eventsPerSec": round(len(events) / median),
        "eventsPerSecBest": round(len(events) / best),
        "passSeconds": [round(s, 4) for s in seconds],
        "p50Us": round(percentile(samples, 50), 2),
        "p90Us": round(percentile(samples, 90), 2),
        "p99Us": round(percentile(samples, 99), 2),
        "p999Us": round(percentile(samples, 99.9), 2),
        "maxUs": round(samples[-1] / 1000, 2),
        "meanUs": round(sum(samples) / len(samples) / 1000, 2),
        "samples": len(samples),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(HERE / "corpus.json"))
    parser.add_argument("--bundle", default=None, help="default: the bundle the corpus was generated from")
    parser.add_argument("--warmup", type=int, default=int(os.environ.get("ACS_BENCH_WARMUP", 3)))
    parser.add_argument("--passes", type=int, default=int(os.environ.get("ACS_BENCH_PASSES", 5)))
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--summaries", default=None, help="write one decision summary line per event here")
    args = parser.parse_args(argv)

    corpus = json.loads(Path(args.corpus).read_text(encoding="utf-8"))
    bundle = load_bundle(args.bundle or corpus["bundle"])
    if bundle.revision != corpus["bundleRevision"]:
        print("warning: bundle revision differs from the corpus's; regenerate the corpus", file=sys.stderr)
    events = prepare(corpus)
    workloads = make_workloads(bundle, corpus["systemConfig"])

    lines = [summarise(p[0], decide(bundle, p[0], p[2], facts=p[3], now_ms=p[4])) for p in events]
    checksum = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    condition_matches = [",".join(workloads["conditions"](p)) for p in events]
    if condition_matches != [line.split("\t")[2] for line in lines]:
        print("warning: conditions-only matches differ from decide()'s matched rules", file=sys.stderr)

    figures = {name: measure(work, events, args.warmup, args.passes) for name, work in workloads.items()}
    result = {
        "engine": "python",
        "implementation": f"{platform.python_implementation()} {platform.python_version()}",
        "bundleRevision": bundle.revision,
        "events": len(events),
        "warmupPasses": args.warmup,
        "timedPasses": args.passes,
        "checksum": checksum,
        "outcomes": {
            o: sum(1 for line in lines if line.split("\t")[1] == o) for o in ("ALLOW", "REJECT", "THROTTLE")
        },
        "errored": sum(1 for line in lines if line.split("\t")[3]),
        "figures": figures,
        "index": {t: [r.id for r in bundle.rules_for(t)] for t in sorted({p[0].type for p in events})},
    }
    if args.summaries:
        Path(args.summaries).write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
