"""Pretty-printer: turns a syntax tree back into source text.

``parse(to_source(tree)) == tree`` for every tree the parser produces (positions aside): the
printer adds exactly the parentheses the precedence rules need, always parenthesises a logical
operand that uses the other logical operator, and never prints negative numeric literals (the
parser reads ``-1`` as unary minus applied to ``1``).
"""

from __future__ import annotations

import math
import re

from .ast import (
    BINARY_PRECEDENCE,
    LOGICAL_PRECEDENCE,
    RIGHT_ASSOCIATIVE,
    TERNARY_PRECEDENCE,
    UNARY_PRECEDENCE,
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

_POSTFIX_PRECEDENCE = UNARY_PRECEDENCE + 1
_IDENTIFIER_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_RESERVED = frozenset({"true", "false", "null", "in"})
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def to_source(tree: Node) -> str:
    """Source text that parses back to ``tree``."""
    return _print(tree)


def _precedence(node: Node) -> int:
    match node:
        case Conditional():
            return TERNARY_PRECEDENCE
        case Logical():
            return LOGICAL_PRECEDENCE
        case Binary(op=op):
            return BINARY_PRECEDENCE[op]
        case Unary():
            return UNARY_PRECEDENCE
        case Literal(value=int() | float() as value) if not isinstance(value, bool) and value < 0:
            return UNARY_PRECEDENCE
        case _:
            return _POSTFIX_PRECEDENCE


def _wrap(node: Node, needs_parens: bool) -> str:
    text = _print(node)
    return f"({text})" if needs_parens else text


def _print(node: Node) -> str:
    match node:
        case Literal(value=value):
            return _literal(value)
        case Identifier(name=name):
            return name
        case Member(obj=obj, name=name):
            return f"{_postfix_object(obj)}.{name}"
        case Index(obj=obj, index=index):
            return f"{_postfix_object(obj)}[{_print(index)}]"
        case ArrayLit(items=items):
            return "[" + ", ".join(_print(item) for item in items) + "]"
        case ObjectLit(entries=entries):
            return "{" + ", ".join(f"{_key(k)}: {_print(v)}" for k, v in entries) + "}"
        case Call(name=name, args=args):
            return f"{name}(" + ", ".join(_print(arg) for arg in args) + ")"
        case Unary(op=op, operand=operand):
            inner = _wrap(operand, _precedence(operand) < UNARY_PRECEDENCE)
            return f"{op} {inner}" if inner.startswith("-") else f"{op}{inner}"
        case Binary() | Logical():
            return _binary(node)
        case Conditional(test=test, consequent=consequent, alternate=alternate):
            test_text = _wrap(test, _precedence(test) <= TERNARY_PRECEDENCE)
            return f"{test_text} ? {_print(consequent)} : {_print(alternate)}"
    raise TypeError(f"not a syntax tree node: {node!r}")


def _binary(node: Binary | Logical) -> str:
    precedence = _precedence(node)
    right_assoc = isinstance(node, Binary) and node.op in RIGHT_ASSOCIATIVE
    left_prec, right_prec = _precedence(node.left), _precedence(node.right)
    left_parens = left_prec < precedence or (left_prec == precedence and right_assoc)
    right_parens = right_prec < precedence or (right_prec == precedence and not right_assoc)
    if isinstance(node, Logical):
        left_parens = left_parens or _other_logical(node.left, node.op)
        right_parens = right_parens or _other_logical(node.right, node.op)
    return f"{_wrap(node.left, left_parens)} {node.op} {_wrap(node.right, right_parens)}"


def _other_logical(node: Node, op: str) -> bool:
    return isinstance(node, Logical) and node.op != op


def _postfix_object(node: Node) -> str:
    """The object of ``.name`` / ``[i]``: parenthesised unless it is already a postfix term
    (numbers too, so that ``(1).x`` is not read as a decimal point)."""
    bare = _precedence(node) == _POSTFIX_PRECEDENCE
    number = isinstance(node, Literal) and isinstance(node.value, int | float)
    return _wrap(node, not bare or number)


def _literal(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise ValueError(f"literal {value!r} has no source form")


def _string(value: str) -> str:
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " " or ch == "\x7f" or "\ud800" <= ch <= "\udfff":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def _key(key: str) -> str:
    if _IDENTIFIER_RE.fullmatch(key) and key not in _RESERVED:
        return key
    return _string(key)
