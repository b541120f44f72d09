"""Static analysis (paths, event guards, data calls), tracing and the function registry."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from rodistaa.acs.lang import (
    EvalEnv,
    ExpressionEvaluationError,
    FunctionRegistry,
    compile_expression,
    data_calls,
    default_registry,
    event_type_guard,
    fact_key,
    parse,
    paths_read,
    text_contains_pii,
    to_source,
)

REGISTRY = default_registry()


@pytest.mark.parametrize(
    ("source", "paths"),
    [
        ("event.type == 'x' && truck.status == 'y'", {"event.type", "truck.status"}),
        ("a.b['c'].d", {"a.b.c.d"}),
        ("a[0].b", {"a"}),
        ("a[x.y].z", {"a", "x.y"}),
        (
            "inspection.geo == null || inspection.geo.accuracy > 1",
            {"inspection.geo", "inspection.geo.accuracy"},
        ),
        ("db.count.trucksByOperator(ctx.operatorId) > 1", {"ctx.operatorId"}),
        ("now() > 1", set()),
        ("{a: x, b: [y.z]}.a", {"x", "y.z"}),
        ("f ? g : h", {"f", "g", "h"}),
    ],
)
def test_paths_read(source: str, paths: set[str]) -> None:
    assert paths_read(parse(source)) == paths


@pytest.mark.parametrize(
    ("source", "guard"),
    [
        ("event.type == 'a'", {"a"}),
        ("'a' == event.type", {"a"}),
        ("event['type'] == 'a' && x", {"a"}),
        ("x && (y && event.type in ['a', 'b'])", {"a", "b"}),
        ("event.type in ['a', 'b'] && event.type == 'b'", {"b"}),
        ("event.type == 'a' || event.type in ['b', 'c']", {"a", "b", "c"}),
        ("(event.type == 'a' && x) || (event.type == 'b' && y)", {"a", "b"}),
        ("event.type in []", set()),
        ("x", None),
        ("event.type != 'a'", None),
        ("event.type == 'a' || x", None),
        ("!(event.type == 'a')", None),
        ("event.type in ['a', x]", None),
        ("event.type == 'a' ? x : y", None),
    ],
)
def test_event_type_guard(source: str, guard: set[str] | None) -> None:
    expected = None if guard is None else frozenset(guard)
    assert event_type_guard(parse(source)) == expected


def test_data_calls_innermost_first() -> None:
    tree = parse(
        "db.count.trucksByOperator(db.count.driverAccountsByDevice(d)) > 1"
        " && distance(a, b) > 1 && rate.limitExceeded(u, 'x', 3)"
    )
    assert [call.name for call in data_calls(tree, REGISTRY)] == [
        "db.count.driverAccountsByDevice",
        "db.count.trucksByOperator",
        "rate.limitExceeded",
    ]
    assert [call.name for call in data_calls(tree)] == [c.name for c in data_calls(tree, REGISTRY)]


def test_fact_key_is_canonical() -> None:
    assert fact_key("db.count.trucksByOperator", ["USR-OP-1"]) == ('db.count.trucksByOperator("USR-OP-1")')
    assert fact_key("f", [1.0, {"b": 1, "a": [2.0, None]}, True]) == 'f(1,{"a":[2,null],"b":1},true)'
    assert fact_key("f", []) == "f()"
    assert fact_key("f", ["é"]) == 'f("é")'
    with pytest.raises(ExpressionEvaluationError):
        fact_key("f", [float("nan")])
    with pytest.raises(ExpressionEvaluationError):
        fact_key("f", [object()])


def test_trace_records_only_what_was_read() -> None:
    compiled = compile_expression(
        "event.type == 'bid.create' && (a.b > 1 || c[0].d) && db.count.trucksByOperator(u) > 1",
        REGISTRY,
    )
    context = {"event": {"type": "bid.create"}, "a": {"b": 5}, "c": [{"d": 1}], "u": "U1"}
    facts = {'db.count.trucksByOperator("U1")': 3}
    value, trace = compiled.evaluate_with_trace(context, facts=facts)
    assert value is True
    assert trace == {"event.type": "bid.create", "a.b": 5, "u": "U1", 'db.count.trucksByOperator("U1")': 3}
    value, trace = compiled.evaluate_with_trace({"event": {"type": "other"}})
    assert (value, trace) == (False, {"event.type": "other"})
    assert compiled.evaluate(context, facts=facts) is True


def test_trace_of_dynamic_and_integer_indexes_uses_the_base_path() -> None:
    compiled = compile_expression("idx[k].truckId == t && list[1] == 2", REGISTRY)
    context = {"idx": {"h": {"truckId": "T"}}, "k": "h", "t": "T", "list": [1, 2]}
    value, trace = compiled.evaluate_with_trace(context)
    assert value is True
    assert trace == {"idx": context["idx"], "k": "h", "t": "T", "list": [1, 2]}


def test_run_with_a_shared_environment() -> None:
    first = compile_expression("db.count.trucksByOperator(u) > 1", REGISTRY)
    second = compile_expression("now() == 5 && a.b == 1", REGISTRY)
    env = EvalEnv({'db.count.trucksByOperator("U1")': 2}, now_ms=5)
    context = {"u": "U1", "a": {"b": 1}}
    assert first.run(context, env) is True
    assert second.run(context, env) is True
    traced_env = EvalEnv(env.facts, 5, trace={})
    assert second.run(context, traced_env) is True
    assert traced_env.trace == {"a.b": 1}


def test_arithmetic_errors_point_at_the_operator() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        compile_expression("1 +\n  2 ^ 5000", REGISTRY).evaluate({})
    assert str(caught.value) == "exponent 5000 is beyond +/-1000 (2:5)"
    with pytest.raises(ExpressionEvaluationError) as caught:
        compile_expression("x * 1.5", REGISTRY).evaluate({"x": 10**400})
    assert str(caught.value) == "numeric overflow (1:3)"


def test_matches_requires_exactly_true() -> None:
    assert compile_expression("1", REGISTRY).matches({}) is False
    assert compile_expression("'yes'", REGISTRY).matches({}) is False
    assert compile_expression("1 == 1", REGISTRY).matches({}) is True


def test_now_falls_back_to_the_clock() -> None:
    before = time.time_ns() // 1_000_000
    value = compile_expression("now()", REGISTRY).evaluate({})
    assert before <= value <= time.time_ns() // 1_000_000 + 1


def test_custom_registry() -> None:
    registry = FunctionRegistry()
    registry.register("math.double", lambda x: x * 2, arity=1)
    registry.register("boom", lambda: 1 / 0, arity=0)
    registry.register("clock", lambda env: env.now(), arity=0, wants_env=True)
    registry.register("count", lambda *xs: len(xs))
    registry.register_data("store.lookup", 1)
    assert compile_expression("math.double(21)", registry).evaluate({}) == 42
    assert compile_expression("clock()", registry).evaluate({}, now_ms=5) == 5
    assert compile_expression("count(1, 2, 3)", registry).evaluate({}) == 3
    assert (
        compile_expression("store.lookup('k')", registry).evaluate({}, facts={'store.lookup("k")': "v"})
        == "v"
    )
    with pytest.raises(ExpressionEvaluationError) as caught:
        compile_expression("1 +\n boom()", registry).evaluate({})
    assert "boom() failed" in caught.value.message
    assert (caught.value.line, caught.value.col) == (2, 2)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("boom", lambda: 0)
    with pytest.raises(ValueError, match="invalid function name"):
        registry.register("bad name", lambda: 0)
    assert "math.double" in registry
    assert len(registry) == 5
    assert {spec.name for spec in registry if not spec.pure} == {"store.lookup"}


def test_missing_fact_names_the_key() -> None:
    compiled = compile_expression("x && db.count.trucksByOperator(u) > 1", REGISTRY)
    with pytest.raises(ExpressionEvaluationError) as caught:
        compiled.evaluate({"x": True, "u": "U9"}, facts={})
    assert str(caught.value) == 'no prefetched fact for db.count.trucksByOperator("U9") (1:6)'


def test_eval_env_defaults() -> None:
    env = EvalEnv()
    assert dict(env.facts) == {}
    assert env.trace is None
    assert EvalEnv(now_ms=7).now() == 7


# -- built-in functions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "call 9876543210",
        "call +919876543210 now",
        "+91 98765 43210",
        "(+91) 98765-43210",
        "0091-98765-43210",
        "0 98765 43210",
        "9 8 7 6 5 4 3 2 1 0",
        "9.8.7.6.5.4.3.2.1.0",
        "9-8-7-6-5-4-3-2-1-0",
        "my number is 98765 43210.",
        "९८७६५४३२१०",
        "ramesh.k@example.co.in",
        "ramesh (at) gmail (dot) com",
        "aadhaar 1234 5678 9012",
        "aadhaar 2345-6789-0123",
        "234567890123",
        "PAN ABCDE1234F",
        "pan abcde1234f",
    ],
)
def test_pii_detected(text: str) -> None:
    assert text_contains_pii(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Load of 12 tonnes, rate 45000 per trip",
        "pickup at 10.30 on 2024-06-15",
        "truck MH12AB1234 ready",
        "5 trucks, 20 tonnes, 3 days",
        "call me at the gate",
        "12345 67890",
        "1234567",
        None,
        12345,
        ["9876543210"],
    ],
)
def test_pii_not_detected(text: Any) -> None:
    assert text_contains_pii(text) is False


def test_distance_is_haversine_in_metres() -> None:
    distance = compile_expression("distance(a, b)", REGISTRY)
    one_degree = distance.evaluate({"a": {"lat": 0, "lng": 0}, "b": {"lat": 0, "lng": 1}})
    assert math.isclose(one_degree, 6_371_008.8 * math.pi / 180, rel_tol=1e-12)
    antipodes = distance.evaluate({"a": {"lat": 0, "lng": 0}, "b": {"lat": 0, "lng": 180}})
    assert math.isclose(antipodes, 6_371_008.8 * math.pi, rel_tol=1e-12)
    assert distance.evaluate({"a": {"lat": 0}, "b": {"lat": 0, "lng": 1}}) is None
    assert distance.evaluate({"a": {"lat": float("nan"), "lng": 0}, "b": {"lat": 0, "lng": 1}}) is None


@pytest.mark.parametrize(
    ("booking", "bound"),
    [
        ({"expectedPrice": 1000}, 900.0),
        ({"expectedPrice": 10.05}, 9.05),
        ({"expectedPrice": 0.05}, 0.05),
        ({"expectedPrice": 1234.5}, 1111.05),
        ({"expectedPrice": 999, "priceRange": {"min": 700.5}}, 700.5),
        ({"expectedPrice": 999, "priceRange": {"min": None}}, 899.1),
        ({"expectedPrice": True}, None),
        ({"expectedPrice": 10**20}, None),
        ("booking", None),
    ],
)
def test_price_lower_bound(booking: Any, bound: float | None) -> None:
    value = compile_expression("priceEstimator.lowerBound(b)", REGISTRY).evaluate({"b": booking})
    assert value == bound
    assert bound is None or type(value) is float


def test_printer_output_is_readable() -> None:
    source = "a.b in ['x', 'y'] && !(c > 1 || d) && -e ^ 2 == (f ? 1 : 2)"
    assert to_source(parse(source)) == source
