"""Reading `/metrics` in tests: the Prometheus text parsed into samples and declared families."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

# Every family issue 8 asks for, with its type (alert rules and dashboards use these names).
FAMILIES = {
    "http_requests": "counter",
    "http_request_duration_seconds": "histogram",
    "db_pool_connections_in_use": "gauge",
    "db_pool_size": "gauge",
    "db_connection_errors": "counter",
    "db_query_errors": "counter",
    "redis_errors": "counter",
    "rate_limit_degraded": "gauge",
    "acs_rule_evaluations": "counter",
    "acs_rule_matches": "counter",
    "acs_rule_errors": "counter",
    "acs_decisions": "counter",
    "acs_decision_seconds": "histogram",
    "acs_critical_matches": "counter",
    "audit_chain_length": "gauge",
    "audit_last_verification_ok": "gauge",
    "job_runs": "counter",
    "job_last_success_timestamp_seconds": "gauge",
    "webhook_deliveries": "counter",
    "bookings_created": "counter",
    "bids_placed": "counter",
    "shipments_completed": "counter",
    "bidding_fees_paise": "counter",
}


@dataclass(frozen=True)
class Scrape:
    families: dict[str, str]  # declared family name (without _total) -> type
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """A sample's value; 0 when the series does not exist (yet)."""
        return self.samples.get((name, frozenset((labels or {}).items())), 0.0)

    def exists(self, name: str, labels: Mapping[str, str] | None = None) -> bool:
        return (name, frozenset((labels or {}).items())) in self.samples

    def series(self, name: str) -> dict[frozenset[tuple[str, str]], float]:
        return {labels: value for (sample, labels), value in self.samples.items() if sample == name}


def parse(text: str) -> Scrape:
    families: dict[str, str] = {}
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(families, samples)
