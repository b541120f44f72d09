"""Tokenizer for the condition language.

Produces the whole token list up front (expressions are at most a few KiB) with 1-based
``line:col`` positions so every later error can point at the offending character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import ExpressionLimitError, ExpressionSyntaxError

MAX_SOURCE_LENGTH = 4096
"""Longest accepted expression, in characters (longer text is an ExpressionLimitError)."""


class TokenKind(StrEnum):
    NUMBER = "number"
    STRING = "string"
    NAME = "name"
    CONST = "const"  # true / false / null
    OP = "op"  # operators, punctuation and the `in` keyword
    EOF = "eof"


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    value: Any
    text: str
    line: int
    col: int

    def describe(self) -> str:
        """Human wording for error messages ("identifier 'x'", "end of input", ...)."""
        if self.kind is TokenKind.EOF:
            return "end of input"
        if self.kind is TokenKind.NAME:
            return f"identifier '{self.text}'"
        if self.kind is TokenKind.NUMBER:
            return f"number {self.text}"
        if self.kind is TokenKind.STRING:
            return "string literal"
        return f"'{self.text}'"


_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}
_KEYWORD_OPS = frozenset({"in"})
# Longest first, so "//" wins over "/" and "<=" over "<".
_OPERATORS = (
    "//", "==", "!=", "<=", ">=", "&&", "||",
    "!", "-", "^", "*", "/", "%", "+", "<", ">", ".", "[", "]", "(", ")", "{", "}", ",", ":", "?",
)  # fmt: skip
_NAME_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NAME_CHAR_RE = re.compile(r"[A-Za-z0-9_$]")
_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0",
    "'": "'", '"': '"', "\\": "\\", "/": "/",
}  # fmt: skip
_HINTS = {
    "=": "unexpected character '='; use '==' for equality",
    "&": "unexpected character '&'; did you mean '&&'?",
    "|": "unexpected character '|'; did you mean '||'?",
}


class _Scanner:
    """Walks the source once, tracking the position of every token it emits."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []

    def error(self, message: str, offset: int) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, *self.line_col(offset))

    def line_col(self, offset: int) -> tuple[int, int]:
        """Position of any offset, computed from scratch (only needed for error messages)."""
        line = self.src.count("\n", 0, offset) + 1
        return line, offset - (self.src.rfind("\n", 0, offset) + 1) + 1

    def run(self) -> list[Token]:
        src = self.src
        while self.pos < len(src):
            ch = src[self.pos]
            if ch == "\n":
                self.pos += 1
                self.line += 1
                self.line_start = self.pos
            elif ch in " \t\r":
                self.pos += 1
            elif ch in "'\"":
                self.string(ch)
            elif ch.isascii() and ch.isdigit():
                self.number()
            elif _NAME_RE.match(ch):
                self.name()
            else:
                self.operator(ch)
        self.emit(TokenKind.EOF, None, "", self.pos)
        return self.tokens

    def emit(self, kind: TokenKind, value: Any, text: str, start: int) -> None:
        self.tokens.append(Token(kind, value, text, self.line, start - self.line_start + 1))

    def name(self) -> None:
        match = _NAME_RE.match(self.src, self.pos)
        assert match is not None
        text = match.group()
        if text in _CONSTANTS:
            self.emit(TokenKind.CONST, _CONSTANTS[text], text, self.pos)
        elif text in _KEYWORD_OPS:
            self.emit(TokenKind.OP, text, text, self.pos)
        else:
            self.emit(TokenKind.NAME, text, text, self.pos)
        self.pos = match.end()

    def number(self) -> None:
        start = self.pos
        match = _NUMBER_RE.match(self.src, start)
        assert match is not None
        end = match.end()
        if end < len(self.src) and _NAME_CHAR_RE.match(self.src[end]):
            raise self.error("invalid number literal", start)
        text = match.group()
        self.emit(TokenKind.NUMBER, _number_value(text, self, start), text, start)
        self.pos = end

    def operator(self, ch: str) -> None:
        for op in _OPERATORS:
            if self.src.startswith(op, self.pos):
                self.emit(TokenKind.OP, op, op, self.pos)
                self.pos += len(op)
                return
        raise self.error(_HINTS.get(ch, f"unexpected character {ch!r}"), self.pos)

    def string(self, quote: str) -> None:
        start = self.pos
        src = self.src
        parts: list[str] = []
        i = start + 1
        while True:
            end = _next_special(src, i, quote)
            if end < 0:
                raise self.error("unterminated string literal", start)
            parts.append(src[i:end])
            if src[end] == quote:
                break
            text, i = self.escape(end, start)
            parts.append(text)
        self.emit(TokenKind.STRING, _join_surrogates("".join(parts)), src[start : end + 1], start)
        newlines = src.count("\n", start, end)
        if newlines:
            self.line += newlines
            self.line_start = src.rfind("\n", start, end) + 1
        self.pos = end + 1

    def escape(self, backslash: int, start: int) -> tuple[str, int]:
        """Decode the escape sequence at ``backslash`` in the string opened at ``start``;
        returns the text and the next offset."""
        src = self.src
        if backslash + 1 >= len(src):
            raise self.error("unterminated string literal", start)
        code = src[backslash + 1]
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code], backslash + 2
        if code == "u":
            digits = src[backslash + 2 : backslash + 6]
            if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                return chr(int(digits, 16)), backslash + 6
            raise self.error("invalid \\u escape: expected 4 hex digits", backslash)
        raise self.error(f"invalid escape sequence '\\{code}'", backslash)


def _next_special(src: str, start: int, quote: str) -> int:
    """Offset of the next closing quote or backslash at or after ``start`` (-1 if none)."""
    q = src.find(quote, start)
    b = src.find("\\", start)
    if q < 0:
        return -1 if b < 0 else b
    return q if b < 0 else min(q, b)


def _join_surrogates(text: str) -> str:
    """Combine ``\\uD83D\\uDE00``-style surrogate pairs into one code point, as JSON/JS do."""
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _number_value(text: str, scanner: _Scanner, start: int) -> int | float:
    """Integers stay exact; any literal whose magnitude does not fit a double is refused, so a
    ``10^400``-sized literal never turns into an unbounded computation."""
    if any(c in text for c in ".eE"):
        value = float(text)
        if value == float("inf"):
            raise ExpressionLimitError("numeric literal out of range", *scanner.line_col(start))
        return value
    number = int(text)
    try:
        float(number)
    except OverflowError:
        raise ExpressionLimitError("numeric literal out of range", *scanner.line_col(start)) from None
    return number


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens (ending with an EOF token); raises ExpressionSyntaxError."""
    if len(source) > MAX_SOURCE_LENGTH:
        line, col = _Scanner(source).line_col(MAX_SOURCE_LENGTH)
        raise ExpressionLimitError(f"expression longer than {MAX_SOURCE_LENGTH} characters", line, col)
    return _Scanner(source).run()
