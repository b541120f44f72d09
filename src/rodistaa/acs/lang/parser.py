"""Pratt parser for the condition language.

Precedence, tightest first: postfix (``.name``, ``[expr]``, calls); unary ``!`` ``-``; ``^``
(right-associative); ``* / // %``; ``+ -``; comparisons and ``in``; ``&&`` / ``||``; the ternary
``a ? b : c`` (right-associative). ``&&`` and ``||`` may not be mixed at one level without
parentheses: ``a && b || c`` is a syntax error at the ``||``.

Limits (all :class:`ExpressionLimitError`, never a Python ``RecursionError``):

* source longer than :data:`MAX_SOURCE_LENGTH` characters;
* a numeric literal beyond the range of a double (``1e400``, a 400-digit integer): refused
  rather than read as infinity or as a huge exact integer;
* nesting deeper than :data:`MAX_NESTING` -- each parenthesis, array, object, index bracket,
  call argument list, unary operator, right operand of ``^`` and ternary branch is one level;
* a syntax tree taller than :data:`MAX_TREE_DEPTH` (e.g. ``1+1+...+1`` with over 100 terms),
  which keeps compiling, printing and evaluating the tree (a few Python frames per level) well
  inside Python's default recursion limit of 1,000 frames, even from a deep call stack.
"""

from __future__ import annotations

from .analysis import event_type_guard, paths_read
from .ast import (
    BINARY_PRECEDENCE,
    LOGICAL_OPERATORS,
    LOGICAL_PRECEDENCE,
    RIGHT_ASSOCIATIVE,
    TERNARY_PRECEDENCE,
    UNARY_OPERATORS,
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
    children,
)
from .errors import ExpressionLimitError, ExpressionSyntaxError
from .lexer import MAX_SOURCE_LENGTH, Token, TokenKind, tokenize

__all__ = [
    "MAX_NESTING",
    "MAX_SOURCE_LENGTH",
    "MAX_TREE_DEPTH",
    "event_type_guard",
    "parse",
    "paths_read",
]

