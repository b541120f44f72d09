"""ACS and audit metrics in one place (exposed at /metrics by the operations layer,
`rodistaa.ops.metrics`; docs/observability.md).

The audit gauges describe the newest stored verification, whoever ran it (`POST
/v1/admin/audit/verify`, `rodistaa audit verify` from cron): `/metrics` reads it before each
scrape (`refresh_audit_gauges`). Until one exists they are NaN in a single process and absent in
multiprocess mode (a `mostrecent` gauge never set is not exported), never 0: a 0 would page
someone for "verification failed" on every fresh start.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram, values

from rodistaa.acs.audit import last_verification

if TYPE_CHECKING:
    from rodistaa.acs.bundle import Bundle
    from rodistaa.db.engine import Database

EVALUATIONS = Counter("acs_rule_evaluations_total", "Rule conditions evaluated", ["rule"])
MATCHES = Counter("acs_rule_matches_total", "Rules matched", ["rule", "mode", "severity"])
ERRORS = Counter("acs_rule_errors_total", "Rule evaluations that errored", ["rule"])
DECISIONS = Counter("acs_decisions_total", "Decisions by outcome", ["event_type", "outcome"])
CRITICAL_MATCHES = Counter("acs_critical_matches_total", "Critical enforce rules matched", ["rule"])
DECISION_SECONDS = Histogram(
    "acs_decision_seconds",
    "Time to decide (facts prefetched), excluding persistence",
    buckets=(0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.05),
)
RELOADS = Counter("acs_bundle_reloads_total", "Bundle reload attempts", ["result"])
# Every instance converges on the active revision: the most recent activation is the truth.
ACTIVE_RULES = Gauge(
    "acs_active_rules", "Enabled rules in the active bundle", multiprocess_mode="livemostrecent"
)
AUDIT_CHAIN_LENGTH = Gauge(
    "audit_chain_length",
    "Entries in the audit chain at the last verification",
    multiprocess_mode="mostrecent",
)
AUDIT_VERIFY_OK = Gauge(
    "audit_last_verification_ok",
    "1 if the last audit verification passed, else 0",
    multiprocess_mode="mostrecent",
)

if values.ValueClass is values.MutexValue:  # one process: see the module docstring
    AUDIT_CHAIN_LENGTH.set(math.nan)
    AUDIT_VERIFY_OK.set(math.nan)


def declare_rules(bundle: Bundle) -> None:
    """Zero series for the enabled rules of `bundle`: increase() cannot see a counter's first
    step, so a rule's first critical match or error would otherwise never alert."""
    for rule in bundle.rules:
        if not rule.enabled:
            continue
        EVALUATIONS.labels(rule.id)
        ERRORS.labels(rule.id)
        MATCHES.labels(rule.id, "shadow" if rule.is_shadow else "enforce", rule.severity)
        if rule.is_critical and not rule.is_shadow:
            CRITICAL_MATCHES.labels(rule.id)


async def refresh_audit_gauges(db: Database) -> None:
    """Set the audit gauges from the newest stored verification (unchanged while none exists)."""
    stored = await last_verification(db)
    if stored is None:
        return
    AUDIT_CHAIN_LENGTH.set(stored.report.count)
    AUDIT_VERIFY_OK.set(1 if stored.report.ok else 0)
