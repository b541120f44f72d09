"""Rule bundles (ACS.md §1): load a file or a directory, validate everything before anything is
used, compute the canonical revision, and index rules by event type.

A bundle with any error is refused as a whole; every error is reported as
`rule id: field: message (line:col)`, with the position in the bundle file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rodistaa.acs import actions as acts
from rodistaa.acs.contract import unknown_paths
from rodistaa.acs.lang import (
    CompiledExpression,
    ExpressionSyntaxError,
    FunctionRegistry,
    compile_expression,
    default_registry,
)

RULE_ID = re.compile(r"^[A-Z0-9_]+$")
DEFAULT_PRIORITY = 100
MODES = frozenset({"enforce", "shadow"})
RULE_KEYS = frozenset(
    {
        "id",
        "priority",
        "severity",
        "description",
        "condition",
        "action",
        "audit",
        "enabled",
        "mode",
        "version",
        "events",
        "tags",
    }
)


@dataclass(frozen=True)
class BundleIssue:
    rule_id: str
    field: str
    message: str
    line: int
    col: int
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}:" if self.source else ""
        return f"{self.rule_id}: {self.field}: {self.message} ({where}{self.line}:{self.col})"


class BundleError(Exception):
    """The bundle was refused; `issues` lists every problem."""

    def __init__(self, issues: Sequence[BundleIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


@dataclass(frozen=True)
class RuleAction:
    name: str
    params: Mapping[str, Any]  # compiled templates inside (see actions.compile_param)
    spec: acts.ActionSpec
    templated: bool  # False: the parameters are literals and are used as they are


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    severity: str
    description: str
    condition: CompiledExpression
    actions: tuple[RuleAction, ...]
    audit: bool
    enabled: bool
    mode: str
    version: int
    events: frozenset[str] | None  # None: the rule runs for every event type
    tags: tuple[str, ...]

    @property
    def is_critical(self) -> bool:
        return self.severity == "critical"

    @property
    def is_shadow(self) -> bool:
        return self.mode == "shadow"


@dataclass(frozen=True)
class Bundle:
    rules: tuple[Rule, ...]  # enabled and disabled, highest priority first
    revision: str
    canonical: str  # the canonical JSON the revision hashes; stored so instances converge
    _by_event: Mapping[str, tuple[Rule, ...]] = field(repr=False, default_factory=dict)
    _for_all: tuple[Rule, ...] = field(repr=False, default=())

    def rules_for(self, event_type: str) -> tuple[Rule, ...]:
        """Enabled rules that apply to `event_type`, highest priority first."""
        return self._by_event.get(event_type, self._for_all)

    def get(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)


# --- loading -------------------------------------------------------------------------------------


@dataclass
class _RawRule:
    data: dict[str, Any]
    marks: dict[str, tuple[int, int]]
    line: int
    col: int
    source: str


def load_bundle(path: str | Path, *, registry: FunctionRegistry | None = None) -> Bundle:
    """Load a bundle file, or every `*.yaml`/`*.yml` file of a directory in name order."""
    target = Path(path)
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
        if not files:
            raise BundleError([BundleIssue("-", "bundle", "directory has no .yaml files", 1, 1, str(target))])
    elif target.is_file():
        files = [target]
    else:
        raise BundleError([BundleIssue("-", "bundle", "no such file or directory", 1, 1, str(target))])
    sources = [(str(f), f.read_text(encoding="utf-8")) for f in files]
    return parse_bundle(sources, registry=registry)


def parse_bundle(sources: Sequence[tuple[str, str]], *, registry: FunctionRegistry | None = None) -> Bundle:
    """Validate and compile bundle texts `(name, yaml_text)` merged in the given order."""
    if registry is None:
        # Bundles are immutable and compiling one costs tens of milliseconds: instances that
        # reload or converge on the same texts reuse the compiled bundle.
        return _parse_with_default_registry(tuple(sources))
    return _parse(sources, registry)


@functools.lru_cache(maxsize=8)
def _parse_with_default_registry(sources: tuple[tuple[str, str], ...]) -> Bundle:
    return _parse(sources, default_registry())


def _parse(sources: Sequence[tuple[str, str]], registry: FunctionRegistry) -> Bundle:
    issues: list[BundleIssue] = []
    raw_rules: list[_RawRule] = []
    for name, text in sources:
        raw_rules.extend(_read_rules(name, text, issues))
    rules = _compile_rules(raw_rules, registry, issues)
    if issues:
        raise BundleError(issues)
    return _assemble(rules, [raw.data for raw in raw_rules])


def _read_rules(name: str, text: str, issues: list[BundleIssue]) -> list[_RawRule]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        issues.append(BundleIssue("-", "yaml", str(getattr(exc, "problem", exc)), line, col, name))
        return []
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        issues.append(BundleIssue("-", "bundle", "a bundle is a list of rules", *_pos(root), name))
        return []
    rules = []
    for node in root.value:
        if not isinstance(node, yaml.MappingNode):
            issues.append(BundleIssue("-", "rule", "a rule is a mapping", *_pos(node), name))
            continue
        data: dict[str, Any] = {}
        marks: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in data:
                issues.append(BundleIssue("-", str(key), "duplicate key", *_pos(key_node), name))
            data[key] = yaml.SafeLoader(text).construct_document(value_node)
            marks[key] = _pos(value_node)
            if key == "action" and isinstance(value_node, yaml.SequenceNode):
                # Each action's own line, at the column of the list's dash.
                for index, item in enumerate(value_node.value):
                    marks[f"action[{index}]"] = (item.start_mark.line + 1, _pos(value_node)[1])
        rules.append(_RawRule(data, marks, *_pos(node), name))
    return rules


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _compile_rules(
    raw_rules: list[_RawRule], registry: FunctionRegistry, issues: list[BundleIssue]
) -> list[Rule]:
    seen: dict[str, tuple[int, int]] = {}
    rules = []
    for raw in raw_rules:
        checker = _RuleChecker(raw, registry, issues)
        rule = checker.compile()
        rule_id = raw.data.get("id")
        if isinstance(rule_id, str):
            if rule_id in seen:
                line, col = seen[rule_id]
                checker.issue("id", f"duplicate rule id (first defined at {line}:{col})", "id")
            seen.setdefault(rule_id, raw.marks.get("id", (raw.line, raw.col)))
        if rule is not None:
            rules.append(rule)
    return rules


class _RuleChecker:
    def __init__(self, raw: _RawRule, registry: FunctionRegistry, issues: list[BundleIssue]) -> None:
        self.raw = raw
        self.data = raw.data
        self.registry = registry
        self.issues = issues
        rule_id = raw.data.get("id")
        self.rule_id = rule_id if isinstance(rule_id, str) and rule_id else f"<rule at line {raw.line}>"
        self.failed = False

    def issue(
        self,
        field_name: str,
        message: str,
        mark_key: str | None = None,
        offset: tuple[int, int] | None = None,
    ) -> None:
        line, col = self.raw.marks.get(mark_key or field_name, (self.raw.line, self.raw.col))
        if offset is not None:
            # Positions inside a one-line condition: the value starts after its opening quote.
            line, col = line + offset[0] - 1, (col + offset[1] if offset[0] == 1 else offset[1])
        self.issues.append(BundleIssue(self.rule_id, field_name, message, line, col, self.raw.source))
        self.failed = True

    def compile(self) -> Rule | None:
        for key in sorted(self.data.keys() - RULE_KEYS):
            self.issue(key, "unknown field", key)
        rule_id = self._required_str("id")
        if rule_id is not None and not RULE_ID.match(rule_id):
            self.issue("id", "must match ^[A-Z0-9_]+$")
        severity = self._required_str("severity")
        if severity is not None and severity not in acts.SEVERITIES:
            self.issue("severity", "must be low, medium, high or critical")
        condition = self._condition()
        rule_actions = self._actions()
        priority = self._typed("priority", int, DEFAULT_PRIORITY)
        mode = self._typed("mode", str, "enforce")
        if mode not in MODES:
            self.issue("mode", "must be enforce or shadow")
        version = self._typed("version", int, 1)
        if version < 1:
            self.issue("version", "must be >= 1")
        events = self._string_list("events")
        tags = self._string_list("tags") or []
        if self.failed or condition is None or rule_id is None or severity is None:
            return None
        declared = frozenset(events) if events is not None else condition.event_types
        self._check_contract(condition, rule_actions, declared)
        if self.failed:
            return None
        return Rule(
            id=rule_id,
            priority=priority,
            severity=severity,
            description=self._typed("description", str, ""),
            condition=condition,
            actions=tuple(rule_actions),
            audit=self._typed("audit", bool, False),
            enabled=self._typed("enabled", bool, True),
            mode=mode,
            version=version,
            events=declared,
            tags=tuple(tags),
        )

    def _required_str(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            self.issue(key, "is required")
            return None
        if not isinstance(value, str) or not value:
            self.issue(key, "must be a non-empty string")
            return None
        return value

    def _typed(self, key: str, kind: type, default: Any) -> Any:
        value = self.data.get(key, default)
        # bool is an int in Python; a priority of `true` is a mistake, not 1.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.issue(key, f"must be {kind.__name__}")
            return default
        return value

    def _string_list(self, key: str) -> list[str] | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.issue(key, "must be a list of strings")
            return None
        return list(value)

    def _condition(self) -> CompiledExpression | None:
        source = self._required_str("condition")
        if source is None:
            return None
        try:
            return compile_expression(source, self.registry)
        except ExpressionSyntaxError as exc:
            self.issue("condition", exc.message, offset=(exc.line or 1, exc.col or 1))
            return None

    def _actions(self) -> list[RuleAction]:
        value = self.data.get("action")
        if not isinstance(value, list) or not value:
            self.issue("action", "must be a non-empty list of one-key maps")
            return []
        compiled = []
        for index, item in enumerate(value):
            where = f"action[{index}]"
            if not isinstance(item, dict) or len(item) != 1:
                self.issue(where, "must be a map with exactly one action name", where)
                continue
            ((name, params),) = item.items()
            action = self._action(where, name, params)
            if action is not None:
                compiled.append(action)
        return compiled

    def _action(self, where: str, name: Any, params: Any) -> RuleAction | None:
        spec = acts.ACTION_SPECS.get(name) if isinstance(name, str) else None
        if spec is None:
            self.issue(where, f"unknown action '{name}'", where)
            return None
        if not isinstance(params, dict):
            self.issue(f"{where}.{name}", "parameters must be a map", where)
            return None
        problems = acts.check_params(spec, params)
        for problem in problems:
            self.issue(f"{where}.{name}", problem, where)
        try:
            compiled = {key: acts.compile_param(value, self.registry) for key, value in params.items()}
        except ExpressionSyntaxError as exc:
            self.issue(f"{where}.{name}", f"template: {exc}", where)
            return None
        templated = acts.has_templates(compiled)
        return None if problems else RuleAction(name, compiled, spec, templated)

    def _check_contract(
        self, condition: CompiledExpression, rule_actions: list[RuleAction], events: frozenset[str] | None
    ) -> None:
        for path in unknown_paths(condition.paths, events):
            self.issue("condition", f"unknown context path '{path}' for {_describe(events)}")
        for index, action in enumerate(rule_actions):
            read = {p for v in action.params.values() for p in acts.template_paths(v)}
            for path in unknown_paths(read, events):
                self.issue(
                    f"action[{index}].{action.name}", f"unknown context path '{path}'", f"action[{index}]"
                )


def _describe(events: frozenset[str] | None) -> str:
    return "any event" if events is None else "event types " + ", ".join(sorted(events))


# --- assembling ----------------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _assemble(rules: list[Rule], raw: list[dict[str, Any]]) -> Bundle:
    ordered = tuple(sorted(rules, key=lambda r: (-r.priority, r.id)))
    canonical = canonical_json(sorted(raw, key=lambda r: str(r.get("id"))))
    revision = hashlib.sha256(canonical.encode()).hexdigest()
    enabled = [r for r in ordered if r.enabled]
    for_all = tuple(r for r in enabled if r.events is None)
    event_types = {t for r in enabled if r.events for t in r.events}
    by_event = {
        event_type: tuple(r for r in enabled if r.events is None or event_type in r.events)
        for event_type in event_types
    }
    return Bundle(ordered, revision, canonical, by_event, for_all)


def bundle_from_canonical(canonical: str, *, registry: FunctionRegistry | None = None) -> Bundle:
    """Rebuild a bundle another instance stored (the canonical JSON is valid YAML)."""
    return parse_bundle([("<stored>", canonical)], registry=registry)
