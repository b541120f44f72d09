"""Safety: no Python attribute access, no code execution, bounded work for hostile input."""

from __future__ import annotations

from typing import Any

import pytest

from rodistaa.acs.lang import (
    MAX_NESTING,
    MAX_SOURCE_LENGTH,
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
    compile_expression,
    default_registry,
    parse,
)

REGISTRY = default_registry()


class Opaque:
    """An arbitrary Python object that happens to sit in the context."""

    secret = "attribute"

    def method(self) -> str:
        return "called"


CONTEXT: dict[str, Any] = {"a": {"b": 1}, "obj": Opaque(), "s": "abc", "fn": len}


@pytest.mark.parametrize(
    "source",
    [
        "a.__class__",
        "a.__class__.__mro__",
        "a.__dict__",
        "a.__globals__",
        "a.constructor",
        "a.get",
        "a.keys",
        "a['__class__']",
        "a['get']",
        "s.length",
        "s.upper",
        "s['__len__']",
        "obj.secret",
        "obj.method",
        "obj['secret']",
        "fn.__self__",
        "fn.__globals__",
        "[].__class__",
        "{}.__class__.__subclasses__",
        "'x'.__class__.__base__",
    ],
)
def test_python_attributes_are_unreachable(source: str) -> None:
    assert compile_expression(source, REGISTRY).evaluate(CONTEXT) is None


@pytest.mark.parametrize(
    "source",
    ["__import__('os')", "eval('1')", "exec('x = 1')", "open('/etc/passwd')", "a.get('b')"],
)
def test_only_registered_functions_can_be_called(source: str) -> None:
    with pytest.raises(ExpressionSyntaxError, match="unknown function"):
        compile_expression(source, REGISTRY)


def test_opaque_values_pass_through_but_stay_opaque() -> None:
    obj = CONTEXT["obj"]
    assert compile_expression("obj", REGISTRY).evaluate(CONTEXT) is obj
    assert compile_expression("obj == obj", REGISTRY).evaluate(CONTEXT) is True
    assert compile_expression("obj > 1", REGISTRY).evaluate(CONTEXT) is False


def test_long_expression_is_a_limit_error() -> None:
    source = "1 + " * 1250  # 5,000 characters
    with pytest.raises(ExpressionLimitError) as caught:
        parse(source)
    assert caught.value.message == f"expression longer than {MAX_SOURCE_LENGTH} characters"
    assert (caught.value.line, caught.value.col) == (1, MAX_SOURCE_LENGTH + 1)
    assert isinstance(caught.value, ExpressionSyntaxError)


def test_expression_at_the_length_limit_is_accepted() -> None:
    source = "'" + "x" * (MAX_SOURCE_LENGTH - 2) + "'"
    assert len(compile_expression(source, REGISTRY).evaluate({})) == MAX_SOURCE_LENGTH - 2


@pytest.mark.parametrize("source", ["1" + "0" * 400, "1e400", "1" + "0" * 4000])
def test_huge_numeric_literals_are_refused(source: str) -> None:
    """Literals beyond the double range are refused rather than becoming inf or huge ints."""
    with pytest.raises(ExpressionLimitError, match="numeric literal out of range"):
        parse(source)


def test_large_but_finite_literal_is_exact() -> None:
    assert compile_expression("1" + "0" * 300, REGISTRY).evaluate({}) == 10**300


@pytest.mark.parametrize(
    ("opening", "closing"), [("(", ")"), ("[", "]"), ("{a: ", "}"), ("x[", "]"), ("distance(1, ", ")")]
)
def test_nesting_limit(opening: str, closing: str) -> None:
    ok = opening * MAX_NESTING + "1" + closing * MAX_NESTING
    compile_expression(ok, REGISTRY)
    too_deep = opening * (MAX_NESTING + 1) + "1" + closing * (MAX_NESTING + 1)
    with pytest.raises(ExpressionLimitError, match="nested deeper than 64 levels"):
        compile_expression(too_deep, REGISTRY)


def test_parentheses_64_deep_evaluate() -> None:
    source = "(" * 64 + "x" + ")" * 64
    assert compile_expression(source, REGISTRY).evaluate({"x": 7}) == 7


def test_parentheses_65_deep_report_the_offending_parenthesis() -> None:
    with pytest.raises(ExpressionLimitError) as caught:
        parse("(" * 65 + "x" + ")" * 65)
    assert (caught.value.line, caught.value.col) == (1, 65)


@pytest.mark.parametrize("source", ["!" * 1000 + "x", "-" * 1000 + "1", "- " * 1000 + "1"])
def test_long_unary_chains_are_limit_errors_not_recursion_errors(source: str) -> None:
    with pytest.raises(ExpressionLimitError):
        compile_expression(source, REGISTRY)


@pytest.mark.parametrize(
    "source",
    [
        "1" + " + 1" * 1000,
        "x" + ".y" * 1500,
        "a == 1 || " * 400 + "true",
        "2 ^ " * 1000 + "2",
        "x ? 1 : " * 500 + "2",
        "[" * 2000 + "]" * 2000,
    ],
)
def test_tall_trees_are_limit_errors(source: str) -> None:
    with pytest.raises(ExpressionLimitError):
        compile_expression(source, REGISTRY)


@pytest.mark.parametrize(
    "source", ["2 ^ 99999999", "10 ^ 1001", "99999 ^ 999 ^ 999", "2.0 ^ 5000", "9.9 ^ 999"]
)
def test_huge_powers_fail_fast(source: str) -> None:
    """Refused up front (exponent/bit-size bounds, float overflow): nothing is computed."""
    compiled = compile_expression(source, REGISTRY)  # constant folding must not hang either
    with pytest.raises(ExpressionEvaluationError):
        compiled.evaluate({})


def test_power_of_big_context_numbers_is_bounded() -> None:
    compiled = compile_expression("x ^ 1000", REGISTRY)
    with pytest.raises(ExpressionEvaluationError, match="exceeds"):
        compiled.evaluate({"x": 10**100})
    assert compiled.evaluate({"x": 2}) == 2**1000


def test_float_overflow_in_arithmetic_is_an_evaluation_error() -> None:
    compiled = compile_expression("x * 1.5", REGISTRY)
    with pytest.raises(ExpressionEvaluationError, match="numeric overflow"):
        compiled.evaluate({"x": 10**400})


def test_deeply_nested_data_is_an_evaluation_error() -> None:
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    compiled = compile_expression("x == y", REGISTRY)
    with pytest.raises(ExpressionEvaluationError, match="nested too deeply"):
        compiled.evaluate({"x": deep, "y": deep})


def test_pii_scan_of_long_hostile_text_terminates() -> None:
    """The PII patterns use bounded repetitions, so these stay linear (no catastrophic
    backtracking); a regression would show up as this test hanging."""
    compiled = compile_expression("textContainsPII(t)", REGISTRY)
    for text in ["a" * 100_000, "a." * 50_000, "9 " * 50_000 + "x", "a@" * 50_000]:
        assert compiled.evaluate({"t": text}) in (True, False)
