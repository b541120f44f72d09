"""Property tests: the optimised compiler agrees with the reference interpreter on random
expressions and contexts, and the pretty-printer round-trips every tree."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rodistaa.acs.lang import (
    ArrayLit,
    Binary,
    Call,
    Conditional,
    ExpressionEvaluationError,
    Identifier,
    Index,
    Literal,
    Logical,
    Member,
    Node,
    ObjectLit,
    Unary,
    compile_expression,
    default_registry,
    interpret,
    parse,
    to_source,
)

REGISTRY = default_registry()
NOW = 1_700_000_000_000
KEYS = ["a", "b", "c", "d"]
MEMBER_NAMES = [*KEYS, "lat", "lng", "length", "__class__", "in", "null"]
BINARY_OPS = ["==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "//", "%", "^"]
# name -> arity; all pure functions plus one data-backed function answered by AnyFacts.
FUNCTIONS = {
    "now": 0,
    "distance": 2,
    "textContainsPII": 1,
    "priceEstimator.lowerBound": 1,
    "db.count.trucksByOperator": 1,
}


class AnyFacts(Mapping[str, Any]):
    """A fact store that answers every key (deterministically), so data calls succeed."""

    def __getitem__(self, key: str) -> Any:
        return len(key) % 7

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


# -- data --------------------------------------------------------------------------------------

small_text = st.text(alphabet="ab \"'\\\n9@.é😀", max_size=6)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-50, 50),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from(["", "a", "ab", "b", "status", "9876543210"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from([*KEYS, "lat", "lng"]), inner, max_size=4),
    ),
    max_leaves=12,
)
contexts = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4)

# -- syntax trees ------------------------------------------------------------------------------

literals = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(0, 40),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    small_text,
).map(Literal)
leaves = st.one_of(literals, st.sampled_from([*KEYS, "missing"]).map(Identifier))


def _calls(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.sampled_from(sorted(FUNCTIONS)).flatmap(
        lambda name: st.lists(children, min_size=FUNCTIONS[name], max_size=FUNCTIONS[name]).map(
            lambda args: Call(name, tuple(args))
        )
    )


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    object_keys = st.sampled_from([*KEYS, "x y", "in", "true"])
    return st.one_of(
        st.builds(Member, children, st.sampled_from(MEMBER_NAMES)),
        st.builds(Index, children, children),
        st.lists(children, max_size=3).map(lambda items: ArrayLit(tuple(items))),
        st.dictionaries(object_keys, children, max_size=3).map(
            lambda entries: ObjectLit(tuple(entries.items()))
        ),
        st.builds(Unary, st.sampled_from(["!", "-"]), children),
        st.builds(Binary, st.sampled_from(BINARY_OPS), children, children),
        st.builds(Logical, st.sampled_from(["&&", "||"]), children, children),
        st.builds(Conditional, children, children, children),
        _calls(children),
    )


trees = st.recursive(leaves, _extend, max_leaves=20)

# -- helpers -----------------------------------------------------------------------------------


def _outcome(fn: Any) -> tuple[str, str]:
    """(kind, repr) of a result, or of the error class raised (NaN-safe, type-strict)."""
    try:
        value = fn()
    except ExpressionEvaluationError:
        return ("error", "ExpressionEvaluationError")
    return ("value", f"{type(value).__name__}:{value!r}")


def _strict_equal_trees(a: Node, b: Node) -> bool:
    """Equal, and literals of the same Python type (dataclass equality says 1 == 1.0 == True)."""
    return a == b and repr(a) == repr(b)


# -- properties --------------------------------------------------------------------------------

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(tree=trees)
def test_printer_round_trips(tree: Node) -> None:
    source = to_source(tree)
    assert _strict_equal_trees(parse(source), tree), source


@SETTINGS
@given(tree=trees, context=contexts)
def test_compiler_agrees_with_interpreter(tree: Node, context: dict[str, Any]) -> None:
    source = to_source(tree)
    compiled = compile_expression(source, REGISTRY)
    facts = AnyFacts()
    expected = _outcome(lambda: interpret(tree, context, facts, NOW, REGISTRY))
    actual = _outcome(lambda: compiled.evaluate(context, facts=facts, now_ms=NOW))
    assert actual == expected, source


@SETTINGS
@given(tree=trees, context=contexts)
def test_trace_does_not_change_the_value(tree: Node, context: dict[str, Any]) -> None:
    compiled = compile_expression(to_source(tree), REGISTRY)
    facts = AnyFacts()
    plain = _outcome(lambda: compiled.evaluate(context, facts=facts, now_ms=NOW))
    traces: list[dict[str, Any]] = []

    def traced() -> Any:
        value, trace = compiled.evaluate_with_trace(context, facts=facts, now_ms=NOW)
        traces.append(trace)
        return value

    assert _outcome(traced) == plain
    for key in traces[0] if traces else ():
        assert key in compiled.paths or "(" in key


def _literal_node(value: Any) -> Node:
    """A literal as the parser would produce it (negative numbers are unary minus)."""
    if isinstance(value, list):
        return ArrayLit(tuple(_literal_node(item) for item in value))
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return Unary("-", Literal(-value))
    return Literal(value)


literal_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.5]),
    st.sampled_from(["", "a", "ab", "b"]),
)
data_values = st.one_of(literal_values, scalars, st.lists(literal_values, max_size=2))


@settings(max_examples=300, deadline=None)
@given(
    op=st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in"]),
    value=data_values,
    literal=st.one_of(literal_values, st.lists(literal_values, max_size=4)),
    literal_first=st.booleans(),
)
def test_specialised_comparisons_match_generic(
    op: str, value: Any, literal: Any, literal_first: bool
) -> None:
    """``x OP literal`` and ``literal OP x`` use fast paths (type-checked comparisons,
    frozenset membership); they must keep the language's strict equality and ordering."""
    constant = _literal_node(literal)
    operands = (constant, Identifier("x")) if literal_first else (Identifier("x"), constant)
    tree = Binary(op, *operands)
    compiled = compile_expression(to_source(tree), REGISTRY)
    context = {"x": value}
    assert compiled.evaluate(context) is interpret(tree, context), to_source(tree)


TRICKY = [None, True, False, 0, 1, -1, 0.0, 1.0, -1.0, 0.5, "", "a", "1"]
TRICKY_LISTS = [[], [1], [1.0], [True], [None], ["a", "b"], [0, False, ""], [[1]]]


def test_specialised_comparisons_exhaustively() -> None:
    """Every comparison operator, every tricky scalar on each side: fast path == generic."""
    for op in ["==", "!=", "<", "<=", ">", ">=", "in"]:
        for literal in [*TRICKY, *TRICKY_LISTS]:
            constant = _literal_node(literal)
            for tree in (Binary(op, Identifier("x"), constant), Binary(op, constant, Identifier("x"))):
                compiled = compile_expression(to_source(tree), REGISTRY)
                for value in [*TRICKY, *TRICKY_LISTS, float("nan"), {"a": 1}]:
                    context = {"x": value}
                    expected = interpret(tree, context)
                    assert compiled.evaluate(context) is expected, (to_source(tree), value)
