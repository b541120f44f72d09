"""Schemathesis against the app in process (ASGI, no network) with two documents: the service's
own (`/v1/openapi.json`) and the published reference contract (`../shared/reference/
openapi.yaml`, served under `/v1`).

Checks on every response: no server error, a documented status code, a documented content type,
a body matching its schema. The service's document is enforced as it is. Against the reference,
the deviations listed in `docs/api-compat.md` (see `deviations.py`) are the only things not
enforced, and each listed one must still be observed, so a fixed deviation leaves the list.

Each document is one test on a world of its own (`world.py`, a fresh SQLite database): requests
carry the token of a role that may call the operation and mostly the ids of seeded resources, so
they reach the business rules. Schemathesis' phases (examples, coverage, fuzzing) run for every
operation, generation is deterministic and never shrinks, the rate limits are raised out of
reach, and every failing operation is reported, not only the first.

One test per document rather than Schemathesis' test per operation: under pytest 9.2 those
items share one node id, which pytest-xdist cannot schedule."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.pytest.lazy import get_all_tests
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from rodistaa.app import create_app
from rodistaa.db import migrate
from rodistaa.settings import Settings
from tests.conftest import REPO_ROOT, CapturingOtpSender, make_settings, running_app
from tests.contract import deviations
from tests.contract.deviations import DECLARED_BY_SERVICE, Deviation
from tests.contract.world import World, role_for, seed_world
from tests.databases import fresh_database

REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "openapi.yaml"
COMPAT_DOC = REPO_ROOT / "docs" / "api-compat.md"
CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MIN_REQUESTS_PER_DOCUMENT = 1000
# Generated cases per operation in the fuzzing phase (the examples and coverage phases add their
# own): comfortably over 1,000 requests per document, in about two minutes for both.
SERVICE_MAX_EXAMPLES = 15
REFERENCE_MAX_EXAMPLES = 40
# Every fourth request keeps what was generated (unknown ids: the 404 paths; the generated
# Idempotency-Key); the others are aimed at the seeded world.
KEEP_GENERATED_EVERY = 4


def unlimited_rates() -> dict[str, str]:
    """Every rate limit raised out of reach: a long run would otherwise be mostly 429s."""
    return {name: "1000000/hour" for name in Settings.model_fields if name.startswith("rate_limit_")}


def service_document() -> dict[str, Any]:
    """The document `/v1/openapi.json` serves, built by an app that is never started
    (`test_the_served_document_is_the_one_tested` compares the two)."""
    document: dict[str, Any] = create_app(make_settings("sqlite+aiosqlite://")).openapi()
    return document


def load(schema: Any, *, max_examples: int) -> Any:
    schema.config.generation.update(
        max_examples=max_examples,
        deterministic=True,
        no_shrink=True,
        with_security_parameters=False,  # the world's tokens are sent instead
    )
    return schema


SERVICE_DOCUMENT = service_document()


@dataclass
class Run:
    """One document's run: what was sent, what failed, which listed deviations were seen."""

    app: Any
    world: World
    base_url: str
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    observed: set[Deviation] = field(default_factory=set)
    numbers: Iterator[int] = field(default_factory=itertools.count)

    def send(self, case: Case, service_path: str) -> Any:
        self.aim_at_the_world(case)
        headers = self.world.headers_for(role_for(case.method, service_path))
        self.sent += 1
        return case.call(base_url=self.base_url, headers=headers, app=self.app)

    def aim_at_the_world(self, case: Case) -> None:
        """Ids in the path and at the top of the body become the seeded resources' ids, and an
        `Idempotency-Key` becomes unique (the few values generated would make most POSTs replays
        or 409 reuses), except on every `KEEP_GENERATED_EVERY`th request."""
        number = next(self.numbers)
        if not number % KEEP_GENERATED_EVERY:
            return
        for container in (case.path_parameters, case.body if isinstance(case.body, dict) else None):
            for name in set(container or ()) & set(self.world.ids):
                assert container is not None
                container[name] = self.world.ids[name]
        if case.headers and "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = f"contract-run-{number}"

    def run(self, schema: Any, check: Callable[[Case], None]) -> None:
        """Every operation of `schema` through Schemathesis' phases, `check` on each case; a
        failing operation is recorded and the next one runs."""
        for result in get_all_tests(schema=schema, test_func=check, settings=None, given_kwargs={}):
            operation, test = result.ok()
            try:
                test()
            except (AssertionError, FailureGroup) as exc:
                self.failures.append(f"{operation.label}\n{exc}")


