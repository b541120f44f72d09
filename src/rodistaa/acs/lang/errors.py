"""Errors of the ACS condition language.

Syntax errors (and limit errors) are raised while compiling a rule, so a bad bundle is refused
before it is used; evaluation errors are raised while running a compiled condition and make that
rule *errored* (never silently matched or unmatched).
"""

from __future__ import annotations


class ExpressionError(Exception):
    """Base class: lets callers catch every language error with one clause."""


class ExpressionSyntaxError(ExpressionError, ValueError):
    """The expression text is not valid; carries the 1-based line and column of the problem."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message, line, col)
        self.message = message
        self.line = line
        self.col = col

    def __str__(self) -> str:
        return f"{self.message} ({self.line}:{self.col})"


class ExpressionLimitError(ExpressionSyntaxError):
    """The expression exceeds a safety limit (length, nesting, literal size)."""


class ExpressionEvaluationError(ExpressionError):
    """Evaluation failed in a way that cannot be expressed as ``null`` (function error, missing
    prefetched fact, numeric overflow); the position is that of the failing node when known."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None) -> None:
        super().__init__(message, line, col)
        self.message = message
        self.line = line
        self.col = col

    def __str__(self) -> str:
        if self.line is None or self.col is None:
            return self.message
        return f"{self.message} ({self.line}:{self.col})"

    def at(self, line: int, col: int) -> ExpressionEvaluationError:
        """This error, located at ``line:col`` unless it already has a position."""
        return self if self.line is not None else ExpressionEvaluationError(self.message, line, col)