MAX_NESTING = 64
MAX_TREE_DEPTH = 100


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    # -- token helpers -------------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not TokenKind.EOF:
            self.i += 1
        return tok

    def is_op(self, text: str) -> bool:
        tok = self.tokens[self.i]
        return tok.kind is TokenKind.OP and tok.value == text

    def expect(self, text: str, context: str) -> Token:
        if not self.is_op(text):
            tok = self.peek()
            raise _error(f"expected '{text}' {context}, found {tok.describe()}", tok)
        return self.advance()

    def nest(self, tok: Token) -> None:
        """Enter one nesting level (see the module docstring); leave with ``self.depth -= 1``."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionLimitError(
                f"expression nested deeper than {MAX_NESTING} levels", tok.line, tok.col
            )

    # -- grammar -------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.peek().kind is TokenKind.EOF:
            raise ExpressionSyntaxError("empty expression", 1, 1)
        node = self.expression(0)
        tok = self.peek()
        if tok.kind is not TokenKind.EOF:
            raise _error(f"unexpected {tok.describe()} after the end of the expression", tok)
        return node

    def expression(self, min_precedence: int) -> Node:
        """Parse operators binding at least as tightly as ``min_precedence``."""
        left = self.prefix()
        chain_op: str | None = None  # the && / || already used at this level
        while True:
            tok = self.peek()
            if tok.kind is not TokenKind.OP:
                return left
            op = tok.value
            if op == "?" and min_precedence <= TERNARY_PRECEDENCE:
                left = self.ternary(left)
                continue
            if op in LOGICAL_OPERATORS:
                precedence = LOGICAL_PRECEDENCE
            elif op in BINARY_PRECEDENCE:
                precedence = BINARY_PRECEDENCE[op]
            else:
                return left
            if precedence < min_precedence:
                return left
            self.advance()
            if op in LOGICAL_OPERATORS:
                if chain_op is not None and chain_op != op:
                    raise _error("mixed && and || without parentheses", tok)
                chain_op = op
                right = self.expression(precedence + 1)
                left = Logical(op, left, right, line=tok.line, col=tok.col)
            else:
                right = self.right_operand(op, precedence, tok)
                left = Binary(op, left, right, line=tok.line, col=tok.col)

    def right_operand(self, op: str, precedence: int, tok: Token) -> Node:
        if op not in RIGHT_ASSOCIATIVE:
            return self.expression(precedence + 1)
        self.nest(tok)
        node = self.expression(precedence)
        self.depth -= 1
        return node

    def ternary(self, test: Node) -> Node:
        question = self.advance()
        self.nest(question)
        consequent = self.expression(0)
        self.expect(":", "in conditional expression")
        alternate = self.expression(TERNARY_PRECEDENCE)
        self.depth -= 1
        return Conditional(test, consequent, alternate, line=question.line, col=question.col)

    def prefix(self) -> Node:
        tok = self.peek()
        if tok.kind is TokenKind.OP and tok.value in UNARY_OPERATORS:
            self.advance()
            self.nest(tok)
            operand = self.expression(UNARY_PRECEDENCE)
            self.depth -= 1
            return Unary(tok.value, operand, line=tok.line, col=tok.col)
        return self.postfix(self.primary())

    def primary(self) -> Node:
        tok = self.advance()
        if tok.kind in (TokenKind.NUMBER, TokenKind.STRING, TokenKind.CONST):
            return Literal(tok.value, line=tok.line, col=tok.col)
        if tok.kind is TokenKind.NAME:
            return Identifier(tok.value, line=tok.line, col=tok.col)
        if tok.kind is TokenKind.OP and tok.value == "(":
            self.nest(tok)
            node = self.expression(0)
            self.expect(")", "to close '('")
            self.depth -= 1
            return node
        if tok.kind is TokenKind.OP and tok.value == "[":
            return self.array(tok)
        if tok.kind is TokenKind.OP and tok.value == "{":
            return self.object(tok)
        raise _error(f"expected an expression, found {tok.describe()}", tok)

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.peek()
            if tok.kind is not TokenKind.OP:
                return node
            if tok.value == ".":
                self.advance()
                name = self.advance()
                if name.kind not in (TokenKind.NAME, TokenKind.CONST) and not (
                    name.kind is TokenKind.OP and name.value == "in"
                ):
                    raise _error(f"expected a property name after '.', found {name.describe()}", name)
                node = Member(node, name.text, line=tok.line, col=tok.col)
            elif tok.value == "[":
                self.advance()
                self.nest(tok)
                index = self.expression(0)
                self.expect("]", "to close '['")
                self.depth -= 1
                node = Index(node, index, line=tok.line, col=tok.col)
            elif tok.value == "(":
                node = self.call(node, tok)
            else:
                return node

    def call(self, callee: Node, paren: Token) -> Node:
        named = _dotted_name(callee)
        if named is None:
            raise _error("only registered functions can be called (e.g. distance(a, b))", paren)
        name, root = named
        self.advance()
        self.nest(paren)
        args = self.comma_list(")", "to close the argument list")
        self.depth -= 1
        return Call(name, tuple(args), line=root.line, col=root.col)

    def array(self, bracket: Token) -> Node:
        self.nest(bracket)
        items = self.comma_list("]", "to close the array literal")
        self.depth -= 1
        return ArrayLit(tuple(items), line=bracket.line, col=bracket.col)

    def comma_list(self, closer: str, context: str) -> list[Node]:
        items: list[Node] = []
        if self.is_op(closer):
            self.advance()
            return items
        while True:
            items.append(self.expression(0))
            if self.is_op(","):
                self.advance()
                continue
            self.expect(closer, context)
            return items

    def object(self, brace: Token) -> Node:
        self.nest(brace)
        entries: list[tuple[str, Node]] = []
        seen: set[str] = set()
        if self.is_op("}"):
            self.advance()
        else:
            while True:
                key_tok = self.advance()
                if key_tok.kind not in (TokenKind.NAME, TokenKind.STRING):
                    raise _error(f"expected an object key, found {key_tok.describe()}", key_tok)
                key = key_tok.text if key_tok.kind is TokenKind.NAME else key_tok.value
                if key in seen:
                    raise _error(f"duplicate object key {key!r}", key_tok)
                seen.add(key)
                self.expect(":", "after an object key")
                entries.append((key, self.expression(0)))
                if self.is_op(","):
                    self.advance()
                    continue
                self.expect("}", "to close the object literal")
                break
        self.depth -= 1
        return ObjectLit(tuple(entries), line=brace.line, col=brace.col)


def _dotted_name(node: Node) -> tuple[str, Identifier] | None:
    """``a.b.c`` and its first identifier for a plain identifier chain (a callable name)."""
    parts: list[str] = []
    while isinstance(node, Member):
        parts.append(node.name)
        node = node.obj
    if not isinstance(node, Identifier):
        return None
    parts.append(node.name)
    return ".".join(reversed(parts)), node


def _error(message: str, tok: Token) -> ExpressionSyntaxError:
    return ExpressionSyntaxError(message, tok.line, tok.col)


def _check_tree_depth(root: Node) -> None:
    """Refuse over-tall trees (iteratively, so the check itself cannot overflow the stack)."""
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise ExpressionLimitError(
                f"expression tree deeper than {MAX_TREE_DEPTH} levels", node.line, node.col
            )
        stack.extend((child, depth + 1) for child in children(node))


def parse(source: str) -> Node:
    """Parse ``source`` into a syntax tree; raises ExpressionSyntaxError / ExpressionLimitError."""
    if not source.strip():
        raise ExpressionSyntaxError("empty expression", 1, 1)
    tokens = tokenize(source)
    try:
        tree = _Parser(tokens).parse()
    except RecursionError:  # backstop only: the nesting limit is reached long before
        raise ExpressionLimitError("expression nested too deeply", 1, 1) from None
    _check_tree_depth(tree)
    return tree
