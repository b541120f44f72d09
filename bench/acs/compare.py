"""Compares the two engines' runs: throughput, latency, decision agreement; writes results.json.

Run by ``bench/acs/run`` after ``python_bench.py`` and ``node/bench.js``; it reads their JSON
results and per-event decision summaries (``id<TAB>OUTCOME<TAB>matched<TAB>errored``).

Disagreements are explained per rule: for each rule only one engine matched, the Python engine
re-evaluates the condition with tracing (the values of every path it read) and known semantic
differences between jexl 2.3 and the ACS language are recognised.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rodistaa.acs.bundle import Bundle, load_bundle  # noqa: E402
from rodistaa.acs.engine import AcsEvent, build_context  # noqa: E402

GOAL_RATIO = 10.0  # Python events/s >= 10x jexl's
GOAL_P99_US = 50.0  # Python p99 per event, full bundle
MAX_EXPLAINED = 5


def read_summaries(path: Path) -> dict[str, tuple[str, frozenset[str], frozenset[str]]]:
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        event_id, outcome, matched, errored = line.split("\t")
        rows[event_id] = (
            outcome,
            frozenset(filter(None, matched.split(","))),
            frozenset(filter(None, errored.split(","))),
        )
    return rows


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        run = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
        node = run.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        node = "unknown"
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "node": node,
        "os": f"{platform.system()} {platform.release()}",
    }


def explain(bundle: Bundle, raw: dict[str, Any], config: dict[str, Any], rule_id: str) -> dict[str, Any]:
    rule = bundle.get(rule_id)
    assert rule is not None
    event = AcsEvent(raw["type"], raw["id"], datetime.fromtimestamp(raw["at"] / 1000, UTC), raw["ctx"])
    context = build_context(event, raw["names"], config)
    value, trace = rule.condition.evaluate_with_trace(context, facts=raw["facts"], now_ms=raw["at"])
    cause = "unexplained"
    for path, seen in trace.items():
        if isinstance(seen, dict) and re.search(rf"\bin\s+{re.escape(path)}\b", rule.condition.source):
            cause = (
                f"`x in {path}` where {path} is an object: jexl 2.3's `in` only searches arrays and "
                "strings, so it is always false for an object, while the ACS language (ACS.md §2) "
                "defines `x in mapping` as key membership"
            )
            break
    shown = {k: (f"<object with {len(v)} keys>" if isinstance(v, dict) else v) for k, v in trace.items()}
    return {
        "rule": rule_id,
        "condition": rule.condition.source,
        "pythonValue": value,
        "read": shown,
        "cause": cause,
    }


def compare(args: argparse.Namespace) -> dict[str, Any]:
    corpus = json.loads(Path(args.corpus).read_text(encoding="utf-8"))
    py = json.loads(Path(args.python).read_text(encoding="utf-8"))
    js = json.loads(Path(args.jexl).read_text(encoding="utf-8"))
    py_rows = read_summaries(Path(args.python_summaries))
    js_rows = read_summaries(Path(args.jexl_summaries))
    bundle = load_bundle(corpus["bundle"])
    events = {e["id"]: e for e in corpus["events"]}

    differing = [i for i in events if py_rows.get(i) != js_rows.get(i)]
    by_rule: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    explained: list[dict[str, Any]] = []
    for event_id in differing:
        (p_out, p_matched, p_err), (j_out, j_matched, j_err) = py_rows[event_id], js_rows[event_id]
        rules = sorted((p_matched ^ j_matched) | (p_err ^ j_err))
        by_rule.update(rules)
        details = [explain(bundle, events[event_id], corpus["systemConfig"], r) for r in rules]
        causes.update("known" if d["cause"] != "unexplained" else "unexplained" for d in details)
        if len(explained) < MAX_EXPLAINED:
            explained.append(
                {
                    "event": event_id,
                    "type": events[event_id]["type"],
                    "python": {"outcome": p_out, "matched": sorted(p_matched), "errored": sorted(p_err)},
                    "jexl": {"outcome": j_out, "matched": sorted(j_matched), "errored": sorted(j_err)},
                    "rules": details,
                }
            )

    def intent(rows: dict[str, tuple[str, frozenset[str], frozenset[str]]]) -> dict[str, Any]:
        wrong = [i for i, e in events.items() if rows[i][1] != frozenset(e["expect"])]
        rules = Counter(r for i in wrong for r in rows[i][1] ^ frozenset(events[i]["expect"]))
        return {
            "eventsAsBuilt": len(events) - len(wrong),
            "eventsNotAsBuilt": len(wrong),
            "byRule": dict(rules),
        }

    pd, pc, jc = py["figures"]["decide"], py["figures"]["conditions"], js["figures"]["conditions"]
    ratio = pd["eventsPerSec"] / jc["eventsPerSec"]
    return {
        "command": "bench/acs/run",
        "generatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "corpus": {
            "events": len(events),
            "eventTypes": len({e["type"] for e in events.values()}),
            "builtToMatch": sum(1 for e in events.values() if e["expect"]),
            "seed": corpus["seed"],
            "bundle": corpus["bundle"],
            "bundleRevision": corpus["bundleRevision"],
        },
        "python": py,
        "jexl": js,
        "comparison": {
            "ratioPythonDecideOverJexl": round(ratio, 3),
            "ratioPythonConditionsOverJexl": round(pc["eventsPerSec"] / jc["eventsPerSec"], 3),
            "ratioPythonBuildAndDecideOverJexl": round(
                py["figures"]["build_context+decide"]["eventsPerSec"] / jc["eventsPerSec"], 3
            ),
            "checksumsAgree": py["checksum"] == js["checksum"],
            "eventsDisagreeing": len(differing),
            "disagreementsByRule": dict(by_rule),
            "disagreementCauses": dict(causes),
            "firstDifferences": explained,
            "indexAgrees": py["index"] == js["index"],
            "pythonVsIntent": intent(py_rows),
            "jexlVsIntent": intent(js_rows),
        },
        "goal": {
            "throughputRatio": {
                "target": f">= {GOAL_RATIO:g}x jexl",
                "measured": round(ratio, 3),
                "met": ratio >= GOAL_RATIO,
            },
            "p99": {
                "target": f"< {GOAL_P99_US:g} us",
                "measured": pd["p99Us"],
                "met": pd["p99Us"] < GOAL_P99_US,
            },
        },
    }


def met(goal: dict[str, Any]) -> str:
    return "MET" if goal["met"] else "NOT MET"


def report(r: dict[str, Any]) -> str:
    py, js, cmp_, goal = r["python"]["figures"], r["jexl"]["figures"], r["comparison"], r["goal"]
    m = r["machine"]
    out = [
        f"ACS benchmark: {r['corpus']['events']} events, {r['corpus']['eventTypes']} event types, "
        f"{r['corpus']['builtToMatch'] / r['corpus']['events']:.1%} built to match; "
        f"bundle {r['corpus']['bundleRevision'][:12]}",
        f"machine: {m['nproc']} cpu ({m['cpu']}), Python {m['python']}, Node {m['node']}",
        "",
        f"{'engine / workload':44} {'events/s':>10} {'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9}",
    ]
    rows = [
        ("python decide (context prebuilt)", py["decide"]),
        ("python build_context + decide", py["build_context+decide"]),
        ("python conditions only", py["conditions"]),
        (f"jexl {r['jexl']['implementation'].split()[1]} evalSync, conditions + verdict", js["conditions"]),
        ("jexl async eval (for reference)", js["conditions-async"]),
    ]
    for name, f in rows:
        out.append(
            f"{name:44} {f['eventsPerSec']:>10,} {f['p50Us']:>8.2f} {f['p99Us']:>8.2f} {f['p999Us']:>9.2f}"
        )
    out += [
        "",
        f"ratio python/jexl: decide {cmp_['ratioPythonDecideOverJexl']:.2f}x, "
        f"build_context+decide {cmp_['ratioPythonBuildAndDecideOverJexl']:.2f}x, "
        f"conditions only {cmp_['ratioPythonConditionsOverJexl']:.2f}x",
        f"goal throughput {goal['throughputRatio']['target']}: {met(goal['throughputRatio'])} "
        f"({goal['throughputRatio']['measured']:.2f}x)",
        f"goal p99 {goal['p99']['target']}: {met(goal['p99'])} ({goal['p99']['measured']:.2f} us)",
        "",
        f"decision checksums: python {r['python']['checksum'][:16]}  jexl {r['jexl']['checksum'][:16]}  "
        + ("AGREE" if cmp_["checksumsAgree"] else f"DIFFER on {cmp_['eventsDisagreeing']} events"),
        f"rule index by event type agrees: {cmp_['indexAgrees']}",
        f"python vs generator intent: {cmp_['pythonVsIntent']['eventsNotAsBuilt']} events differ; "
        f"jexl vs intent: {cmp_['jexlVsIntent']['eventsNotAsBuilt']} events differ "
        f"{cmp_['jexlVsIntent']['byRule'] or ''}",
    ]
    if not cmp_["checksumsAgree"]:
        out.append(
            f"disagreements by rule: {cmp_['disagreementsByRule']}; causes: {cmp_['disagreementCauses']}"
        )
        for d in cmp_["firstDifferences"]:
            out.append(
                f"  {d['event']} ({d['type']}): python {d['python']['outcome']} {d['python']['matched']}, "
                f"jexl {d['jexl']['outcome']} {d['jexl']['matched']}"
            )
            for rule in d["rules"]:
                out.append(f"    {rule['rule']}: {rule['cause']}")
                out.append(f"      read: {json.dumps(rule['read'], default=str)[:300]}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(HERE / "corpus.json"))
    parser.add_argument("--python", default=str(HERE / "out" / "python.json"))
    parser.add_argument("--jexl", default=str(HERE / "out" / "jexl.json"))
    parser.add_argument("--python-summaries", default=str(HERE / "out" / "python.decisions.tsv"))
    parser.add_argument("--jexl-summaries", default=str(HERE / "out" / "jexl.decisions.tsv"))
    parser.add_argument("--out", default=str(HERE / "results.json"))
    args = parser.parse_args(argv)
    result = compare(args)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(report(result))
    print(f"\nresults written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
