"""Lexer and parser: tokens, tree shapes, and syntax errors with exact line:col positions."""

from __future__ import annotations

import pytest

from rodistaa.acs.lang import (
    ArrayLit,
    Binary,
    Call,
    Conditional,
    ExpressionSyntaxError,
    Identifier,
    Index,
    Literal,
    Logical,
    Member,
    ObjectLit,
    Unary,
    compile_expression,
    default_registry,
    parse,
    to_source,
)
from rodistaa.acs.lang.lexer import TokenKind, tokenize

REGISTRY = default_registry()


def test_tokens_carry_one_based_positions() -> None:
    tokens = tokenize("a.b >= 10 &&\n  'x' in [1.5]")
    assert [(t.kind, t.text, t.line, t.col) for t in tokens] == [
        (TokenKind.NAME, "a", 1, 1),
        (TokenKind.OP, ".", 1, 2),
        (TokenKind.NAME, "b", 1, 3),
        (TokenKind.OP, ">=", 1, 5),
        (TokenKind.NUMBER, "10", 1, 8),
        (TokenKind.OP, "&&", 1, 11),
        (TokenKind.STRING, "'x'", 2, 3),
        (TokenKind.OP, "in", 2, 7),
        (TokenKind.OP, "[", 2, 10),
        (TokenKind.NUMBER, "1.5", 2, 11),
        (TokenKind.OP, "]", 2, 14),
        (TokenKind.EOF, "", 2, 15),
    ]


def test_token_values() -> None:
    values = [t.value for t in tokenize(r"12 0.5 1e3 'a\tb' true false null inside // x")]
    assert values == [12, 0.5, 1000.0, "a\tb", True, False, None, "inside", "//", "x", None]


def test_multiline_string_keeps_later_positions_right() -> None:
    tokens = tokenize("'a\nbc' == x")
    assert (tokens[1].line, tokens[1].col) == (2, 5)
    assert tokens[0].value == "a\nbc"


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ("a.b['c']", Index(Member(Identifier("a"), "b"), Literal("c"))),
        ("-2 ^ 2", Binary("^", Unary("-", Literal(2)), Literal(2))),
        ("2 ^ 3 ^ 2", Binary("^", Literal(2), Binary("^", Literal(3), Literal(2)))),
        ("1 - 2 - 3", Binary("-", Binary("-", Literal(1), Literal(2)), Literal(3))),
        ("1 + 2 * 3", Binary("+", Literal(1), Binary("*", Literal(2), Literal(3)))),
        ("a < b == c", Binary("==", Binary("<", Identifier("a"), Identifier("b")), Identifier("c"))),
        ("!a.b", Unary("!", Member(Identifier("a"), "b"))),
        (
            "a ? b : c ? d : e",
            Conditional(
                Identifier("a"),
                Identifier("b"),
                Conditional(Identifier("c"), Identifier("d"), Identifier("e")),
            ),
        ),
        (
            "a && b ? c : d",
            Conditional(Logical("&&", Identifier("a"), Identifier("b")), Identifier("c"), Identifier("d")),
        ),
        (
            "db.count.trucksByOperator(ctx.userId)",
            Call("db.count.trucksByOperator", (Member(Identifier("ctx"), "userId"),)),
        ),
        ("now().x", Member(Call("now", ()), "x")),
        ("[1, [2]]", ArrayLit((Literal(1), ArrayLit((Literal(2),))))),
        ("{a: 1, 'b c': x}", ObjectLit((("a", Literal(1)), ("b c", Identifier("x"))))),
        ("a.in.null", Member(Member(Identifier("a"), "in"), "null")),
        ("x in [1]", Binary("in", Identifier("x"), ArrayLit((Literal(1),)))),
        ("(a || b) && c", Logical("&&", Logical("||", Identifier("a"), Identifier("b")), Identifier("c"))),
    ],
)
def test_tree_shapes(source: str, tree: object) -> None:
    parsed = parse(source)
    assert parsed == tree
    assert parse(to_source(parsed)) == parsed


