"""The public reference bundle (../shared/reference/acs_rules_top25.yaml) runs unchanged.

For each of its 25 rules, an event that matches and a near miss that does not (the table is
`events.REFERENCE_CASES`), checked twice: as a pure decision, and through `AcsService` on a real
database (SQLite and PostgreSQL) where the side effects, the stored evaluation and the audit
entries are read back. Then the engine's edges, each on a reference rule where one fits:
idempotent re-evaluation, templates that keep their types, a template that cannot resolve,
fail-closed critical rules and fail-open others, and shadow mode.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import yaml
from sqlalchemy import func, select

from rodistaa.acs.bundle import Bundle, load_bundle, parse_bundle
from rodistaa.acs.engine import FAIL_CLOSED_CODE, Outcome, build_context, decide
from rodistaa.acs.tables import (
    acs_blocks,
    acs_effect_keys,
    acs_events,
    outbox_events,
    tickets,
)
from tests.acs.events import (
    ALL_RULES,
    BIDDING_FEE,
    DROP,
    NO_EFFECTS,
    OPERATOR,
    OPERATOR_2,
    REFERENCE_BUNDLE,
    REFERENCE_CASES,
    RF01,
    RF02,
    RF12,
    RF13,
    RF16,
    RF21,
    RF22,
    RF25,
    Acs,
    Case,
    acs_service,
    assert_decision,
    audit_entries,
    bid_create,
    decide_case,
    event_row,
    persisted,
    shipment_assign,
    truck_create,
    trucks_by_operator,
)

CASES = [pytest.param(case, id=case.id) for case in REFERENCE_CASES]

PERSISTED_CASES = CASES


def reference_case(case_id: str) -> Case:
    return next(c for c in REFERENCE_CASES if c.id == case_id)


@pytest.fixture(scope="module")
def reference() -> Bundle:
    return load_bundle(REFERENCE_BUNDLE)


@pytest.fixture
async def acs(clean_database: str, reference: Bundle) -> AsyncIterator[Acs]:
    async with acs_service(clean_database, reference, source=str(REFERENCE_BUNDLE)) as running:
        yield running


def test_reference_bundle_loads_unchanged(reference: Bundle) -> None:
    assert [rule.id for rule in reference.rules] == list(ALL_RULES)  # highest priority first
    assert all(rule.enabled and not rule.is_shadow and rule.audit for rule in reference.rules)


def test_every_reference_rule_has_a_hit_and_a_near_miss() -> None:
    assert {c.rule for c in REFERENCE_CASES if c.is_hit} == set(ALL_RULES)
    assert {c.rule for c in REFERENCE_CASES if not c.is_hit} == set(ALL_RULES)
    assert all(c.effects is not None for c in REFERENCE_CASES), "every case states its side effects"


# --- the table -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_decision(reference: Bundle, case: Case) -> None:
    assert_decision(decide_case(reference, case), case)


@pytest.mark.parametrize("case", PERSISTED_CASES)
async def test_persisted(acs: Acs, reference: Bundle, case: Case) -> None:
    event = case.scenario.event()
    decision = await acs.service.evaluate(event, case.scenario.facts())
    assert_decision(decision, case)

    assert case.effects is not None
    expected = case.effects.with_block_events().normalised()
    assert await persisted(acs.db, event.id) == expected
    if not case.is_hit:
        assert expected == NO_EFFECTS
    assert await event_row(acs.db, event.id) == {
        "event_type": case.scenario.event_type,
        "actor_id": case.scenario.ctx["userId"],
        "outcome": case.outcome.value,
        "code": case.code,
        "rule_id": case.rule if case.outcome is not Outcome.ALLOW else None,
        "matched": list(case.matched),
        "revision": reference.revision,
    }
    audited = [(rule_id, "acs.rule_matched") for rule_id in case.matched]
    assert await audit_entries(acs.db, event.id) == audited

    # Re-evaluating the same event id (a retried request) decides the same and stores nothing new.
    again = await acs.service.evaluate(event, case.scenario.facts())
    assert_decision(again, case)
    assert await persisted(acs.db, event.id) == expected
    assert await audit_entries(acs.db, event.id) == audited
    async with acs.db.read() as conn:
        stored = await conn.scalar(select(func.count()).where(acs_events.c.event_id == event.id))
    assert stored == 1


# --- templates -------------------------------------------------------------------------------


def test_exact_templates_keep_their_type(reference: Bundle) -> None:
    rf25 = decide_case(reference, reference_case("RF25-hit-partial-ingest"))
    block = next(e for e in rf25.effects if e.action == "blockEntity")
    assert block.params["entityId"] == [OPERATOR, OPERATOR_2]

    rf13 = decide_case(reference, reference_case("RF13-hit-balance-below-fee"))
    emitted = next(e for e in rf13.effects if e.action == "emitEvent")
    assert emitted.params["payload"] == {"operatorId": OPERATOR, "required": BIDDING_FEE}
    assert type(emitted.params["payload"]["required"]) is int


async def test_exact_templates_keep_their_type_in_the_database(acs: Acs) -> None:
    for hit in (reference_case("RF25-hit-partial-ingest"), reference_case("RF13-hit-balance-below-fee")):
        await acs.service.evaluate(hit.scenario.event(), hit.scenario.facts())
    async with acs.db.read() as conn:
        blocked = (
            await conn.execute(select(acs_blocks.c.entity_id).where(acs_blocks.c.rule_id == RF25))
        ).all()
        payload = await conn.scalar(select(outbox_events.c.payload).where(outbox_events.c.rule_id == RF13))
    assert sorted(row.entity_id for row in blocked) == sorted([OPERATOR, OPERATOR_2])  # one block each
    assert json.loads(payload)["required"] == BIDDING_FEE
    assert type(json.loads(payload)["required"]) is int  # a number, not "17500"


UNRESOLVABLE = shipment_assign().but(names={"truck": {"id": DROP, "status": "EXPIRED_DOCS"}})


def test_unresolvable_template_is_an_action_error(reference: Bundle) -> None:
    event = UNRESOLVABLE.event()
    decision = decide(reference, event, build_context(event, UNRESOLVABLE.names))

    # The rule still matched and still rejects; only its actions that name the truck failed.
    assert decision.outcome is Outcome.REJECT
    assert decision.code == "TRUCK_DOCS_EXPIRED"
    (match,) = decision.matched
    assert [error.split(":")[0] for error in match.action_errors] == ["blockEntity", "createTicket"]
    assert all("truck.id" in error for error in match.action_errors)
    assert decision.effects == ()


async def test_unresolvable_template_writes_no_null_or_literal_id(acs: Acs) -> None:
    event = UNRESOLVABLE.event()
    decision = await acs.service.evaluate(event, UNRESOLVABLE.facts())
    assert decision.code == "TRUCK_DOCS_EXPIRED"

    assert await persisted(acs.db, event.id) == NO_EFFECTS
    async with acs.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(acs_blocks)) == 0
        assert await conn.scalar(select(func.count()).select_from(tickets)) == 0
        assert await conn.scalar(select(func.count()).select_from(acs_effect_keys)) == 0
    assert (await event_row(acs.db, event.id) or {})["outcome"] == "REJECT"


# --- rules that error ------------------------------------------------------------------------

# A critical rule with a data-backed call, next to the reference rules (RF12 makes the same kind
# of call but is medium severity).
CRITICAL_DATA_RULE = """
- id: T_FLEET_CAP_CRITICAL
  priority: 990
  severity: critical
  description: "Ad-hoc: a critical fleet-size rule backed by a database count."
  condition: "event.type == 'truck.create' && db.count.trucksByOperator(ctx.operatorId) >= 500"
  action:
    - rejectRequest: { code: "FLEET_CAP", message: "Fleet cap reached" }
  audit: true
