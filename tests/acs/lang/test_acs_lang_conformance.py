"""Runs the conformance table through both the compiler and the reference interpreter."""

from __future__ import annotations

from typing import Any

import pytest
from acs_lang_conformance_cases import CASES, RAISES, Case

from rodistaa.acs.lang import (
    ExpressionEvaluationError,
    compile_expression,
    default_registry,
    interpret,
    parse,
)

REGISTRY = default_registry()


def _run_compiled(case: Case) -> Any:
    compiled = compile_expression(case.expr, REGISTRY)
    return compiled.evaluate(case.context, facts=case.facts, now_ms=case.now_ms)


def _run_interpreted(case: Case) -> Any:
    return interpret(parse(case.expr), case.context, case.facts, case.now_ms, REGISTRY)


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 150
    assert len({case.expr for case in CASES}) >= 140


@pytest.mark.parametrize("engine", [_run_compiled, _run_interpreted], ids=["compiled", "interp"])
@pytest.mark.parametrize("case", CASES, ids=[case.expr for case in CASES])
def test_conformance(case: Case, engine: Any) -> None:
    if case.expected is RAISES:
        with pytest.raises(ExpressionEvaluationError):
            engine(case)
        return
    result = engine(case)
    assert repr(result) == repr(case.expected)
    assert type(result) is type(case.expected)