@pytest.fixture
def contract_settings(tmp_path: Path) -> Iterator[Settings]:
    """A fresh migrated SQLite database of the test's own, with every rate limit out of reach."""
    with fresh_database("sqlite", tmp_path) as url:
        migrate.upgrade(url)
        yield make_settings(url, **unlimited_rates())


@pytest.fixture
async def world(contract_settings: Settings) -> World:
    """Seeded by an app of its own, stopped before Schemathesis' app starts on the database."""
    async with running_app(contract_settings) as h:
        return await seed_world(h)


@pytest.fixture
def served_app(contract_settings: Settings) -> Iterator[Any]:
    """The app Schemathesis calls: its ASGI client starts the lifespan, on an event loop of its
    own, at the first request."""
    app = create_app(contract_settings, otp_sender=CapturingOtpSender())
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()


def test_the_service_conforms_to_its_own_document(served_app: Any, world: World) -> None:
    # Schemathesis rewrites the dict it loads: it gets a copy, the original stays the served one.
    schema = load(
        schemathesis.openapi.from_dict(copy.deepcopy(SERVICE_DOCUMENT)), max_examples=SERVICE_MAX_EXAMPLES
    )
    run = Run(served_app, world, base_url="http://testserver")

    def check(case: Case) -> None:
        case.validate_response(run.send(case, service_path=case.path), checks=CHECKS)

    run.run(schema, check)

    assert run.failures == [], "\n\n".join(run.failures)
    assert run.sent >= MIN_REQUESTS_PER_DOCUMENT


def test_the_service_conforms_to_the_reference_but_for_listed_deviations(
    served_app: Any, world: World
) -> None:
    listed = deviations.load(COMPAT_DOC)
    schema = load(schemathesis.openapi.from_path(REFERENCE), max_examples=REFERENCE_MAX_EXAMPLES)
    run = Run(served_app, world, base_url="http://testserver/v1")

    def check(case: Case) -> None:
        service_path = case.path if case.path == "/health" else "/v1" + case.path
        response = run.send(case, service_path=service_path)
        unexpected = [
            failure
            for check in CHECKS
            for failure in failures_of(case, response, check)
            if not tolerated(listed, run.observed, case, check.__name__, failure, response.status_code)
        ]
        if unexpected:
            raise FailureGroup(unexpected, "\n\n".join(str(failure) for failure in unexpected))

    run.run(schema, check)

    assert run.failures == [], "\n\n".join(run.failures)
    assert run.sent >= MIN_REQUESTS_PER_DOCUMENT
    # A row nothing needed any more describes a deviation that was fixed: remove it.
    assert [d for d in listed if d not in run.observed] == []


def failures_of(case: Case, response: Any, check: Callable[..., Any]) -> list[Failure]:
    try:
        case.validate_response(response, checks=[check])
    except FailureGroup as group:
        return [failure for failure in group.exceptions if isinstance(failure, Failure)]
    return []


def tolerated(
    listed: list[Deviation], observed: set[Deviation], case: Case, check: str, failure: Failure, status: int
) -> bool:
    """Whether a listed deviation covers this failure (and then it counts as observed)."""
    operation = f"{case.method.upper()} {case.path}"
    if check == "status_code_conformance":
        service_path = case.path if case.path == "/health" else "/v1" + case.path
        declared = SERVICE_DOCUMENT["paths"].get(service_path, {}).get(case.method.lower(), {})
        where = DECLARED_BY_SERVICE if str(status) in declared.get("responses", {}) else ""
    else:
        where = deviations.schema_location(failure.message, reference_response_schema(case, status))
    for deviation in listed:
        if deviation.covers(operation, check, where):
            observed.add(deviation)
            return True
    return False


def reference_response_schema(case: Case, status: int) -> dict[str, Any]:
    response = case.operation.definition.raw.get("responses", {}).get(str(status), {})
    schema: dict[str, Any] = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema


def test_the_served_document_is_the_one_tested(served_app: Any) -> None:
    with asgi.get_client(served_app) as client:
        served = client.get("/v1/openapi.json")
    assert served.status_code == 200
    assert served.json() == SERVICE_DOCUMENT
