"""Closure factories used by the compiler.

Each factory returns a ``fn(context, env)`` specialised for one shape of expression, so that the
common rule conditions (``event.type == 'x'``, ``ctx.role in ['a', 'b']``, ``x >= 200``, chains
of ``&&``) run as a handful of plain Python calls with no per-call allocation and no dispatch on
node types. Every fast path falls back to the generic operation of :mod:`.semantics` for values
it does not special-case, so results are identical to the interpreter's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import ExpressionError, ExpressionEvaluationError
from .functions import EvalEnv, FunctionSpec, call_failed, invoke
from .semantics import plain_str, step, strict_eq, truthy

Fn = Callable[[Mapping[str, Any], EvalEnv], Any]
Compare = Callable[[Any, Any], bool]


def constant(value: Any) -> Fn:
    def const(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
        return value

    return const


# -- data paths ------------------------------------------------------------------------------


def path(keys: tuple[str, ...]) -> Fn:
    """Resolve a fixed path of string keys; a missing step yields None."""
    k0 = keys[0]
    if len(keys) == 1:

        def path1(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
            return ctx.get(k0)

        return path1
    if len(keys) == 2:
        k1 = keys[1]

        def path2(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
            v = ctx.get(k0)
            return v.get(k1) if type(v) is dict else step(v, k1)

        return path2
    rest = keys[1:]

    def path_n(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
        v = ctx.get(k0)
        for key in rest:
            v = v.get(key) if type(v) is dict else step(v, key)
        return v

    return path_n


def traced(fn: Fn, name: str) -> Fn:
    """Record the value read under ``name`` in the evaluation trace."""

    def trace(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
        value = fn(ctx, env)
        if env.trace is not None:
            env.trace[name] = value
        return value

    return trace


def steps(base: Fn, keys: tuple[str | int, ...]) -> Fn:
    def walk(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
        v = base(ctx, env)
        for key in keys:
            v = step(v, key)
        return v

    return walk


def dynamic_step(obj: Fn, key: Fn) -> Fn:
    def index(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
        return step(obj(ctx, env), key(ctx, env))

    return index


# -- operators -------------------------------------------------------------------------------


def binary(op: Callable[[Any, Any], Any], left: Fn, right: Fn) -> Fn:
    def apply(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
        return op(left(ctx, env), right(ctx, env))

    return apply


def arithmetic(op: Callable[[Any, Any], Any], left: Fn, right: Fn, line: int, col: int) -> Fn:
    """An arithmetic operator; its errors (overflow, huge powers) point at the operator."""

    def apply(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
        a = left(ctx, env)
        b = right(ctx, env)
        try:
            return op(a, b)
        except ExpressionEvaluationError as exc:
            raise exc.at(line, col) from None

    return apply


def unary(op: Callable[[Any], Any], operand: Fn) -> Fn:
    def apply(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
        return op(operand(ctx, env))

    return apply


def as_bool(fn: Fn) -> Fn:
    def to_bool(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
        return truthy(fn(ctx, env))

    return to_bool


def negate(fn: Fn, boolean: bool) -> Fn:
    if boolean:

        def not_bool(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
            return not fn(ctx, env)

        return not_bool

    def not_truthy(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
        return not truthy(fn(ctx, env))

    return not_truthy


def equals_constant(fn: Fn, value: Any, negated: bool) -> Fn:
    """``x == literal`` / ``x != literal`` without the generic type dispatch."""
    if value is None or isinstance(value, bool):

        def is_same(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
            return fn(ctx, env) is value

        def is_not_same(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
            return fn(ctx, env) is not value

        return is_not_same if negated else is_same
    fast_type = str if isinstance(value, str) else float

    def equal(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
        v = fn(ctx, env)
        t = type(v)
        if t is fast_type or t is int:
            return bool(v == value)
        return strict_eq(v, value)

    def not_equal(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
        v = fn(ctx, env)
        t = type(v)
        if t is fast_type or t is int:
            return bool(v != value)
        return not strict_eq(v, value)

    return not_equal if negated else equal


def compare_constant(fn: Fn, value: int | float | str, op: Compare, generic: Compare) -> Fn:
    """``x < literal`` (number or string literal): the Python comparison when ``x`` has the
    literal's type class, else the generic (mostly false) comparison."""
    if isinstance(value, str):

        def compare_str(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
            v = fn(ctx, env)
            return op(v, value) if type(v) is str else generic(v, value)

        return compare_str

    def compare_number(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
        v = fn(ctx, env)
        t = type(v)
        return op(v, value) if t is int or t is float else generic(v, value)

    return compare_number


def substring_of(fn: Fn, text: str) -> Fn:
    def contained(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
        v = fn(ctx, env)
        return isinstance(v, str) and v in text

    return contained


def member_of(fn: Fn, values: Sequence[Any]) -> Fn:
    """``x in [literal, ...]`` as set lookups that keep the language's equality exact:
    ``1 in [1.0]`` is true, ``true in [1]`` and ``1 in [true]`` are false."""
    strings = frozenset(plain_str(v) for v in values if isinstance(v, str))
    numbers = frozenset(
        v for v in values if isinstance(v, int | float) and not isinstance(v, bool) and v == v
    )
    bools = frozenset(v for v in values if isinstance(v, bool))
    has_null = any(v is None for v in values)

    def member(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
        v = fn(ctx, env)
        t = type(v)
        if t is str:
            return v in strings
        if t is int or t is float:
            return v in numbers
        if v is None:
            return has_null
        if t is bool:
            return v in bools
        if isinstance(v, str):
            return plain_str(v) in strings
        if isinstance(v, int | float) and not isinstance(v, bool):
            return any(strict_eq(v, n) for n in numbers)
        return False

    return member


# -- logic and control -----------------------------------------------------------------------


def all_of(fns: Sequence[Fn]) -> Fn:
    """``a && b && ...`` over operands that already return bools."""
    if len(fns) == 2:
        a, b = fns

        def and2(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
            return a(ctx, env) and b(ctx, env)

        return and2
    if len(fns) == 3:
        a, b, c = fns

        def and3(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
            return a(ctx, env) and b(ctx, env) and c(ctx, env)

        return and3
    chain = tuple(fns)

    def and_n(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
        for fn in chain:  # noqa: SIM110 -- a loop allocates no generator per call
            if not fn(ctx, env):
                return False
        return True

    return and_n


def any_of(fns: Sequence[Fn]) -> Fn:
    """``a || b || ...`` over operands that already return bools."""
    if len(fns) == 2:
        a, b = fns

        def or2(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
            return a(ctx, env) or b(ctx, env)

        return or2
    chain = tuple(fns)

    def or_n(ctx: Mapping[str, Any], env: EvalEnv) -> bool:
        for fn in chain:  # noqa: SIM110 -- a loop allocates no generator per call
            if fn(ctx, env):
                return True
        return False

    return or_n


def conditional(test: Fn, consequent: Fn, alternate: Fn) -> Fn:
    """``test ? a : b`` where ``test`` already returns a bool."""

    def choose(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
        return consequent(ctx, env) if test(ctx, env) else alternate(ctx, env)

    return choose


def array(items: Sequence[Fn]) -> Fn:
    fns = tuple(items)

    def build(ctx: Mapping[str, Any], env: EvalEnv) -> list[Any]:
        return [fn(ctx, env) for fn in fns]

    return build


def mapping(entries: Sequence[tuple[str, Fn]]) -> Fn:
    pairs = tuple(entries)

    def build(ctx: Mapping[str, Any], env: EvalEnv) -> dict[str, Any]:
        return {key: fn(ctx, env) for key, fn in pairs}

    return build


# -- function calls ----------------------------------------------------------------------------


def call(spec: FunctionSpec, args: Sequence[Fn], line: int, col: int) -> Fn:
    """A function call; one-argument pure functions (the common case) skip the generic path."""
    impl = spec.impl
    if impl is not None and spec.pure and not spec.wants_env and len(args) == 1:
        (arg,) = args

        def call1(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
            value = arg(ctx, env)
            try:
                return impl(value)
            except ExpressionError:
                raise
            except Exception as exc:
                raise call_failed(spec, exc, line, col) from exc

        return call1
    fns = tuple(args)

    def call_n(ctx: Mapping[str, Any], env: EvalEnv) -> Any:
        return invoke(spec, [fn(ctx, env) for fn in fns], env, line, col)

    return call_n
