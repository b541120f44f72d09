"""The actions a rule may take (ACS.md §4), their parameters, and parameter templates.

A string parameter may contain `{{expr}}` templates evaluated with the condition language. A
string that is exactly one template keeps the value's type (a list stays a list); otherwise the
values are formatted into the string. A template that cannot be resolved (an error, or null) is
an error of that action, so a literal `{{...}}` or a null id never reaches the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rodistaa.acs.lang import (
    CompiledExpression,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    FunctionRegistry,
    compile_expression,
)

REJECT = "rejectRequest"
THROTTLE = "throttle"
REDACT = "redactField"
PROCEED = "proceed"


@dataclass(frozen=True)
class ActionSpec:
    name: str
    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    # Side effects are persisted whatever the decision; the others shape the decision itself.
    side_effect: bool = True


def _spec(name: str, required: str, optional: str = "", *, side_effect: bool = True) -> ActionSpec:
    return ActionSpec(name, frozenset(required.split()), frozenset(optional.split()), side_effect)


ACTION_SPECS: Mapping[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        _spec(REJECT, "code message", "status", side_effect=False),
        _spec(THROTTLE, "policy message", "retryAfterSec", side_effect=False),
        _spec(REDACT, "field reason", side_effect=False),
        _spec(PROCEED, "outcome", side_effect=False),
        _spec("blockEntity", "entityType entityId reason severity", "expiresIn scope"),
        _spec("freezeShipment", "shipmentId reason"),
        _spec("suspendAccount", "accountId reason severity", "days"),
        _spec("flagWatchlist", "entityType entityId reason"),
        _spec("createTicket", "team summary", "refs"),
        _spec("requireManualReview", "team summary", "refs"),
        _spec("emitEvent", "name", "payload"),
        _spec("notifyRole", "role message"),
    )
}

BLOCKABLE_ENTITY_TYPES = frozenset({"user", "operator", "driver", "truck", "device", "shipment"})
SEVERITIES = frozenset({"low", "medium", "high", "critical"})
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_DURATION_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class TemplateError(Exception):
    """An action parameter could not be resolved; the action is reported as errored."""


# --- compiled parameter trees --------------------------------------------------------------------


@dataclass(frozen=True)
class _Exact:
    expression: CompiledExpression


@dataclass(frozen=True)
class _Interpolated:
    parts: tuple[str | CompiledExpression, ...]


Param = Any  # a literal, _Exact, _Interpolated, or a dict/list of Params


def compile_param(value: Any, registry: FunctionRegistry) -> Param:
    """Compile every template inside `value`; raises ExpressionError with the template text."""
    if isinstance(value, str):
        return _compile_string(value, registry)
    if isinstance(value, list):
        return [compile_param(item, registry) for item in value]
    if isinstance(value, dict):
        return {key: compile_param(item, registry) for key, item in value.items()}
    return value


def _compile_string(text: str, registry: FunctionRegistry) -> Param:
    matches = list(_TEMPLATE.finditer(text))
    if not matches:
        if "{{" in text or "}}" in text:
            raise ExpressionSyntaxError("unbalanced template braces", 1, max(1, text.find("{") + 1))
        return text
    if len(matches) == 1 and matches[0].span() == (0, len(text)):
        return _Exact(compile_expression(matches[0].group(1).strip(), registry))
    parts: list[str | CompiledExpression] = []
    cursor = 0
    for match in matches:
        if match.start() > cursor:
            parts.append(text[cursor : match.start()])
        parts.append(compile_expression(match.group(1).strip(), registry))
        cursor = match.end()
    if cursor < len(text):
        parts.append(text[cursor:])
    return _Interpolated(tuple(parts))


def has_templates(param: Param) -> bool:
    """Whether anything inside `param` must be evaluated (a template may read no path: `{{now()}}`)."""
    if isinstance(param, _Exact | _Interpolated):
        return True
    if isinstance(param, list):
        return any(has_templates(item) for item in param)
    if isinstance(param, dict):
        return any(has_templates(item) for item in param.values())
    return False


def template_paths(param: Param) -> set[str]:
    """Every data path the templates inside `param` read (for the contract linter)."""
    if isinstance(param, _Exact):
        return set(param.expression.paths)
    if isinstance(param, _Interpolated):
        return {p for part in param.parts if isinstance(part, CompiledExpression) for p in part.paths}
    if isinstance(param, list):
        return {p for item in param for p in template_paths(item)}
    if isinstance(param, dict):
        return {p for item in param.values() for p in template_paths(item)}
    return set()


def resolve_param(param: Param, context: Mapping[str, Any], facts: Mapping[str, Any], now_ms: int) -> Any:
    """The parameter with every template evaluated; TemplateError if one cannot be resolved."""
    if isinstance(param, _Exact):
        return _evaluate(param.expression, context, facts, now_ms)
    if isinstance(param, _Interpolated):
        return "".join(
            part if isinstance(part, str) else _format(_evaluate(part, context, facts, now_ms))
            for part in param.parts
        )
    if isinstance(param, list):
        return [resolve_param(item, context, facts, now_ms) for item in param]
    if isinstance(param, dict):
        return {key: resolve_param(item, context, facts, now_ms) for key, item in param.items()}
    return param


def _evaluate(
    expression: CompiledExpression, context: Mapping[str, Any], facts: Mapping[str, Any], now_ms: int
) -> Any:
    try:
        value = expression.evaluate(context, facts=facts, now_ms=now_ms)
    except ExpressionEvaluationError as exc:
        raise TemplateError(f"template {{{{{expression.source}}}}}: {exc}") from None
    if value is None:
        raise TemplateError(f"template {{{{{expression.source}}}}} resolved to null")
    return value


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# --- parameter checks ----------------------------------------------------------------------------


def check_params(spec: ActionSpec, params: Mapping[str, Any]) -> list[str]:
    """Problems with an action's literal parameters (templated values are checked when run)."""
    problems = [f"missing parameter '{name}'" for name in sorted(spec.required - params.keys())]
    unknown = params.keys() - spec.required - spec.optional
    problems += [f"unknown parameter '{name}'" for name in sorted(unknown)]
    problems += [p for p in _literal_problems(spec.name, params) if p]
    return problems


