"""The Dockerfile and .dockerignore, read instruction by instruction: a build stage that installs
the package against constraints.txt, and a final stage on the slim Python image with only the
virtual environment and the rule bundle, a fixed non-root user, a Python health check on
/health, port 8000 and `rodistaa serve` as the default command. (No Docker daemon here to build
it; docs/deployment.md says how the install steps were exercised instead.)"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_INPUTS = ("pyproject.toml", "constraints.txt", "README.md", "src", "rules")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions() -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            found.append(Instruction(keyword.upper(), arguments.strip()))
    return found


def stages() -> dict[str, list[Instruction]]:
    """Instructions by stage name; global ARGs under ''."""
    by_stage: dict[str, list[Instruction]] = {"": []}
    current = ""
    for instruction in instructions():
        if instruction.keyword == "FROM":
            current = instruction.arguments.split(" AS ")[-1].strip()
            by_stage[current] = []
        by_stage[current].append(instruction)
    return by_stage


def arg_default(stage: list[Instruction], name: str) -> str:
    for instruction in stage:
        if instruction.keyword == "ARG" and instruction.arguments.startswith(f"{name}="):
            return instruction.arguments.split("=", 1)[1]
    raise AssertionError(f"ARG {name} has no default")


def of(stage: list[Instruction], keyword: str) -> list[str]:
    return [instruction.arguments for instruction in stage if instruction.keyword == keyword]


def test_two_stages_on_the_same_slim_python_image() -> None:
    found = stages()
    assert list(found) == ["", "build", "runtime"]
    assert arg_default(found[""], "PYTHON_IMAGE").startswith("python:3.11-slim")
    assert of(found["build"], "FROM") == ["${PYTHON_IMAGE} AS build"]
    assert of(found["runtime"], "FROM") == ["${PYTHON_IMAGE} AS runtime"]


def test_build_stage_installs_the_package_against_the_constraints() -> None:
    runs = " ".join(of(stages()["build"], "RUN"))
    assert "python -m venv /opt/venv" in runs
    assert re.search(r"pip install [^&]*-c constraints\.txt \.(\s|$)", runs), runs
    # No build tooling leaves the build stage inside the environment either.
    assert "pip uninstall --yes pip setuptools wheel" in runs


def test_runtime_stage_has_no_build_tools() -> None:
    """The one package the runtime installs is the PostgreSQL client `rodistaa backup` runs;
    no compiler, no pip, no curl, and the package lists are not left in the image."""
    runtime = stages()["runtime"]
    runs = " ".join(of(runtime, "RUN"))
    for tool in ("apk", "gcc", "build-essential", "pip install", "curl"):
        assert tool not in runs, tool
    installs = re.findall(r"apt-get install ([^&]*)", runs)
    assert [i.split() for i in installs] == [["--yes", "--no-install-recommends", "postgresql-client-15"]]
    assert "rm -rf /var/lib/apt/lists/*" in runs
    copies = of(runtime, "COPY")
    assert copies == ["--from=build /opt/venv /opt/venv", "rules ./rules"]


def test_runtime_runs_as_a_fixed_non_root_user() -> None:
    runtime = stages()["runtime"]
    [user] = of(runtime, "USER")
    assert user == "${APP_UID}:${APP_GID}"
    assert int(arg_default(runtime, "APP_UID")) >= 10000
    assert int(arg_default(runtime, "APP_GID")) >= 10000


def test_health_check_port_volume_and_default_command() -> None:
    runtime = stages()["runtime"]
    [healthcheck] = of(runtime, "HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    probe = json.loads(command)
    assert probe[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8000/health" in probe[2]
    assert "--timeout=" in options
    assert of(runtime, "EXPOSE") == ["8000"]
    assert json.loads(of(runtime, "VOLUME")[0]) == ["/app/var"]
    [cmd] = of(runtime, "CMD")
    # Every interface of the container's own network namespace: the port is published per host.
    serve = ["rodistaa", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]  # noqa: S104
    assert json.loads(cmd) == serve


def test_runtime_environment_defaults() -> None:
    env: dict[str, str] = {}
    for arguments in of(stages()["runtime"], "ENV"):
        for pair in shlex.split(arguments):
            name, _, value = pair.partition("=")
            env[name] = value
    assert env["ENV"] == "production"
    assert env["ACS_BUNDLE_PATH"] == "/app/rules"
    assert env["STORAGE_LOCAL_DIR"] == "/app/var/storage"
    assert env["PATH"].startswith("/opt/venv/bin:")


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_keeps_local_state_out_and_the_build_inputs_in() -> None:
    patterns = dockerignore()
    assert {".venv", "tests", "var", ".git", ".env"} <= set(patterns)
    for name in BUILD_INPUTS:
        assert (ROOT / name).exists(), name
        assert not any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
    copied = {source for arguments in of(stages()["build"], "COPY") for source in arguments.split()[:-1]}
    assert copied | {"rules"} == set(BUILD_INPUTS)
