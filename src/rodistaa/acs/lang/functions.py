"""Function registry of the condition language.

A function is *pure* (computed in memory from its arguments) or *data-backed* (``pure=False``).
Evaluation never does I/O: a data-backed call is answered from the ``facts`` the engine prefetched
for the event, looked up by :func:`fact_key` of the function name and the evaluated arguments. A
missing fact raises :class:`ExpressionEvaluationError`, so the rule is *errored*, never silently
false. :func:`data_calls` tells a fact provider which calls a condition makes.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from json.encoder import encode_basestring
from types import MappingProxyType
from typing import Any

from .ast import Call, Node, children
from .errors import ExpressionError, ExpressionEvaluationError, ExpressionSyntaxError
from .pii import text_contains_pii
from .semantics import is_number, step

EMPTY_FACTS: Mapping[str, Any] = MappingProxyType({})
EARTH_RADIUS_M = 6_371_008.8
_NAME_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*")


class EvalEnv:
    """Per-evaluation environment: prefetched facts, the pinned clock and an optional trace."""

    __slots__ = ("facts", "now_ms", "trace")

    def __init__(
        self,
        facts: Mapping[str, Any] = EMPTY_FACTS,
        now_ms: int | None = None,
        trace: dict[str, Any] | None = None,
    ) -> None:
        self.facts = facts
        self.now_ms = now_ms
        self.trace = trace

    def now(self) -> int:
        """Epoch milliseconds: the pinned ``now_ms`` (deterministic) or else the wall clock."""
        if self.now_ms is not None:
            return self.now_ms
        return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A registered function. ``arity`` None means any number of arguments; ``wants_env``
    passes the :class:`EvalEnv` as the first argument (e.g. for the clock)."""

    name: str
    impl: Callable[..., Any] | None
    pure: bool
    arity: int | None
    wants_env: bool = False


