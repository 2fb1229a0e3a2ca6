"""Exceptions of the classad package.

UNDEFINED and ERROR are *values* in the language and never exceptions.
Python exceptions are kept for what a caller must fix::

    ValueError
     └── ClassAdError                 base of everything this package raises
          ├── ClassAdSyntaxError      text that does not parse (line, column, excerpt)
          └── ClassAdEvaluationError  evaluation that cannot produce a value at
                                      all (HTCondor's ClassAdException), e.g. an
                                      attribute name that is not a string

``WireFormatError`` (classad/_wire.py) is also a ``ValueError``.
"""

from __future__ import annotations

__all__ = ["ClassAdError", "ClassAdSyntaxError", "ClassAdEvaluationError"]


class ClassAdError(ValueError):
    """Base class of the exceptions raised by the classad package."""


class ClassAdEvaluationError(ClassAdError):
    """An evaluation request that cannot be answered with a value."""


class ClassAdSyntaxError(ClassAdError):
    """Text that is not valid ClassAd syntax.

    ``line`` and ``column`` are 1-based; ``excerpt`` is the offending line
    with a caret under the column, so a user sees where the problem is.
    """

    def __init__(self, message: str, source: str = "", pos: int = 0) -> None:
        pos = max(0, min(pos, len(source)))
        self.reason = message
        self.position = pos
        self.line = source.count("\n", 0, pos) + 1
        line_start = source.rfind("\n", 0, pos) + 1
        line_end = source.find("\n", pos)
        if line_end < 0:
            line_end = len(source)
        self.column = pos - line_start + 1
        text = source[line_start:line_end]
        # Keep excerpts readable for long one-line ads.
        offset = 0
        if len(text) > 120:
            offset = max(0, self.column - 60)
            text = text[offset:offset + 120]
        self.excerpt = f"{text}\n{' ' * (self.column - 1 - offset)}^"
        super().__init__(
            f"{message} at line {self.line}, column {self.column}:\n{self.excerpt}"
        )
