"""ACS and audit metrics in one place (exposed at /metrics by the operations layer)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
ACTIVE_RULES = Gauge("acs_active_rules", "Enabled rules in the active bundle")
AUDIT_CHAIN_LENGTH = Gauge("audit_chain_length", "Entries in the audit chain at the last verification")
AUDIT_VERIFY_OK = Gauge("audit_last_verification_ok", "1 if the last audit verification passed, else 0")