class FunctionRegistry:
    """Dotted function names to implementations; consulted when an expression is compiled."""

    def __init__(self) -> None:
        self._specs: dict[str, FunctionSpec] = {}

    def register(
        self,
        name: str,
        impl: Callable[..., Any],
        *,
        arity: int | None = None,
        wants_env: bool = False,
    ) -> None:
        """Register a pure function (computed in memory from its arguments)."""
        self._add(FunctionSpec(name, impl, True, arity, wants_env))

    def register_data(self, name: str, arity: int | None) -> None:
        """Register a data-backed function, answered from prefetched facts."""
        self._add(FunctionSpec(name, None, False, arity))

    def _add(self, spec: FunctionSpec) -> None:
        if not _NAME_RE.fullmatch(spec.name):
            raise ValueError(f"invalid function name {spec.name!r}")
        if spec.name in self._specs:
            raise ValueError(f"function {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def get(self, name: str) -> FunctionSpec | None:
        return self._specs.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[FunctionSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


# -- calling -------------------------------------------------------------------------------


def fact_key(name: str, args: list[Any] | tuple[Any, ...]) -> str:
    """Deterministic key of a data-backed call, e.g. ``db.count.trucksByOperator("USR-1")``.

    Arguments are canonical JSON (sorted keys, no spaces, non-ASCII kept); integral floats are
    written as ints so that ``f(1)`` and ``f(1.0)`` -- equal in the language -- share one fact.
    """
    try:
        parts: list[str] = []
        for arg in args:  # the common case, ids and numbers, skips json.dumps' overhead
            text = _scalar_json(arg)
            if text is None:
                break
            parts.append(text)
        else:
            return f"{name}({','.join(parts)})"
        encoded = json.dumps(
            [_canonical(arg) for arg in args],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise ExpressionEvaluationError(f"{name}(): argument is not plain data: {exc}") from None
    return f"{name}({encoded[1:-1]})"


def _scalar_json(value: Any) -> str | None:
    """JSON text of a scalar exactly as :func:`json.dumps` would write it; None otherwise."""
    t = type(value)
    if t is str:
        return encode_basestring(value)
    if t is int:
        return str(value)
    if value is None:
        return "null"
    if t is bool:
        return "true" if value else "false"
    if t is float and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _canonical(item) for key, item in value.items()}
    return value


def invoke(spec: FunctionSpec, args: list[Any], env: EvalEnv, line: int, col: int) -> Any:
    """Call ``spec`` with evaluated ``args`` (shared by the compiler and the interpreter)."""
    if not spec.pure:
        key = fact_key(spec.name, args)
        try:
            value = env.facts[key]
        except KeyError:
            raise ExpressionEvaluationError(f"no prefetched fact for {key}", line, col) from None
        if env.trace is not None:
            env.trace[key] = value
        return value
    assert spec.impl is not None
    try:
        return spec.impl(env, *args) if spec.wants_env else spec.impl(*args)
    except ExpressionError:
        raise
    except Exception as exc:
        raise call_failed(spec, exc, line, col) from exc


def call_failed(spec: FunctionSpec, exc: Exception, line: int, col: int) -> ExpressionEvaluationError:
    """The error a pure function's unexpected exception becomes (the rule is then errored)."""
    return ExpressionEvaluationError(f"{spec.name}() failed: {exc!r}", line, col)


def resolve_function(registry: FunctionRegistry, node: Call) -> FunctionSpec:
    """The spec a call refers to; unknown names and wrong arities are syntax errors."""
    spec = registry.get(node.name)
    if spec is None:
        raise ExpressionSyntaxError(f"unknown function '{node.name}'", node.line, node.col)
    if spec.arity is not None and spec.arity != len(node.args):
        plural = "" if spec.arity == 1 else "s"
        raise ExpressionSyntaxError(
            f"function '{node.name}' takes {spec.arity} argument{plural}, got {len(node.args)}",
            node.line,
            node.col,
        )
    return spec


def data_calls(tree: Node, registry: FunctionRegistry | None = None) -> list[Call]:
    """Data-backed calls in ``tree``, innermost first (so nested calls can be resolved in order).

    Unknown names are skipped (the compiler reports them).
    """
    registry = registry if registry is not None else default_registry()
    found: list[Call] = []

    def visit(node: Node) -> None:
        for child in children(node):
            visit(child)
        if isinstance(node, Call):
            spec = registry.get(node.name)
            if spec is not None and not spec.pure:
                found.append(node)

    visit(tree)
    return found


# -- built-in pure functions -----------------------------------------------------------------


def _now(env: EvalEnv) -> int:
    return env.now()


def _coordinate(point: Any, key: str, limit: float) -> float | None:
    value = step(point, key)
    if not is_number(value) or not abs(value) <= limit:  # also refuses NaN
        return None
    return float(value)


def distance(a: Any, b: Any) -> float | None:
    """Great-circle (haversine) distance in metres between two ``{lat, lng}`` points; ``None``
    when either point is missing or not a valid coordinate."""
    coords = (
        _coordinate(a, "lat", 90),
        _coordinate(a, "lng", 180),
        _coordinate(b, "lat", 90),
        _coordinate(b, "lng", 180),
    )
    if any(c is None for c in coords):
        return None
    lat1, lng1, lat2, lng2 = (math.radians(c) for c in coords if c is not None)
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


_CENT = Decimal("0.01")
_LOWER_BOUND_FACTOR = Decimal("0.9")


def price_lower_bound(booking: Any) -> float | None:
    """Lowest plausible price for a booking.

    ``booking.priceRange.min`` when present (the estimator's explicit floor, used as is);
    otherwise ``booking.expectedPrice * 0.9`` rounded half-up to 2 decimal places; ``None`` when
    neither is a non-negative number below 10^15.
    """
    explicit = step(step(booking, "priceRange"), "min")
    if _is_amount(explicit):
        return float(explicit)
    expected = step(booking, "expectedPrice")
    if not _is_amount(expected):
        return None
    if isinstance(expected, int):  # exact: 0.9 * x in cents is 90 * x
        return expected * 90 / 100
    scaled = Decimal(str(expected)) * _LOWER_BOUND_FACTOR
    return float(scaled.quantize(_CENT, rounding=ROUND_HALF_UP))


_MAX_AMOUNT = 10**15


def _is_amount(value: Any) -> bool:
    """A non-negative price below 10^15 (anything else is not a usable estimate)."""
    return is_number(value) and 0 <= value < _MAX_AMOUNT


DATA_FUNCTIONS: dict[str, int] = {
    "db.count.trucksByOperator": 1,
    "db.count.driverAccountsByDevice": 1,
    "overlappingAcceptExists": 2,
    "rate.limitExceeded": 3,
    "operator.maintenanceWindowActive": 2,
}


def default_registry() -> FunctionRegistry:
    """A fresh registry with every function the reference bundle uses."""
    registry = FunctionRegistry()
    registry.register("now", _now, arity=0, wants_env=True)
    registry.register("distance", distance, arity=2)
    registry.register("textContainsPII", text_contains_pii, arity=1)
    registry.register("priceEstimator.lowerBound", price_lower_bound, arity=1)
    for name, arity in DATA_FUNCTIONS.items():
        registry.register_data(name, arity)
    return registry