def _literal_problems(name: str, params: Mapping[str, Any]) -> list[str]:
    problems: list[str | None] = []
    if name == REJECT and "status" in params:
        status = params["status"]
        problems.append(
            None if isinstance(status, int) and 400 <= status <= 599 else "status must be 400-599"
        )
    if name == "blockEntity":
        problems.append(_literal_in(params.get("entityType"), BLOCKABLE_ENTITY_TYPES, "entityType"))
    if name in {"blockEntity", "suspendAccount"}:
        problems.append(_literal_in(_lower(params.get("severity")), SEVERITIES, "severity"))
    if name == "blockEntity" and "expiresIn" in params and not _is_template(params["expiresIn"]):
        problems.append(
            None if duration_seconds(params["expiresIn"]) else "expiresIn must be seconds or like '24h'"
        )
    if name == "suspendAccount" and "days" in params:
        days = params["days"]
        problems.append(
            None if _is_template(days) or (isinstance(days, int) and days > 0) else "days must be > 0"
        )
    for key in ("code", "message", "name", "team", "summary", "role", "reason", "field", "outcome", "policy"):
        value = params.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(f"{key} must be a string")
    return [p for p in problems if p]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) and not _is_template(value) else value


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _literal_in(value: Any, allowed: frozenset[str], field: str) -> str | None:
    if value is None or _is_template(value) or value in allowed:
        return None
    return f"{field} must be one of {', '.join(sorted(allowed))}"


def duration_seconds(value: Any) -> int | None:
    """`expiresIn`: an integer number of seconds or a string such as '30m', '24h', '7d'."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match:
            return int(match.group(1)) * _DURATION_UNITS_S[match.group(2)] or None
    return None
