"""deploy/prometheus: the alert rules pass their promtool unit tests, every alert is tested
firing and not firing, carries a severity, a summary and a runbook, queries only metrics the
app exports, and the per-job intervals match the worker's registry. promtool: see tools.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rodistaa.jobs.registry import available_jobs
from tests.deploy.promql import problems
from tests.deploy.tools import promtool

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RUNBOOKS = frozenset(
    {"incident-response", "database", "acs-rules", "audit", "jobs", "redis", "disk", "latency"}
)
INTERVAL_RECORD = "rodistaa:job_expected_interval_seconds"


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / name).read_text())
    return loaded


def rules() -> list[dict[str, Any]]:
    return [rule for group in load("alerts.yml")["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_prometheus_config_and_rules_are_valid() -> None:
    result = subprocess.run(
        [promtool(), "check", "config", "prometheus.yml"],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in load("alerts_test.yml")["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested quiet"
    assert (firing | quiet) - names == set(), "tests name alerts that do not exist"


def test_the_required_alerts_exist() -> None:
    assert {rule["alert"] for rule in alerts()} >= {
        "RodistaaHighErrorRate",
        "RodistaaHighLatencyP95",
        "RodistaaDatabaseConnectionFailures",
        "RodistaaDatabasePoolExhausted",
        "RodistaaAcsCriticalRuleMatched",
        "RodistaaAuditVerificationFailed",
        "RodistaaJobFailing",
        "RodistaaJobNotSucceeding",
        "RodistaaRateLimitDegraded",
        "RodistaaDiskSpaceLow",
    }


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule["alert"])
def test_alert_has_severity_summary_and_runbook(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning"}
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert annotations["description"].strip()
    runbook = re.fullmatch(r"docs/runbooks/([a-z-]+)\.md", annotations["runbook_url"])
    assert runbook is not None, annotations["runbook_url"]
    assert runbook.group(1) in RUNBOOKS


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule.get("alert") or rule["labels"]["job"])
def test_rules_query_only_exported_metrics(rule: dict[str, Any]) -> None:
    extra = frozenset({"up", INTERVAL_RECORD})
    assert problems(rule["expr"], extra_metrics=extra) == []


def test_job_intervals_match_the_worker_registry() -> None:
    """A job added to the registry (or an interval changed) without its line here would make
    RodistaaJobNotSucceeding fall back to three days for it."""
    recorded = {}
    for rule in rules():
        if rule.get("record") == INTERVAL_RECORD:
            seconds = re.fullmatch(r"vector\((\d+)\)", rule["expr"])
            assert seconds is not None, rule["expr"]
            recorded[rule["labels"]["job"]] = float(seconds.group(1))
    expected = {name: interval for name, (_description, _run, interval) in available_jobs().items()}
    assert recorded == expected


def test_prometheus_scrapes_the_app_with_its_job_label_kept() -> None:
    config = load("prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    scrape = {job["job_name"]: job for job in config["scrape_configs"]}
    app = scrape["rodistaa"]
    assert app["honor_labels"] is True
    assert app["metrics_path"] == "/metrics"
    assert app["static_configs"] == [{"targets": ["app:8000"]}]
    assert scrape["node"]["static_configs"] == [{"targets": ["node-exporter:9100"]}]
