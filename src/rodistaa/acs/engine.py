"""The decision (ACS.md §4), computed purely in memory from an event, its context and the
prefetched facts. No I/O happens here: persisting effects is `acs.effects`, fetching facts is
the caller's fact provider.

Rules for the event type run in priority order. Every matched enforce rule contributes its
actions; shadow rules are recorded as would-have-matched and act on nothing. The decision is
REJECT if any matched rule rejects (the highest-priority reject gives code, message and status),
else THROTTLE, else ALLOW with `proceed` outcomes and redactions. A rule whose evaluation errors
is *errored*, never matched; a critical enforce rule that errors fails closed (ACS_UNAVAILABLE).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from rodistaa.acs import actions as acts
from rodistaa.acs.bundle import Bundle, Rule
from rodistaa.acs.contract import DEFAULT_SYSTEM_CONFIG
from rodistaa.acs.lang import EvalEnv, ExpressionEvaluationError, FactRequest
from rodistaa.acs.lang.functions import EMPTY_FACTS

FAIL_CLOSED_CODE = "ACS_UNAVAILABLE"
DEFAULT_REJECT_STATUS = 403
THROTTLE_STATUS = 429
DEFAULT_RETRY_AFTER_S = 60


class Outcome(StrEnum):
    ALLOW = "ALLOW"
    REJECT = "REJECT"
    THROTTLE = "THROTTLE"


@dataclass(frozen=True)
class AcsEvent:
    """An event a service raises: `{type, id, at, payload}` plus the acting context `ctx`
    (userId, userRole in lower case, userKycStatus, operatorId, deviceId, ip)."""

    type: str
    id: str
    at: datetime
    ctx: Mapping[str, Any]
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def at_ms(self) -> int:
        return int(self.at.timestamp() * 1000)

    def as_context(self) -> dict[str, Any]:
        at = self.at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return {"type": self.type, "id": self.id, "at": at, "payload": dict(self.payload)}


# slots without frozen: a decision is built for every event and frozen dataclasses cost
# several times more to construct. Treat instances as read-only.
@dataclass(slots=True)
class Effect:
    """A side-effect action of a matched enforce rule, parameters resolved."""

    rule_id: str
    rule_version: int
    action: str
    params: Mapping[str, Any]


@dataclass(slots=True)
class RuleMatch:
    rule_id: str
    rule_version: int
    priority: int
    severity: str
    shadow: bool
    explain: Callable[[], Mapping[str, Any]]
    actions: tuple[tuple[str, Mapping[str, Any]], ...]
    action_errors: tuple[str, ...] = ()
    audit: bool = False
    _reasons: Mapping[str, Any] | None = None

    @property
    def reasons(self) -> Mapping[str, Any]:
        """The value of every path (and data call) the condition read. Computed on first use:
        re-running the condition with tracing is the most expensive part of a match, and most
        decisions are enforced without anyone reading why."""
        if self._reasons is None:
            self._reasons = self.explain()
        return self._reasons


@dataclass(slots=True)
class RuleError:
    rule_id: str
    severity: str
    message: str


@dataclass(slots=True)
class Decision:
    outcome: Outcome
    event_id: str
    event_type: str
    revision: str
    code: str | None = None
    message: str | None = None
    status: int | None = None
    rule_id: str | None = None
    retry_after_s: int | None = None
    matched: tuple[RuleMatch, ...] = ()
    shadow_matched: tuple[RuleMatch, ...] = ()
    errors: tuple[RuleError, ...] = ()
    effects: tuple[Effect, ...] = ()
    redactions: tuple[Mapping[str, Any], ...] = ()
    proceed: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    def to_dict(self) -> dict[str, Any]:
        def match(m: RuleMatch) -> dict[str, Any]:
            return {
                "ruleId": m.rule_id,
                "version": m.rule_version,
                "priority": m.priority,
                "severity": m.severity,
                "reasons": dict(m.reasons),
                "actions": [{name: dict(params)} for name, params in m.actions],
                "actionErrors": list(m.action_errors),
            }

        return {
            "outcome": self.outcome.value,
            "eventId": self.event_id,
            "eventType": self.event_type,
            "revision": self.revision,
            "code": self.code,
            "message": self.message,
            "status": self.status,
            "ruleId": self.rule_id,
            "retryAfterSec": self.retry_after_s,
            "matched": [match(m) for m in self.matched],
            "shadowMatched": [match(m) for m in self.shadow_matched],
            "errors": [
                {"ruleId": e.rule_id, "severity": e.severity, "message": e.message} for e in self.errors
            ],
            "redactions": [dict(r) for r in self.redactions],
            "proceed": list(self.proceed),
        }


def build_context(
    event: AcsEvent, facts_context: Mapping[str, Any], system_config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The evaluation context: the event, its actor, the thresholds and the provider's names."""
    context = dict(facts_context)
    context["event"] = event.as_context()
    context["ctx"] = dict(event.ctx)
    context["system"] = {"config": dict(system_config or DEFAULT_SYSTEM_CONFIG)}
    return context


def fact_requests(
    bundle: Bundle, event_type: str, context: Mapping[str, Any], now_ms: int
) -> list[FactRequest]:
    """Every data-backed answer the event's rules will look up, deduplicated, so a provider can
    fetch them all at once before evaluation."""
    seen: dict[str, FactRequest] = {}
    for rule in bundle.rules_for(event_type):
        if not rule.condition.data_calls:
            continue
        try:
            requests = rule.condition.fact_requests(context, now_ms=now_ms)
        except ExpressionEvaluationError:
            continue  # the rule will error at evaluation and be reported there
        for request in requests:
            seen.setdefault(request.key, request)
    return list(seen.values())


