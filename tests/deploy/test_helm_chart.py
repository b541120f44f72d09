"""deploy/helm/rodistaa: the chart's metadata and values, every `.Values` path a template reads
exists, the settings it passes are real settings that production accepts once the two
deployment-specific ones are given, and, when `helm` is installed, `helm lint --strict` passes
and `helm template` renders the objects with the probes, hook, secrets and hardening expected.

Helm is not packaged in Debian 12; without it the rendering tests skip and say so."""

from __future__ import annotations

import base64
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

import yaml

from rodistaa.settings import Settings
from tests.deploy.tools import helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "rodistaa"
VALUES_REFERENCE = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "rodistaa"
    assert chart["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in pyproject


def test_every_values_path_used_by_a_template_exists() -> None:
    known = values()
    for template in sorted((CHART / "templates").iterdir()):
        for match in VALUES_REFERENCE.finditer(template.read_text()):
            node: Any = known
            for key in match.group(1).strip(".").split("."):
                assert isinstance(node, dict) and key in node, f"{template.name}: .Values{match.group(1)}"
                node = node[key]


def test_config_and_secret_env_name_real_settings() -> None:
    chart_values = values()
    names = set(chart_values["config"]) | set(chart_values["secretEnv"])
    assert {name for name in names if name.lower() not in Settings.model_fields} == set()
    assert set(chart_values["config"]).isdisjoint(chart_values["secretEnv"])


def test_secrets_come_from_existing_secrets_only() -> None:
    secret_env = values()["secretEnv"]
    assert set(secret_env) == {
        "DATABASE_URL",
        "REDIS_URL",
        "JWT_KEYS",
        "JWT_ACTIVE_KID",
        "HMAC_KEY",
        "LOCAL_KMS_KEYS",
        "PAYMENT_WEBHOOK_SECRET",
        "OTP_HTTP_TOKEN",
    }
    for reference in secret_env.values():
        assert set(reference) == {"secretName", "key"}
    assert not list((CHART / "templates").glob("secret*.yaml")), "the chart must not create Secrets"


def test_default_config_is_refused_only_for_the_deployment_specific_settings() -> None:
    """The migration Job fails, naming them, until OTP_HTTP_URL and S3_BUCKET are given."""
    config: dict[str, Any] = {name.lower(): value for name, value in values()["config"].items()}
    fake_secrets: dict[str, Any] = {
        "database_url": "postgresql+asyncpg://rodistaa:pw@db:5432/rodistaa",
        "redis_url": "redis://redis:6379/0",
        "jwt_keys": f"k1:{secrets.token_urlsafe(48)}",
        "jwt_active_kid": "k1",
        "hmac_key": secrets.token_urlsafe(48),
        "local_kms_keys": "1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "payment_webhook_secret": secrets.token_urlsafe(48),
    }
    refused = Settings(_env_file=None, **config, **fake_secrets).production_problems()  # type: ignore[call-arg]
    assert [problem.split(":", 1)[0] for problem in refused] == ["OTP_HTTP_URL", "S3_BUCKET"]
    given = {**config, "otp_http_url": "https://sms.example.com/send", "s3_bucket": "files"}
    accepted = Settings(_env_file=None, **given, **fake_secrets)  # type: ignore[call-arg]
    assert accepted.production_problems() == []


def render(*overrides: str) -> list[dict[str, Any]]:
    command = [helm(), "template", "rel", str(CHART), "--namespace", "prod"]
    for override in overrides:
        command += ["--set", override]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    documents: list[dict[str, Any]] = [document for document in yaml.safe_load_all(result.stdout) if document]
    return documents


def by_kind(documents: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(document["kind"], document["metadata"]["name"]): document for document in documents}


def container(document: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = document["spec"]["template"]["spec"]["containers"]
    assert len(found) == 1
    return found[0]


def test_helm_lint_strict() -> None:
    result = subprocess.run(
        [helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_objects() -> None:
    objects = by_kind(render())
    assert set(objects) == {
        ("ConfigMap", "rel-rodistaa"),
        ("ServiceAccount", "rel-rodistaa"),
        ("Service", "rel-rodistaa"),
        ("Deployment", "rel-rodistaa-api"),
        ("Deployment", "rel-rodistaa-worker"),
        ("HorizontalPodAutoscaler", "rel-rodistaa-api"),
        ("PodDisruptionBudget", "rel-rodistaa-api"),
        ("Job", "rel-rodistaa-migrate"),
    }
    api = objects[("Deployment", "rel-rodistaa-api")]
    assert "replicas" not in api["spec"], "the HPA owns the replica count"
    hpa = objects[("HorizontalPodAutoscaler", "rel-rodistaa-api")]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "rel-rodistaa-api",
    }
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    pdb = objects[("PodDisruptionBudget", "rel-rodistaa-api")]
    assert pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]
    service = objects[("Service", "rel-rodistaa")]
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    assert objects[("ConfigMap", "rel-rodistaa")]["data"]["ENV"] == "production"


def test_api_probes_command_and_hardening() -> None:
    objects = by_kind(render())
    pod = objects[("Deployment", "rel-rodistaa-api")]["spec"]["template"]["spec"]
    api = container(objects[("Deployment", "rel-rodistaa-api")])
    assert api["command"] == ["rodistaa", "serve", "--host=0.0.0.0", "--port=8000", "--workers=2"]
    assert api["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    for document in (
        objects[("Deployment", "rel-rodistaa-api")],
        objects[("Deployment", "rel-rodistaa-worker")],
        objects[("Job", "rel-rodistaa-migrate")],
    ):
        spec = document["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        hardening = container(document)["securityContext"]
        assert hardening["readOnlyRootFilesystem"] is True
        assert hardening["allowPrivilegeEscalation"] is False
        assert hardening["capabilities"] == {"drop": ["ALL"]}
        mount = {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108 (the mount point asserted, no file used)
        assert mount in container(document)["volumeMounts"]
        assert container(document)["resources"]["requests"]
    assert pod["serviceAccountName"] == "rel-rodistaa"
    worker = container(objects[("Deployment", "rel-rodistaa-worker")])
    assert worker["command"] == ["rodistaa", "worker"]


def test_secrets_are_referenced_not_rendered() -> None:
    objects = by_kind(render())
    expected = {
        name: {"secretKeyRef": {"name": ref["secretName"], "key": ref["key"]}}
        for name, ref in values()["secretEnv"].items()
    }
    for key in (("Deployment", "rel-rodistaa-api"), ("Deployment", "rel-rodistaa-worker")):
        items = container(objects[key])["env"]
        env = {item["name"]: item["valueFrom"] for item in items if "valueFrom" in item}
        assert env == expected
        assert container(objects[key])["envFrom"] == [{"configMapRef": {"name": "rel-rodistaa"}}]
    # The worker's only plain values: where it serves its /metrics (the job_* families).
    worker_env = container(objects[("Deployment", "rel-rodistaa-worker")])["env"]
    plain = {item["name"]: item["value"] for item in worker_env if "value" in item}
    assert plain == {"WORKER_METRICS_HOST": "0.0.0.0", "WORKER_METRICS_PORT": "9101"}  # noqa: S104


def test_migration_job_runs_before_install_and_upgrade() -> None:
    job = by_kind(render())[("Job", "rel-rodistaa-migrate")]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    migrate = container(job)
    assert migrate["command"] == ["rodistaa", "db", "upgrade"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # On a first install the hook runs before the ConfigMap exists: the settings are inline.
    env = {item["name"]: item.get("value", item.get("valueFrom")) for item in migrate["env"]}
    assert {name: env[name] for name in values()["config"]} == {
        name: str(value) for name, value in values()["config"].items()
    }
    assert set(values()["secretEnv"]) <= set(env)
    assert "envFrom" not in migrate


def test_switches_for_fixed_replicas_and_aws_kms() -> None:
    objects = by_kind(
        render(
            "autoscaling.enabled=false", "podDisruptionBudget.enabled=false", "secretEnv.LOCAL_KMS_KEYS=null"
        )
    )
    assert ("HorizontalPodAutoscaler", "rel-rodistaa-api") not in objects
    assert ("PodDisruptionBudget", "rel-rodistaa-api") not in objects
    api = objects[("Deployment", "rel-rodistaa-api")]
    assert api["spec"]["replicas"] == values()["api"]["replicas"]
    assert "LOCAL_KMS_KEYS" not in {item["name"] for item in container(api)["env"]}
