"""Python expressions a suite writes: a python scorer's ``expr``, a ``python:`` transform, a derived metric.

They are the suite author's code, trusted as plugins and tests are (see the README's trust model), so they run
with Python's builtins. What they see is data: the names each use passes (``output``, ``vars``, ...) and ``re``,
``math`` and ``json``. An expression is compiled once, at load, so a syntax error is a load error naming the file
and line; what goes wrong while evaluating it is the caller's to record (a trial's scorer error, never a crash).
"""

from __future__ import annotations

import builtins
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any

from harness.errors import HarnessError

# The modules every expression can use without importing them.
MODULES: dict[str, Any] = {"re": re, "math": math, "json": json}


@dataclass(frozen=True)
class Expression:
    """A compiled expression and the source it came from (shown in errors and the report)."""

    source: str
    code: CodeType

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        """Its value with ``names`` bound. One namespace for all: a comprehension inside sees them too."""
        return eval(self.code, {"__builtins__": builtins, **MODULES, **names})  # noqa: S307 - the suite's own code


def compile_expression(source: Any, *, what: str, file: str | Path | None = None,
                       line: int | None = None) -> Expression:
    """``source`` compiled as one Python expression, or a HarnessError naming where it was written and why not."""
    if not isinstance(source, str) or not source.strip():
        raise HarnessError(f"{what}: a Python expression must be a non-empty string, not {source!r}", file=file,
                           line=line)
    text = source.strip()
    try:
        return Expression(text, compile(text, f"<{what}>", "eval"))
    except SyntaxError as exc:
        column = f" at column {exc.offset}" if exc.offset else ""
        raise HarnessError(f"{what}: the Python expression {text!r} does not compile: {exc.msg}{column}",
                           file=file, line=line,
                           hint="one expression, such as: len(output.split()) <= 20 and 'refund' in output.lower()"
                           ) from None


def failure(exc: BaseException) -> str:
    """What went wrong evaluating an expression, as a trial records it: the exception's type and message."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