"""


@pytest.fixture(scope="module")
def with_critical_data_rule() -> Bundle:
    return parse_bundle(
        [
            (str(REFERENCE_BUNDLE), REFERENCE_BUNDLE.read_text(encoding="utf-8")),
            ("t.yaml", CRITICAL_DATA_RULE),
        ]
    )


WITHOUT_COUNT = truck_create().but(answers={trucks_by_operator(): DROP})


def test_critical_rule_without_its_fact_fails_closed(with_critical_data_rule: Bundle) -> None:
    event = WITHOUT_COUNT.event()
    context = build_context(event, WITHOUT_COUNT.names)
    decision = decide(with_critical_data_rule, event, context, facts=WITHOUT_COUNT.answers)

    assert decision.outcome is Outcome.REJECT
    assert (decision.code, decision.status, decision.rule_id) == (
        FAIL_CLOSED_CODE,
        503,
        "T_FLEET_CAP_CRITICAL",
    )
    assert decision.matched == ()
    errored = {error.rule_id: error for error in decision.errors}
    assert set(errored) == {"T_FLEET_CAP_CRITICAL", RF12}  # both read the missing count
    assert "no prefetched fact for db.count.trucksByOperator" in errored["T_FLEET_CAP_CRITICAL"].message


def test_non_critical_rule_without_its_fact_fails_open(reference: Bundle) -> None:
    event = WITHOUT_COUNT.event()
    decision = decide(
        reference, event, build_context(event, WITHOUT_COUNT.names), facts=WITHOUT_COUNT.answers
    )

    assert decision.outcome is Outcome.ALLOW  # RF12 is medium: the request goes through...
    assert decision.matched == ()
    (error,) = decision.errors  # ...and the decision says why RF12 could not judge it
    assert (error.rule_id, error.severity) == (RF12, "medium")
    assert f"no prefetched fact for {trucks_by_operator()}" in error.message


async def test_fail_closed_and_fail_open_are_stored(
    clean_database: str, with_critical_data_rule: Bundle
) -> None:
    async with acs_service(clean_database, with_critical_data_rule, source="t.yaml") as acs:
        closed = WITHOUT_COUNT.event()
        decision = await acs.service.evaluate(closed, WITHOUT_COUNT.facts())
        assert decision.code == FAIL_CLOSED_CODE
        row = await event_row(acs.db, closed.id)
        assert row is not None
        assert (row["outcome"], row["code"], row["rule_id"], row["matched"]) == (
            "REJECT",
            FAIL_CLOSED_CODE,
            "T_FLEET_CAP_CRITICAL",
            [],
        )

        await acs.service.activate(load_bundle(REFERENCE_BUNDLE), source="reference", actor="test")
        opened = WITHOUT_COUNT.event()
        decision = await acs.service.evaluate(opened, WITHOUT_COUNT.facts())
        assert [error.rule_id for error in decision.errors] == [RF12]
        row = await event_row(acs.db, opened.id)
        assert row is not None
        assert (row["outcome"], row["code"], row["matched"]) == ("ALLOW", None, [])
        assert await persisted(acs.db, opened.id) == NO_EFFECTS


# --- shadow mode -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rf02_in_shadow() -> Bundle:
    """The reference bundle with RF02 switched to shadow mode (read and changed in memory)."""
    rules = yaml.safe_load(REFERENCE_BUNDLE.read_text(encoding="utf-8"))
    for rule in rules:
        if rule["id"] == RF02:
            rule["mode"] = "shadow"
    return parse_bundle([("shadow.yaml", yaml.safe_dump(rules, sort_keys=False))])


EXPIRED_TRUCK = reference_case("RF02-hit-assign-expired-truck").scenario


def test_shadow_rule_records_would_have_matched(rf02_in_shadow: Bundle) -> None:
    event = EXPIRED_TRUCK.event()
    decision = decide(rf02_in_shadow, event, build_context(event, EXPIRED_TRUCK.names))

    assert decision.outcome is Outcome.ALLOW  # no reject...
    assert decision.matched == ()
    assert decision.effects == ()  # ...and no block, no ticket
    (shadow,) = decision.shadow_matched
    assert shadow.rule_id == RF02
    assert shadow.shadow
    assert [name for name, _ in shadow.actions] == ["rejectRequest", "blockEntity", "createTicket"]
    assert shadow.reasons["truck.status"] == "EXPIRED_DOCS"


async def test_shadow_rule_persists_nothing_but_its_audit(
    clean_database: str, rf02_in_shadow: Bundle
) -> None:
    async with acs_service(clean_database, rf02_in_shadow, source="shadow.yaml") as acs:
        event = EXPIRED_TRUCK.event()
        decision = await acs.service.evaluate(event, EXPIRED_TRUCK.facts())
        assert decision.outcome is Outcome.ALLOW

        assert await persisted(acs.db, event.id) == NO_EFFECTS
        row = await event_row(acs.db, event.id)
        assert row is not None
        assert (row["outcome"], row["code"], row["matched"]) == ("ALLOW", None, [])
        assert await audit_entries(acs.db, event.id) == [(RF02, "acs.rule_matched_shadow")]


def test_bid_create_runs_every_bid_rule(reference: Bundle) -> None:
    """The index by event type hands bid.create exactly the reference rules guarded by it."""
    assert [rule.id for rule in reference.rules_for(bid_create().event_type)] == [
        RF01,
        RF02,
        RF13,
        RF16,
        RF21,
        RF22,
    ]
