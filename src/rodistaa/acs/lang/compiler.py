"""Compiler from syntax trees to nested Python closures.

An expression is parsed and compiled once; evaluating it is then a few closure calls. No user
text is ever passed to ``eval``/``exec`` and data is only reached through mapping ``.get`` and
list indexing (:func:`.semantics.step`), so ``x.__class__`` is simply ``null``.

A rule matches only when its condition evaluates to exactly ``True`` (``evaluate(...) is True``);
any other value, ``null`` included, is "not matched", and an :class:`ExpressionEvaluationError`
means "errored". That decision belongs to the engine; :meth:`CompiledExpression.matches` is the
one-line helper.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from . import closures as c
from .analysis import event_type_guard, path_name, paths_read
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
    static_path,
)
from .errors import ExpressionEvaluationError, ExpressionLimitError
from .functions import (
    EMPTY_FACTS,
    EvalEnv,
    FunctionRegistry,
    data_calls,
    default_registry,
    fact_key,
    resolve_function,
)
from .parser import parse
from .semantics import BINARY_OPERATIONS, BOOLEAN_OPERATORS, op_ge, op_gt, op_le, op_lt, op_neg

_SCALARS = (type(None), bool, int, float, str)
_ORDERINGS: dict[str, tuple[c.Compare, c.Compare]] = {
    "<": (operator.lt, op_lt),
    "<=": (operator.le, op_le),
    ">": (operator.gt, op_gt),
    ">=": (operator.ge, op_ge),
}
_MIRRORED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_FOLD_CONTEXT: Mapping[str, Any] = MappingProxyType({})
_SHARED_ENV = EvalEnv()


class _Code(NamedTuple):
    """A compiled node: its closure, whether it always yields a bool, whether it depends on
    neither data nor functions, and (``known``) its value computed at compile time."""

    fn: c.Fn
    boolean: bool = False
    constant: bool = False
    known: bool = False
    value: Any = None


class FactRequest(NamedTuple):
    """One prefetched answer a condition needs: ``facts[key]`` for ``name(*args)``."""

    name: str
    args: tuple[Any, ...]
    key: str


class _Compiler:
    def __init__(self, registry: FunctionRegistry, trace: bool) -> None:
        self.registry = registry
        self.trace = trace

    def compile(self, node: Node) -> _Code:
        return self._fold(self._compile(node))

    def _fold(self, code: _Code) -> _Code:
        """Evaluate constant sub-expressions once; errors are left to evaluation time."""
        if not code.constant or code.known:
            return code
        try:
            value = code.fn(_FOLD_CONTEXT, _SHARED_ENV)
        except ExpressionEvaluationError:
            return _Code(code.fn, code.boolean)
        if isinstance(value, _SCALARS):
            return _Code(c.constant(value), isinstance(value, bool), True, True, value)
        return _Code(code.fn, code.boolean, True, True, value)  # lists are rebuilt per call

    def _compile(self, node: Node) -> _Code:
        match node:
            case Literal(value=value):
                return _Code(c.constant(value), isinstance(value, bool), True, True, value)
            case Identifier() | Member() | Index():
                return self._path(node)
            case ArrayLit(items=items):
                codes = [self.compile(item) for item in items]
                return _Code(c.array([x.fn for x in codes]), constant=_all_constant(codes))
            case ObjectLit(entries=entries):
                pairs = [(key, self.compile(value)) for key, value in entries]
                entry_fns = [(key, code.fn) for key, code in pairs]
                return _Code(c.mapping(entry_fns), constant=_all_constant([x for _, x in pairs]))
            case Unary(op=op, operand=operand):
                inner = self.compile(operand)
                if op == "!":
                    return _Code(c.negate(inner.fn, inner.boolean), True, inner.constant)
                return _Code(c.unary(op_neg, inner.fn), constant=inner.constant)
            case Binary():
                return self._binary(node)
            case Logical(op=op):
                codes = [self.compile(operand) for operand in _chain(node, op)]
                fns = [x.fn if x.boolean else c.as_bool(x.fn) for x in codes]
                fn = c.all_of(fns) if op == "&&" else c.any_of(fns)
                return _Code(fn, True, _all_constant(codes))
            case Conditional(test=test, consequent=consequent, alternate=alternate):
                codes = [self.compile(test), self.compile(consequent), self.compile(alternate)]
                test_fn = codes[0].fn if codes[0].boolean else c.as_bool(codes[0].fn)
                fn = c.conditional(test_fn, codes[1].fn, codes[2].fn)
                boolean = codes[1].boolean and codes[2].boolean
                return _Code(fn, boolean, _all_constant(codes))
            case Call():
                return self._call(node)
        raise TypeError(f"not a syntax tree node: {node!r}")

    def _path(self, node: Identifier | Member | Index) -> _Code:
        keys = static_path(node)
        if keys is None:
            if isinstance(node, Member):
                obj = self.compile(node.obj)
                fn = c.dynamic_step(obj.fn, c.constant(node.name))
                return _Code(fn, constant=obj.constant)
            assert isinstance(node, Index)
            obj, index = self.compile(node.obj), self.compile(node.index)
            return _Code(c.dynamic_step(obj.fn, index.fn), constant=_all_constant([obj, index]))
        split = next((i for i, key in enumerate(keys) if not isinstance(key, str)), len(keys))
        head = tuple(str(key) for key in keys[:split])
        fn = c.path(head)
        if self.trace:
            fn = c.traced(fn, path_name(head))
        if split < len(keys):
            fn = c.steps(fn, keys[split:])
        return _Code(fn)

    def _binary(self, node: Binary) -> _Code:
        left, right = self.compile(node.left), self.compile(node.right)
        op = node.op
        boolean = op in BOOLEAN_OPERATORS
        constant = left.constant and right.constant
        if not constant and op in _MIRRORED and _is_scalar_constant(left):
            left, right, op = right, left, _MIRRORED[op]
        if not boolean:
            fn = c.arithmetic(BINARY_OPERATIONS[op], left.fn, right.fn, node.line, node.col)
            return _Code(fn, constant=constant)
        special = None if constant else _specialise(op, left.fn, right)
        return _Code(special or c.binary(BINARY_OPERATIONS[op], left.fn, right.fn), True, constant)

    def _call(self, node: Call) -> _Code:
        spec = resolve_function(self.registry, node)
        args = [self.compile(arg).fn for arg in node.args]
        return _Code(c.call(spec, args, node.line, node.col))


def _specialise(op: str, left: c.Fn, right: _Code) -> c.Fn | None:
    """A fast closure for ``expr OP literal``, or None to use the generic operator."""
    if not right.known:
        return None
    value = right.value
    if op in ("==", "!=") and isinstance(value, _SCALARS):
        return c.equals_constant(left, value, negated=op == "!=")
    if op in _ORDERINGS and isinstance(value, int | float | str) and not isinstance(value, bool):
        fast, generic = _ORDERINGS[op]
        return c.compare_constant(left, value, fast, generic)
    if op == "in" and isinstance(value, str):
        return c.substring_of(left, value)
    if op == "in" and isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
        return c.member_of(left, value)
    return None


def _is_scalar_constant(code: _Code) -> bool:
    return code.known and isinstance(code.value, _SCALARS)


def _all_constant(codes: list[_Code]) -> bool:
    return all(code.constant for code in codes)


def _chain(node: Node, op: str) -> list[Node]:
    """Operands of a chain of one logical operator, in evaluation order."""
    if isinstance(node, Logical) and node.op == op:
        return _chain(node.left, op) + _chain(node.right, op)
    return [node]


class CompiledExpression:
    """A parsed and compiled condition, ready to evaluate many times."""

    __slots__ = ("_data_args", "_fn", "_registry", "_traced", "ast", "data_calls", "paths", "source")

    def __init__(self, source: str, tree: Node, registry: FunctionRegistry) -> None:
        self.source = source
        self.ast = tree
        self.paths: frozenset[str] = frozenset(paths_read(tree))
        self.data_calls: tuple[Call, ...] = tuple(data_calls(tree, registry))
        self._registry = registry
        compiler = _Compiler(registry, trace=False)
        self._fn = compiler.compile(tree).fn
        self._traced: c.Fn | None = None
        self._data_args = tuple(
            tuple(compiler.compile(arg).fn for arg in call.args) for call in self.data_calls
        )

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r})"

    @property
    def event_types(self) -> frozenset[str] | None:
        """Event types this condition can match (see :func:`event_type_guard`)."""
        return event_type_guard(self.ast)

    def evaluate(
        self,
        context: Mapping[str, Any],
        *,
        facts: Mapping[str, Any] | None = None,
        now_ms: int | None = None,
    ) -> Any:
        """The value of the expression; ExpressionEvaluationError when it cannot be computed."""
        env = _SHARED_ENV if facts is None and now_ms is None else _env(facts, now_ms)
        try:
            return self._fn(context, env)
        except RecursionError:
            raise ExpressionEvaluationError("data nested too deeply") from None

    def run(self, context: Mapping[str, Any], env: EvalEnv) -> Any:
        """Evaluate with a caller-built environment (the engine builds one per event and shares
        it across rules). When ``env.trace`` is a dict, the paths read are recorded into it."""
        fn = self._fn if env.trace is None else self._traced_program()
        try:
            return fn(context, env)
        except RecursionError:
            raise ExpressionEvaluationError("data nested too deeply") from None

    def matches(
        self,
        context: Mapping[str, Any],
        *,
        facts: Mapping[str, Any] | None = None,
        now_ms: int | None = None,
    ) -> bool:
        """Whether the condition holds: its value is exactly ``True``."""
        return self.evaluate(context, facts=facts, now_ms=now_ms) is True

    def evaluate_with_trace(
        self,
        context: Mapping[str, Any],
        *,
        facts: Mapping[str, Any] | None = None,
        now_ms: int | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """The value plus every data path (and data-backed call) actually read, with its value.

        Uses a separately compiled, instrumented program built on first use, so plain
        :meth:`evaluate` pays nothing for tracing.
        """
        trace: dict[str, Any] = {}
        value = self.run(context, EvalEnv(facts if facts is not None else EMPTY_FACTS, now_ms, trace))
        return value, trace

    def _traced_program(self) -> c.Fn:
        if self._traced is None:
            self._traced = _Compiler(self._registry, trace=True).compile(self.ast).fn
        return self._traced

    def fact_requests(
        self,
        context: Mapping[str, Any],
        *,
        facts: Mapping[str, Any] | None = None,
        now_ms: int | None = None,
    ) -> list[FactRequest]:
        """The data-backed answers evaluation will look up for ``context``.

        Arguments are evaluated with the same ``now_ms`` that evaluation must use (pin it, or
        keys built from ``now()`` will not match). A call nested in another call's arguments
        needs its own fact in ``facts`` first (requests are listed innermost first).
        """
        env = _env(facts, now_ms)
        requests = []
        for call, arg_fns in zip(self.data_calls, self._data_args, strict=True):
            args = tuple(fn(context, env) for fn in arg_fns)
            requests.append(FactRequest(call.name, args, fact_key(call.name, args)))
        return requests


def _env(facts: Mapping[str, Any] | None, now_ms: int | None) -> EvalEnv:
    return EvalEnv(facts if facts is not None else EMPTY_FACTS, now_ms)


def compile_expression(source: str, registry: FunctionRegistry | None = None) -> CompiledExpression:
    """Parse and compile ``source`` against ``registry`` (default: :func:`default_registry`).

    Raises ExpressionSyntaxError (with line:col) for bad text, unknown functions or wrong
    arities, and ExpressionLimitError for oversized expressions.
    """
    registry = registry if registry is not None else default_registry()
    tree = parse(source)
    try:
        return CompiledExpression(source, tree, registry)
    except RecursionError:  # backstop only: parse() bounds the tree depth
        raise ExpressionLimitError("expression nested too deeply", 1, 1) from None
