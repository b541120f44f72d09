"""The ACS condition language: a JEXL-compatible expression language compiled to closures.

Typical use::

    registry = default_registry()
    condition = compile_expression("event.type == 'bid.create' && bid.amount < 100", registry)
    condition.event_types                       # frozenset({'bid.create'})
    condition.evaluate(context, facts=facts, now_ms=now_ms) is True   # matched?

See ACS.md section 2 for the language, :mod:`.semantics` for the decisions it leaves open.
"""

from __future__ import annotations

from .analysis import event_type_guard, paths_read
from .ast import (
    ArrayLit,
    Binary,
    Call,
    Conditional,
    Identifier,
    Index,
    Literal,
    Logical,
    Member,
    Node,
    ObjectLit,
    Unary,
)
from .compiler import CompiledExpression, FactRequest, compile_expression
from .errors import (
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
)
from .functions import (
    EvalEnv,
    FunctionRegistry,
    FunctionSpec,
    data_calls,
    default_registry,
    fact_key,
)
from .interpreter import interpret
from .parser import MAX_NESTING, MAX_SOURCE_LENGTH, MAX_TREE_DEPTH, parse
from .pii import text_contains_pii
from .printer import to_source
from .semantics import strict_eq, truthy

__all__ = [
    "MAX_NESTING",
    "MAX_SOURCE_LENGTH",
    "MAX_TREE_DEPTH",
    "ArrayLit",
    "Binary",
    "Call",
    "CompiledExpression",
    "Conditional",
    "EvalEnv",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionLimitError",
    "ExpressionSyntaxError",
    "FactRequest",
    "FunctionRegistry",
    "FunctionSpec",
    "Identifier",
    "Index",
    "Literal",
    "Logical",
    "Member",
    "Node",
    "ObjectLit",
    "Unary",
    "compile_expression",
    "data_calls",
    "default_registry",
    "event_type_guard",
    "fact_key",
    "interpret",
    "parse",
    "paths_read",
    "strict_eq",
    "text_contains_pii",
    "to_source",
    "truthy",
]
