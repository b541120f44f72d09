"""Value semantics of the condition language, shared by the compiler and the interpreter.

Data is JSON-shaped: ``None``, ``bool``, ``int``/``float`` (numbers; ``bool`` is *not* a number),
``str``, lists/tuples and mappings. Anything else is opaque: it can be passed around and compared
for equality, but never looked into.

Decisions where ACS.md is silent (documented here once):

* a missing path step, or a step into something that is not a mapping/list, yields ``None``;
  mappings are looked up only by string keys, lists only by in-range non-negative ints;
* ``+`` adds numbers or concatenates two strings; any other mix (``'a' + 1``) is ``None``;
* ``/``, ``//`` and ``%`` by zero are ``None``; ``/`` is true division (``4 / 2 == 2.0``);
  ``%`` is the truncated remainder of JavaScript (``-5 % 3 == -2``);
* ``^`` with an exponent beyond +/-1000, or an integer result beyond 65,536 bits, raises
  :class:`ExpressionEvaluationError`, as does any float overflow; a power with no real result
  (``(-8) ^ 0.5``, ``0 ^ -1``) is ``None``;
* truthiness follows JavaScript: ``None``, ``False``, ``0``, ``0.0``, NaN, ``''``, and also empty
  lists and mappings are falsy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ExpressionEvaluationError

MAX_EXPONENT = 1000
MAX_POWER_BITS = 65_536

_NULL, _BOOL, _NUMBER, _STRING, _SEQUENCE, _MAPPING, _OTHER = range(7)


def kind(value: object) -> int:
    """Type class used by equality and ordering."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int | float):
        return _NUMBER
    if isinstance(value, str):
        return _STRING
    if isinstance(value, list | tuple):
        return _SEQUENCE
    if isinstance(value, Mapping):
        return _MAPPING
    return _OTHER


def is_number(value: object) -> bool:
    t = type(value)
    if t is int or t is float:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool)


def plain_str(value: str) -> str:
    """The exact ``str`` behind a ``str`` subclass (e.g. a ``StrEnum``), for hashing."""
    return value if type(value) is str else str.__str__(value)


def truthy(value: Any) -> bool:
    if value is True:
        return True
    if value is None or value is False:
        return False
    t = type(value)
    if t is str or t is list or t is dict or t is tuple:
        return len(value) > 0
    if t is int:
        return bool(value != 0)
    if t is float:
        return bool(value == value and value != 0.0)
    k = kind(value)
    if k == _NUMBER:
        return bool(value == value and value != 0)
    if k in (_STRING, _SEQUENCE, _MAPPING):
        return bool(len(value) > 0)
    return True


def strict_eq(a: Any, b: Any) -> bool:
    """Equality strict by type, except that ints and floats compare numerically."""
    ta = type(a)
    if ta is type(b) and (ta is str or ta is int or ta is float or ta is bool or a is None):
        return bool(a == b)
    ka = kind(a)
    if ka != kind(b):
        return False
    if ka == _NULL:
        return True
    if ka == _SEQUENCE:
        return len(a) == len(b) and all(strict_eq(x, y) for x, y in zip(a, b, strict=True))
    if ka == _MAPPING:
        return len(a) == len(b) and all(k in b and strict_eq(v, b[k]) for k, v in a.items())
    return bool(a == b)


def strict_ne(a: Any, b: Any) -> bool:
    return not strict_eq(a, b)


def comparable(a: Any, b: Any) -> bool:
    """Ordering is defined between two numbers or two strings only."""
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return True
    if ta is str and tb is str:
        return True
    k = kind(a)
    return k in (_NUMBER, _STRING) and k == kind(b)


def op_lt(a: Any, b: Any) -> bool:
    return comparable(a, b) and bool(a < b)


def op_le(a: Any, b: Any) -> bool:
    return comparable(a, b) and bool(a <= b)


def op_gt(a: Any, b: Any) -> bool:
    return comparable(a, b) and bool(a > b)


def op_ge(a: Any, b: Any) -> bool:
    return comparable(a, b) and bool(a >= b)


def op_in(item: Any, container: Any) -> bool:
    """List membership (strict equality), substring, or mapping key membership."""
    if container is None:
        return False
    if isinstance(container, list | tuple):
        return any(strict_eq(item, element) for element in container)
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, Mapping):
        return isinstance(item, str) and plain_str(item) in container
    return False


def _numeric(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Wrap a numbers-only operator: other operands give None, overflow raises."""

    def op(a: Any, b: Any) -> Any:
        if not (is_number(a) and is_number(b)):
            return None
        try:
            return fn(a, b)
        except OverflowError:
            raise ExpressionEvaluationError("numeric overflow") from None

    op.__name__ = fn.__name__
    op.__doc__ = fn.__doc__
    return op


def op_add(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    return _add(a, b)


@_numeric
def _add(a: Any, b: Any) -> Any:
    return a + b


@_numeric
def op_sub(a: Any, b: Any) -> Any:
    return a - b


@_numeric
def op_mul(a: Any, b: Any) -> Any:
    return a * b


@_numeric
def op_div(a: Any, b: Any) -> Any:
    return None if b == 0 else a / b


@_numeric
def op_floordiv(a: Any, b: Any) -> Any:
    return None if b == 0 else a // b


@_numeric
def op_mod(a: Any, b: Any) -> Any:
    """Truncated remainder (sign of the dividend), as in JavaScript."""
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        remainder = abs(a) % abs(b)
        return remainder if a >= 0 else -remainder
    try:
        return math.fmod(a, b)
    except ValueError:  # fmod(inf, x)
        return None


@_numeric
def op_pow(a: Any, b: Any) -> Any:
    """Power, refusing exponents or integer results that would take unbounded time/memory."""
    if abs(b) > MAX_EXPONENT:
        raise ExpressionEvaluationError(f"exponent {b} is beyond +/-{MAX_EXPONENT}")
    if isinstance(a, int) and isinstance(b, int) and b > 0 and a.bit_length() * b > MAX_POWER_BITS:
        raise ExpressionEvaluationError(f"result of power exceeds {MAX_POWER_BITS} bits")
    try:
        result = a**b
    except ZeroDivisionError:
        return None
    return None if isinstance(result, complex) else result


def op_neg(value: Any) -> Any:
    if not is_number(value):
        return None
    return -value


BINARY_OPERATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": strict_eq,
    "!=": strict_ne,
    "<": op_lt,
    "<=": op_le,
    ">": op_gt,
    ">=": op_ge,
    "in": op_in,
    "+": op_add,
    "-": op_sub,
    "*": op_mul,
    "/": op_div,
    "//": op_floordiv,
    "%": op_mod,
    "^": op_pow,
}
BOOLEAN_OPERATORS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})


def step(value: Any, key: Any) -> Any:
    """One path step: a string key into a mapping or an in-range int index into a list."""
    if type(value) is dict and type(key) is str:
        return value.get(key)
    if value is None:
        return None
    if isinstance(key, str):
        return value.get(plain_str(key)) if isinstance(value, Mapping) else None
    if isinstance(key, int) and not isinstance(key, bool) and isinstance(value, list | tuple):
        return value[key] if 0 <= key < len(value) else None
    return None