def test_node_positions() -> None:
    tree = parse("x &&\n  distance(a, b) > 1")
    assert isinstance(tree, Logical)
    assert (tree.line, tree.col) == (1, 3)
    assert isinstance(tree.right, Binary)
    assert (tree.right.line, tree.right.col) == (2, 18)
    assert (tree.right.left.line, tree.right.left.col) == (2, 3)


SYNTAX_ERRORS = [
    ("a && b || c", "mixed && and || without parentheses", 1, 8),
    ("a || b && c", "mixed && and || without parentheses", 1, 8),
    ("(a && b) || c && d", "mixed && and || without parentheses", 1, 15),
    ("a &&\n  b ||\n  c", "mixed && and || without parentheses", 2, 5),
    ("x ? a && b || c : d", "mixed && and || without parentheses", 1, 12),
    ("'abc", "unterminated string literal", 1, 1),
    ("a == 'x\n && b", "unterminated string literal", 1, 6),
    ("'abc\\", "unterminated string literal", 1, 1),
    ("'\\q'", "invalid escape sequence '\\q'", 1, 2),
    ("'\\u12'", "invalid \\u escape: expected 4 hex digits", 1, 2),
    ("", "empty expression", 1, 1),
    ("  \n ", "empty expression", 1, 1),
    ("a b", "unexpected identifier 'b' after the end of the expression", 1, 3),
    ("a == 1 )", "unexpected ')' after the end of the expression", 1, 8),
    ("f(1) 2", "unexpected number 2 after the end of the expression", 1, 6),
    ("1 +", "expected an expression, found end of input", 1, 4),
    ("(1 + 2", "expected ')' to close '(', found end of input", 1, 7),
    ("[1, 2", "expected ']' to close the array literal, found end of input", 1, 6),
    ("[1,]", "expected an expression, found ']'", 1, 4),
    ("{a 1}", "expected ':' after an object key, found number 1", 1, 4),
    ("{a: 1, a: 2}", "duplicate object key 'a'", 1, 8),
    ("a ? b", "expected ':' in conditional expression, found end of input", 1, 6),
    ("a.1", "expected a property name after '.', found number 1", 1, 3),
    ("a[0](1)", "only registered functions can be called (e.g. distance(a, b))", 1, 5),
    ("x = 1", "unexpected character '='; use '==' for equality", 1, 3),
    ("a & b", "unexpected character '&'; did you mean '&&'?", 1, 3),
    ("a | b", "unexpected character '|'; did you mean '||'?", 1, 3),
    ("\n\n  a # b", "unexpected character '#'", 3, 5),
    ("12abc", "invalid number literal", 1, 1),
    ("1e", "invalid number literal", 1, 1),
    ("in", "expected an expression, found 'in'", 1, 1),
]


@pytest.mark.parametrize(("source", "message", "line", "col"), SYNTAX_ERRORS)
def test_syntax_errors(source: str, message: str, line: int, col: int) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(source, REGISTRY)
    error = caught.value
    assert (error.message, error.line, error.col) == (message, line, col)
    assert str(error) == f"{message} ({line}:{col})"
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("source", "message", "line", "col"),
    [
        ("nope(1)", "unknown function 'nope'", 1, 1),
        ("x &&\n  db.nope.count(1)", "unknown function 'db.nope.count'", 2, 3),
        ("__import__('os')", "unknown function '__import__'", 1, 1),
        ("a.constructor('x')", "unknown function 'a.constructor'", 1, 1),
        ("distance(1)", "function 'distance' takes 2 arguments, got 1", 1, 1),
        ("x == now(1)", "function 'now' takes 0 arguments, got 1", 1, 6),
        ("textContainsPII()", "function 'textContainsPII' takes 1 argument, got 0", 1, 1),
    ],
)
def test_function_errors_at_compile_time(source: str, message: str, line: int, col: int) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(source, REGISTRY)
    assert (caught.value.message, caught.value.line, caught.value.col) == (message, line, col)


def test_parenthesised_mixing_is_fine() -> None:
    compiled = compile_expression("(a && b) || (c && !d)", REGISTRY)
    assert compiled.evaluate({"c": 1}) is True
