"""Syntax tree of the condition language.

Nodes are small frozen dataclasses. Positions (``line``, ``col``) are excluded from equality so
that a tree re-parsed from its pretty-printed source compares equal to the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

# Binding powers shared by the parser and the printer (higher binds tighter). `&&` and `||`
# share one level because mixing them without parentheses is refused anyway.
TERNARY_PRECEDENCE = 1
LOGICAL_PRECEDENCE = 2
COMPARISON_PRECEDENCE = 3
UNARY_PRECEDENCE = 7
BINARY_PRECEDENCE: dict[str, int] = {
    "==": COMPARISON_PRECEDENCE,
    "!=": COMPARISON_PRECEDENCE,
    "<": COMPARISON_PRECEDENCE,
    "<=": COMPARISON_PRECEDENCE,
    ">": COMPARISON_PRECEDENCE,
    ">=": COMPARISON_PRECEDENCE,
    "in": COMPARISON_PRECEDENCE,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "//": 5,
    "%": 5,
    "^": 6,
}
RIGHT_ASSOCIATIVE = frozenset({"^"})
LOGICAL_OPERATORS = frozenset({"&&", "||"})
UNARY_OPERATORS = frozenset({"!", "-"})


def _pos() -> Any:
    return field(default=0, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Literal:
    """``null``, ``true``/``false``, an int, a float or a string."""

    value: bool | int | float | str | None
    line: int = _pos()
    col: int = _pos()


@dataclass(frozen=True, slots=True)
class Identifier:
    """A top-level name, looked up in the evaluation context."""

    name: str
    line: int = _pos()
    col: int = _pos()


@dataclass(frozen=True, slots=True)
class Member:
    """``obj.name``."""

    obj: Node
    name: str
    line: int = _pos()
    col: int = _pos()


@dataclass(frozen=True, slots=True)
class Index:
    """``obj[index]``: a mapping key or a list index."""

    obj: Node
    index: Node
    line: int = _pos()
    col: int = _pos()


@dataclass(frozen=True, slots=True)
class ArrayLit:
    items: tuple[Node, ...]
    line: int = _pos()
    col: int = _pos()


@dataclass(frozen=True, slots=True)
class ObjectLit:
    entries: tuple[tuple[str, Node], ...]
    line: int = _pos()
    col: int = _pos()


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node
    line: int = _pos()
    col: int = _pos()


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic, comparison and ``in``; the position is the operator's."""

    op: str
    left: Node
    right: Node
    line: int = _pos()
    col: int = _pos()


@dataclass(frozen=True, slots=True)
class Logical:
    """``&&`` / ``||`` (short-circuit, boolean result)."""

    op: str
    left: Node
    right: Node
    line: int = _pos()
    col: int = _pos()


@dataclass(frozen=True, slots=True)
class Conditional:
    """``test ? consequent : alternate``; the position is the ``?``."""

    test: Node
    consequent: Node
    alternate: Node
    line: int = _pos()
    col: int = _pos()


@dataclass(frozen=True, slots=True)
class Call:
    """A call of a registered function by its dotted name."""

    name: str
    args: tuple[Node, ...]
    line: int = _pos()
    col: int = _pos()


Node: TypeAlias = (
    Literal | Identifier | Member | Index | ArrayLit | ObjectLit | Unary | Binary | Logical
    | Conditional | Call
)  # fmt: skip


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of ``node``, in evaluation order."""
    match node:
        case Member(obj=obj):
            return (obj,)
        case Index(obj=obj, index=index):
            return (obj, index)
        case ArrayLit(items=items) | Call(args=items):
            return items
        case ObjectLit(entries=entries):
            return tuple(value for _, value in entries)
        case Unary(operand=operand):
            return (operand,)
        case Binary(left=left, right=right) | Logical(left=left, right=right):
            return (left, right)
        case Conditional(test=test, consequent=consequent, alternate=alternate):
            return (test, consequent, alternate)
        case _:
            return ()


def static_path(node: Node) -> tuple[str | int, ...] | None:
    """The keys of a fixed data path (``a.b['c'][0]``), or None if the node is not one."""
    keys: list[str | int] = []
    while True:
        match node:
            case Identifier(name=name):
                keys.append(name)
                keys.reverse()
                return tuple(keys)
            case Member(obj=obj, name=name):
                keys.append(name)
                node = obj
            case Index(obj=obj, index=Literal(value=value)) if _is_key(value):
                assert isinstance(value, str | int)
                keys.append(value)
                node = obj
            case _:
                return None


def _is_key(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