def decide(
    bundle: Bundle,
    event: AcsEvent,
    context: Mapping[str, Any],
    *,
    facts: Mapping[str, Any] | None = None,
    now_ms: int | None = None,
) -> Decision:
    # One environment per event, shared by every rule (the clock is pinned so data-backed
    # calls built from now() find their prefetched facts).
    env = EvalEnv(facts or EMPTY_FACTS, now_ms if now_ms is not None else event.at_ms)
    matched: list[RuleMatch] = []
    shadow: list[RuleMatch] = []
    errors: list[RuleError] = []
    for rule in bundle.rules_for(event.type):
        try:
            hit = rule.condition.run(context, env) is True
        except Exception as exc:  # any failure makes the rule errored, never matched
            errors.append(RuleError(rule.id, rule.severity, str(exc) or type(exc).__name__))
            continue
        if hit:
            (shadow if rule.is_shadow else matched).append(_match(rule, context, env))
    if not (matched or shadow or errors):
        return Decision(Outcome.ALLOW, event.id, event.type, bundle.revision)
    return _verdict(bundle, event, matched, shadow, errors)


def _match(rule: Rule, context: Mapping[str, Any], env: EvalEnv) -> RuleMatch:
    facts, now_ms = env.facts, env.now()

    def explain() -> Mapping[str, Any]:
        return rule.condition.evaluate_with_trace(context, facts=facts, now_ms=now_ms)[1]

    resolved: list[tuple[str, Mapping[str, Any]]] = []
    action_errors: list[str] = []
    for action in rule.actions:
        if not action.templated:
            resolved.append((action.name, action.params))
            continue
        try:
            params = acts.resolve_param(action.params, context, facts, now_ms)
        except acts.TemplateError as exc:
            action_errors.append(f"{action.name}: {exc}")
            continue
        resolved.append((action.name, params))
    return RuleMatch(
        rule.id,
        rule.version,
        rule.priority,
        rule.severity,
        rule.is_shadow,
        explain,
        tuple(resolved),
        tuple(action_errors),
        rule.audit,
    )


def _verdict(
    bundle: Bundle,
    event: AcsEvent,
    matched: list[RuleMatch],
    shadow: list[RuleMatch],
    errors: list[RuleError],
) -> Decision:
    decision = Decision(
        Outcome.ALLOW,
        event.id,
        event.type,
        bundle.revision,
        matched=tuple(matched),
        shadow_matched=tuple(shadow),
        errors=tuple(errors),
        effects=tuple(_effects(matched)),
    )
    reject = _first_reject(bundle, matched, errors)
    throttle = _first_action(matched, acts.THROTTLE)
    if reject is not None:
        decision.outcome = Outcome.REJECT
        decision.code, decision.message, decision.status, decision.rule_id = reject
    elif throttle is not None:
        rule_id, params = throttle
        retry = params.get("retryAfterSec", DEFAULT_RETRY_AFTER_S)
        decision.outcome = Outcome.THROTTLE
        decision.code, decision.message = "RATE_LIMIT_EXCEEDED", str(params["message"])
        decision.status, decision.rule_id = THROTTLE_STATUS, rule_id
        decision.retry_after_s = int(retry) if isinstance(retry, int | float) else DEFAULT_RETRY_AFTER_S
    else:
        decision.redactions = tuple(
            {"ruleId": m.rule_id, **p} for m in matched for n, p in m.actions if n == acts.REDACT
        )
        decision.proceed = tuple(
            str(p["outcome"]) for m in matched for n, p in m.actions if n == acts.PROCEED
        )
    return decision


def _first_reject(
    bundle: Bundle, matched: list[RuleMatch], errors: list[RuleError]
) -> tuple[str, str, int, str] | None:
    """(code, message, status, rule id) of the highest-priority reject. An errored critical
    rule rejects (fails closed) at its own priority, so a lower-priority rule cannot hide it."""
    candidates: list[tuple[int, tuple[str, str, int, str]]] = []
    for m in matched:
        params = next((p for name, p in m.actions if name == acts.REJECT), None)
        if params is not None:
            status = params.get("status", DEFAULT_REJECT_STATUS)
            status = status if isinstance(status, int) else DEFAULT_REJECT_STATUS
            candidates.append((m.priority, (str(params["code"]), str(params["message"]), status, m.rule_id)))
    for error in errors:
        rule = bundle.get(error.rule_id)
        if rule is not None and rule.is_critical and not rule.is_shadow:
            message = "A required policy check could not be completed"
            candidates.append((rule.priority, (FAIL_CLOSED_CODE, message, 503, rule.id)))
    if not candidates:
        return None
    return max(candidates, key=lambda c: c[0])[1]


def _first_action(matched: list[RuleMatch], name: str) -> tuple[str, Mapping[str, Any]] | None:
    for m in matched:
        for action_name, params in m.actions:
            if action_name == name:
                return m.rule_id, params
    return None


def _effects(matched: list[RuleMatch]) -> list[Effect]:
    return [
        Effect(m.rule_id, m.rule_version, name, params)
        for m in matched
        for name, params in m.actions
        if acts.ACTION_SPECS[name].side_effect
    ]
