"""The project's default bundle (rules/): the same 25 policies as the public reference bundle,
written against the project's context contract.

It loads clean, keeps the reference's ids, priorities and severities, and every rule has
events that match it and near misses that do not (the table is `events.DEFAULT_CASES`; each
case says what it proves). Decisions are checked for every case; the persisted side effects
for the rules whose effects matter most downstream (blocks, freezes, suspensions, watchlist).
Finally, the cases where the project deliberately decides differently from the reference are
run against both bundles, so each documented change is shown to make a difference.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rodistaa.acs.bundle import Bundle, load_bundle
from tests.acs.events import (
    ALL_RULES,
    DEFAULT_BUNDLE,
    DEFAULT_CASES,
    NO_EFFECTS,
    REFERENCE_BUNDLE,
    RF02,
    RF04,
    RF05,
    RF07,
    RF19,
    RF25,
    Acs,
    Case,
    acs_service,
    assert_decision,
    audit_entries,
    decide_case,
    event_row,
    persisted,
)

PERSISTED_RULES = {RF02, RF04, RF05, RF07, RF19, RF25}


def default_case(case_id: str) -> Case:
    return next(c for c in DEFAULT_CASES if c.id == case_id)


@pytest.fixture(scope="module")
def default() -> Bundle:
    return load_bundle(DEFAULT_BUNDLE)


@pytest.fixture(scope="module")
def reference() -> Bundle:
    return load_bundle(REFERENCE_BUNDLE)


@pytest.fixture
async def acs(clean_database: str, default: Bundle) -> AsyncIterator[Acs]:
    async with acs_service(clean_database, default, source=str(DEFAULT_BUNDLE)) as running:
        yield running


# --- the bundle itself -----------------------------------------------------------------------


def test_loads_clean_from_the_rules_directory(default: Bundle) -> None:
    # load_bundle refuses a bundle with any error (schema, expression, action, template, or a
    # path the context contract does not provide), so loading at all means zero errors.
    assert len(default.rules) == 25
    assert sorted(p.name for p in DEFAULT_BUNDLE.glob("*.yaml")) == [
        "10-identity.yaml",
        "20-freight.yaml",
        "30-tracking-delivery.yaml",
        "40-fleet.yaml",
        "50-governance.yaml",
    ]


def test_same_ids_priorities_and_severities_as_the_reference(default: Bundle, reference: Bundle) -> None:
    def shape(bundle: Bundle) -> dict[str, tuple[int, str]]:
        return {rule.id: (rule.priority, rule.severity) for rule in bundle.rules}

    assert shape(default) == shape(reference)
    assert [rule.id for rule in default.rules] == list(ALL_RULES)  # highest priority first


def test_every_rule_is_enforced_audited_versioned_and_tagged(default: Bundle) -> None:
    for rule in default.rules:
        assert rule.enabled and not rule.is_shadow, rule.id
        assert rule.audit, rule.id
        assert rule.version == 1, rule.id
        assert rule.tags, rule.id
        assert rule.description, rule.id


def test_declared_event_types_agree_with_each_condition(default: Bundle) -> None:
    """Each rule lists its events explicitly and its condition guards on the same types, so the
    condition stays correct when read (or evaluated) on its own."""
    for rule in default.rules:
        assert rule.events, rule.id
        assert rule.condition.event_types == rule.events, rule.id


def test_every_rule_has_a_hit_and_a_near_miss() -> None:
    assert {c.rule for c in DEFAULT_CASES if c.is_hit} == set(ALL_RULES)
    assert {c.rule for c in DEFAULT_CASES if not c.is_hit} == set(ALL_RULES)
    assert len({c.id for c in DEFAULT_CASES}) == len(DEFAULT_CASES)


# --- the table -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in DEFAULT_CASES])
def test_decision(default: Bundle, case: Case) -> None:
    assert_decision(decide_case(default, case), case)


PERSISTED = [pytest.param(c, id=c.id) for c in DEFAULT_CASES if c.rule in PERSISTED_RULES]


def test_persisted_cases_state_their_effects() -> None:
    assert {c.values[0].rule for c in PERSISTED} == PERSISTED_RULES
    assert all(c.values[0].effects is not None for c in PERSISTED)


@pytest.mark.parametrize("case", PERSISTED)
async def test_persisted(acs: Acs, default: Bundle, case: Case) -> None:
    event = case.scenario.event()
    decision = await acs.service.evaluate(event, case.scenario.facts())
    assert_decision(decision, case)

    assert case.effects is not None
    assert await persisted(acs.db, event.id) == case.effects.with_block_events().normalised()
    if not case.is_hit:
        assert case.effects == NO_EFFECTS
    row = await event_row(acs.db, event.id)
    assert row is not None
    assert (row["outcome"], row["code"], row["matched"], row["revision"]) == (
        case.outcome.value,
        case.code,
        list(case.matched),
        default.revision,
    )
    assert await audit_entries(acs.db, event.id) == [
        (rule_id, "acs.rule_matched") for rule_id in case.matched
    ]


# --- where the project decides differently from the reference --------------------------------

# Each of these default cases is decided differently by the reference bundle: the rule fires
# where the reference's would not, or stays quiet where the reference's would fire. The YAML
# comment above each rule in rules/ explains why.
CHANGED = [
    "RF01-hit-role-spelled-upper-case",
    "RF01-hit-modify-bid-after-kyc-rejected",
    "RF03-hit-otp-locked",
    "RF06-hit-mock-location",
    "RF07-miss-same-pod-same-shipment",
    "RF08-hit-pod-dated-in-future",
    "RF09-hit-geo-without-coordinates",
    "RF09-hit-accuracy-missing",
    "RF11-hit-chassis-mismatch",
    "RF13-hit-balance-unknown",
    "RF14-hit-winner-kyc-revoked",
    "RF14-miss-winner-spent-balance",
    "RF15-miss-truthy-not-true",
    "RF16-hit-obfuscated-phone-in-message",
    "RF18-hit-empty-justification",
    "RF18-hit-critical-block-not-from-rule",
    "RF21-hit-low-range-set-by-shipper",
    "RF22-hit-modify-during-maintenance",
    "RF24-hit-outside-unit-radius",
]


@pytest.mark.parametrize("case_id", CHANGED)
def test_project_rule_decides_differently_from_the_reference(
    default: Bundle, reference: Bundle, case_id: str
) -> None:
    case = default_case(case_id)
    ours = decide_case(default, case)
    theirs = decide_case(reference, case)
    assert_decision(ours, case)
    fires_here = case.rule in {m.rule_id for m in ours.matched}
    fires_there = case.rule in {m.rule_id for m in theirs.matched}
    assert fires_here == case.is_hit
    assert fires_there != fires_here
