"""deploy/compose.yaml and deploy/.env.example: the services, their start-up order and health
checks, the hardening of the app's containers, and the example environment, which the service
must refuse until its placeholders are replaced and accept once they are. With docker-compose
(or the compose plugin) installed, `config` validates the file against the Compose schema."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values

from rodistaa.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
APP_SERVICES = ("migrate", "app", "worker")
# Variables of the example env file that configure compose itself, not the service.
COMPOSE_ONLY = frozenset({"POSTGRES_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD"})
INTERPOLATION = re.compile(r"\$\{(\w+)[^}]*\}")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def example_env() -> dict[str, str]:
    return {key: value or "" for key, value in dotenv_values(DEPLOY / ".env.example").items()}


def app_environment(env: dict[str, str]) -> dict[str, str]:
    """What the app's containers get: the env file, then compose's `environment` (interpolated
    from the same file), which wins."""
    declared = services()["app"]["environment"]
    interpolated = {
        key: INTERPOLATION.sub(lambda match: env[match.group(1)], str(value))
        for key, value in declared.items()
    }
    return {**env, **interpolated}


def settings_from(environment: dict[str, str]) -> Settings:
    fields: dict[str, Any] = {
        key.lower(): value for key, value in environment.items() if key not in COMPOSE_ONLY
    }
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg]


def test_services_and_start_up_order() -> None:
    found = services()
    assert set(found) == {
        "postgres",
        "redis",
        "migrate",
        "app",
        "worker",
        "prometheus",
        "node-exporter",
        "grafana",
    }
    assert found["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("app", "worker"):
        assert found[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
    assert found["migrate"]["restart"] == "no"


def test_every_awaited_health_check_exists() -> None:
    found = services()
    awaited = {
        target
        for service in found.values()
        for target, rule in service.get("depends_on", {}).items()
        if rule["condition"] == "service_healthy"
    }
    assert awaited == {"postgres", "redis", "prometheus"}
    for name in awaited:
        check = found[name]["healthcheck"]
        assert check["test"] and not check.get("disable"), name


def dockerfile_command() -> list[str]:
    """The image's default command (its CMD line)."""
    [cmd] = re.findall(r"^CMD (.+)$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    command: list[str] = json.loads(cmd)
    return command


def test_commands_of_the_app_services() -> None:
    found = services()
    assert found["migrate"]["command"] == ["rodistaa", "db", "upgrade"]
    assert found["worker"]["command"] == ["rodistaa", "worker"]
    assert found["app"]["command"] == dockerfile_command()
    assert found["app"]["ports"] == ["127.0.0.1:8000:8000"]
    # The image's HEALTHCHECK is an HTTP probe: it must not mark the worker or migrate unhealthy.
    assert "healthcheck" not in found["app"]
    assert found["worker"]["healthcheck"] == {"disable": True}
    assert found["migrate"]["healthcheck"] == {"disable": True}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_containers_are_read_only_and_unprivileged(name: str) -> None:
    service = services()[name]
    assert service["build"] == {"context": "..", "dockerfile": "Dockerfile"}
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert service["security_opt"] == ["no-new-privileges:true"]
    assert service["tmpfs"] == ["/tmp"]  # noqa: S108 (the mount point asserted, no file used)
    assert service["volumes"] == ["storage:/app/var"]
    assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert service["environment"]["DATABASE_URL"].startswith(
        "postgresql+asyncpg://rodistaa:${POSTGRES_PASSWORD"
    )


def test_third_party_images_are_pinned() -> None:
    for name, service in services().items():
        if name in APP_SERVICES:
            continue
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def test_bind_mounts_exist() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name}: {source}"


def test_example_env_names_only_real_settings() -> None:
    unknown = {
        key for key in example_env() if key not in COMPOSE_ONLY and key.lower() not in Settings.model_fields
    }
    assert unknown == set()


def test_example_env_is_refused_until_its_placeholders_are_replaced() -> None:
    refused = settings_from(app_environment(example_env())).production_problems()
    named = {problem.split(":", 1)[0] for problem in refused}
    assert named == {"JWT_KEYS", "HMAC_KEY", "LOCAL_KMS_KEYS", "PAYMENT_WEBHOOK_SECRET"}


def test_example_env_with_real_secrets_is_accepted() -> None:
    env = example_env() | {
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "JWT_KEYS": f"k1:{secrets.token_urlsafe(48)}",
        "HMAC_KEY": secrets.token_urlsafe(48),
        "LOCAL_KMS_KEYS": "1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "PAYMENT_WEBHOOK_SECRET": secrets.token_urlsafe(48),
    }
    settings = settings_from(app_environment(env))
    assert settings.production_problems() == []
    assert settings.is_production
    assert (
        settings.database_url
        == f"postgresql+asyncpg://rodistaa:{env['POSTGRES_PASSWORD']}@postgres:5432/rodistaa"
    )


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no docker-compose and no compose plugin (Debian: apt-get install -y docker-compose)")
    result = subprocess.run(
        [*command, "--env-file", ".env.example", "-p", "rodistaa", "-f", "compose.yaml", "config", "-q"],
        cwd=DEPLOY,
        env={**os.environ, "RODISTAA_ENV_FILE": ".env.example"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
