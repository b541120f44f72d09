"""Static questions about a syntax tree, asked by the bundle loader, the linter and the engine.

* :func:`paths_read` -- which data paths a condition reads (checked against the context contract);
* :func:`event_type_guard` -- which event types a condition can match (so the engine can index
  rules by event type instead of scanning them all).
"""

from __future__ import annotations

from .ast import (
    ArrayLit,
    Binary,
    Identifier,
    Index,
    Literal,
    Logical,
    Member,
    Node,
    children,
    static_path,
)


def paths_read(tree: Node) -> set[str]:
    """Dotted data paths the expression reads, e.g. ``{"event.type", "truck.status"}``.

    A fixed path is reported whole (``a.b['c']`` gives ``a.b.c``); a path indexed by a computed
    key or an integer (``a[x].y``, ``a[0]``) is reported up to that index (``a``), plus whatever
    the key expression reads.
    """
    found: set[str] = set()
    _collect_paths(tree, found)
    return found


def _collect_paths(node: Node, found: set[str]) -> None:
    path = static_path(node)
    if path is not None:
        found.add(_join(path))
        return
    for child in children(node):
        _collect_paths(child, found)


def _join(path: tuple[str | int, ...]) -> str:
    """Dotted form of a path, stopping at the first integer index."""
    parts: list[str] = []
    for key in path:
        if not isinstance(key, str):
            break
        parts.append(key)
    return ".".join(parts)


def path_name(path: tuple[str | int, ...]) -> str:
    """The name under which a fixed path is reported (and traced)."""
    return _join(path)


_EVENT_TYPE = ("event", "type")


def event_type_guard(tree: Node) -> frozenset[str] | None:
    """Event types the expression can possibly match, or None when that is not derivable.

    A conjunction (``&&`` chain, at its top level) guarded by ``event.type == 'x'`` or
    ``event.type in ['x', 'y']`` can only match those types (several guards intersect). A
    disjunction whose every branch is guarded can match the union of their types.
    """
    if isinstance(tree, Logical) and tree.op == "||":
        union: set[str] = set()
        for branch in _flatten(tree, "||"):
            guard = event_type_guard(branch)
            if guard is None:
                return None
            union |= guard
        return frozenset(union)
    result: frozenset[str] | None = None
    for conjunct in _flatten(tree, "&&"):
        types = _guard_of(conjunct)
        if types is not None:
            result = types if result is None else result & types
    return result


def _flatten(node: Node, op: str) -> list[Node]:
    """Operands of a chain of the same logical operator, in source order."""
    if isinstance(node, Logical) and node.op == op:
        return _flatten(node.left, op) + _flatten(node.right, op)
    return [node]


def _guard_of(node: Node) -> frozenset[str] | None:
    if not isinstance(node, Binary):
        return None
    if node.op == "==":
        for path_side, value_side in ((node.left, node.right), (node.right, node.left)):
            if _is_event_type(path_side) and _is_string(value_side):
                assert isinstance(value_side, Literal)
                return frozenset({str(value_side.value)})
        return None
    if node.op == "in" and _is_event_type(node.left) and isinstance(node.right, ArrayLit):
        items = node.right.items
        if all(_is_string(item) for item in items):
            return frozenset(str(item.value) for item in items if isinstance(item, Literal))
    return None


def _is_event_type(node: Node) -> bool:
    return isinstance(node, Member | Index | Identifier) and static_path(node) == _EVENT_TYPE


def _is_string(node: Node) -> bool:
    return isinstance(node, Literal) and isinstance(node.value, str)
