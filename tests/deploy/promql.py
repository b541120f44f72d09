"""What the alert rules and the dashboard may query: the metric families the app exports (with
their labels) and node_exporter's filesystem gauges, and a reader that finds the metric names,
label matchers and grouping labels in a PromQL expression.

The reader is deliberately small: it understands the PromQL these artefacts use (selectors,
ranges, offsets, aggregations with by/without, vector matching with on/ignoring/group_*),
which is enough to catch a misspelt metric or label. promtool checks the syntax itself."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Labels every scraped series carries (target labels). With honor_labels the app's own `job`
# label (the periodic job's name) takes the place of the scrape job's on job_* series.
TARGET_LABELS = frozenset({"job", "instance"})

METRICS: dict[str, frozenset[str]] = {
    "http_requests_total": frozenset({"method", "route", "status"}),
    "http_request_duration_seconds_bucket": frozenset({"method", "route", "le"}),
    "db_pool_connections_in_use": frozenset(),
    "db_pool_size": frozenset(),
    "db_connection_errors_total": frozenset(),
    "db_query_errors_total": frozenset(),
    "redis_errors_total": frozenset(),
    "rate_limit_degraded": frozenset(),
    "acs_rule_evaluations_total": frozenset({"rule"}),
    "acs_rule_matches_total": frozenset({"rule", "mode", "severity"}),
    "acs_rule_errors_total": frozenset({"rule"}),
    "acs_decisions_total": frozenset({"event_type", "outcome"}),
    "acs_decision_seconds_bucket": frozenset({"le"}),
    "acs_critical_matches_total": frozenset({"rule"}),
    "audit_chain_length": frozenset(),
    "audit_last_verification_ok": frozenset(),
    "job_runs_total": frozenset({"job", "outcome"}),
    "job_last_success_timestamp_seconds": frozenset({"job"}),
    "webhook_deliveries_total": frozenset({"outcome"}),
    "bookings_created_total": frozenset(),
    "bids_placed_total": frozenset(),
    "shipments_completed_total": frozenset(),
    "bidding_fees_paise_total": frozenset(),
    "node_filesystem_avail_bytes": frozenset({"device", "fstype", "mountpoint"}),
    "node_filesystem_size_bytes": frozenset({"device", "fstype", "mountpoint"}),
}

_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf", "nan"})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*")


@dataclass
class Query:
    metrics: set[str] = field(default_factory=set)
    # (metric, label) for every label matcher written inside a selector's braces
    matchers: set[tuple[str, str]] = field(default_factory=set)
    grouping_labels: set[str] = field(default_factory=set)


def parse(expr: str) -> Query:
    """Metric names, selector label matchers and grouping labels of `expr`."""
    query = Query()
    text = _STRING.sub('""', expr)
    for name, body in _SELECTOR.findall(text):
        for label in _MATCHER.findall(body):
            query.matchers.add((name, label))
    text = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", text)
    for labels in _GROUPING.findall(text):
        query.grouping_labels.update(label.strip() for label in labels.split(",") if label.strip())
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        name = match.group(0)
        followed_by_call = text[match.end() :].lstrip().startswith("(")
        if not followed_by_call and name.lower() not in _KEYWORDS:
            query.metrics.add(name)
    return query


def problems(expr: str, *, extra_metrics: frozenset[str] = frozenset()) -> list[str]:
    """Everything in `expr` that names a metric or label outside METRICS (+ `extra_metrics`,
    whose labels are not checked)."""
    query = parse(expr)
    found = [f"unknown metric {name!r}" for name in sorted(query.metrics - set(METRICS) - extra_metrics)]
    known = [name for name in query.metrics if name in METRICS]
    for name, label in sorted(query.matchers):
        if name in METRICS and label not in METRICS[name] | TARGET_LABELS:
            found.append(f"{name} has no label {label!r}")
    available = set(TARGET_LABELS).union(*(METRICS[name] for name in known))
    if not query.metrics & extra_metrics:
        found.extend(
            f"grouping by unknown label {label!r}" for label in sorted(query.grouping_labels - available)
        )
    return found
