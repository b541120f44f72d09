"""deploy/grafana: the dashboard parses, every panel queries only metrics the app (or
node_exporter) exports, every exported family is on it, and the provisioning files point where
compose mounts them; promtool checks every panel query's syntax (tools.py says when it may skip)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promql import METRICS, parse, problems
from tests.deploy.tools import promtool

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "rodistaa.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def query_panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def expressions() -> list[str]:
    return [target["expr"] for panel in query_panels() for target in panel["targets"]]


def test_dashboard_identity_and_datasource_variable() -> None:
    board = dashboard()
    assert board["uid"] == "rodistaa-core"
    assert board["title"] == "Rodistaa Core"
    [variable] = board["templating"]["list"]
    assert variable == {**variable, "name": "datasource", "type": "datasource", "query": "prometheus"}


def test_panels_have_unique_ids_and_fit_the_grid() -> None:
    panels = dashboard()["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        position = panel["gridPos"]
        assert position["x"] >= 0 and position["x"] + position["w"] <= 24, panel["title"]
        assert position["h"] > 0


@pytest.mark.parametrize("panel", query_panels(), ids=lambda panel: panel["title"])
def test_panel_queries_use_the_datasource_variable_and_known_metrics(panel: dict[str, Any]) -> None:
    assert panel["datasource"] == DATASOURCE
    assert panel["targets"], "a panel without a query"
    ref_ids = [target["refId"] for target in panel["targets"]]
    assert len(ref_ids) == len(set(ref_ids))
    for target in panel["targets"]:
        assert target["datasource"] == DATASOURCE
        assert problems(target["expr"]) == [], target["expr"]


def test_every_exported_metric_is_on_the_dashboard() -> None:
    used = set().union(*(parse(expr).metrics for expr in expressions()))
    assert set(METRICS) - used == set()


def test_panel_queries_are_valid_promql(tmp_path: Path) -> None:
    """Grafana's range variables replaced by durations, every query becomes a recording rule
    that `promtool check rules` parses."""
    tool = promtool()
    rule_file = tmp_path / "panels.yml"
    queries = [expr.replace("$__rate_interval", "1m").replace("$__range", "1h") for expr in expressions()]
    rules = [{"record": f"panel:query_{index}", "expr": expr} for index, expr in enumerate(queries)]
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run(
        [tool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_provisioning_matches_the_compose_mounts() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    mounts = {
        volume.split(":")[0]: volume.split(":")[1] for volume in compose["services"]["grafana"]["volumes"]
    }
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    providers = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "rodistaa.yml").read_text())
    [provider] = providers["providers"]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    [source] = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
