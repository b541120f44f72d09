"""Reference tree-walking interpreter.

Deliberately naive -- no specialisation, no constant folding -- so that the property tests can
check the optimised compiler against it. Semantics live in :mod:`.semantics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
from .errors import ExpressionEvaluationError
from .functions import (
    EMPTY_FACTS,
    EvalEnv,
    FunctionRegistry,
    default_registry,
    invoke,
    resolve_function,
)
from .semantics import BINARY_OPERATIONS, op_neg, step, truthy


def interpret(
    tree: Node,
    context: Mapping[str, Any],
    facts: Mapping[str, Any] | None = None,
    now_ms: int | None = None,
    registry: FunctionRegistry | None = None,
) -> Any:
    """Evaluate ``tree`` against ``context`` with the same semantics as compiled expressions."""
    env = EvalEnv(facts if facts is not None else EMPTY_FACTS, now_ms)
    walker = _Interpreter(context, env, registry if registry is not None else default_registry())
    try:
        return walker.eval(tree)
    except RecursionError:
        raise ExpressionEvaluationError("data nested too deeply") from None


class _Interpreter:
    def __init__(self, context: Mapping[str, Any], env: EvalEnv, registry: FunctionRegistry):
        self.context = context
        self.env = env
        self.registry = registry

    def eval(self, node: Node) -> Any:
        match node:
            case Literal(value=value):
                return value
            case Identifier(name=name):
                return self.context.get(name)
            case Member(obj=obj, name=name):
                return step(self.eval(obj), name)
            case Index(obj=obj, index=index):
                return step(self.eval(obj), self.eval(index))
            case ArrayLit(items=items):
                return [self.eval(item) for item in items]
            case ObjectLit(entries=entries):
                return {key: self.eval(value) for key, value in entries}
            case Unary(op="!", operand=operand):
                return not truthy(self.eval(operand))
            case Unary(operand=operand):
                return op_neg(self.eval(operand))
            case Binary(op=op, left=left, right=right):
                operands = self.eval(left), self.eval(right)
                try:
                    return BINARY_OPERATIONS[op](*operands)
                except ExpressionEvaluationError as exc:
                    raise exc.at(node.line, node.col) from None
            case Logical(op="&&", left=left, right=right):
                return truthy(self.eval(left)) and truthy(self.eval(right))
            case Logical(left=left, right=right):
                return truthy(self.eval(left)) or truthy(self.eval(right))
            case Conditional(test=test, consequent=consequent, alternate=alternate):
                return self.eval(consequent if truthy(self.eval(test)) else alternate)
            case Call():
                return self.call(node)
        raise TypeError(f"not a syntax tree node: {node!r}")

    def call(self, node: Call) -> Any:
        spec = resolve_function(self.registry, node)
        args = [self.eval(arg) for arg in node.args]
        return invoke(spec, args, self.env, node.line, node.col)
