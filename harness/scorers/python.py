"""The ``python`` scorer: a check written in Python, as one expression (``expr``) or a function (``function``).

An expression sees the names of CHECK_NAMES (and ``re`` and ``math``); a function takes any of them, by parameter
name (``def mentions_order(output, case): ...``), and may be async. Either returns True or False, a number from 0 to
1, or a mapping ``{score, reason}`` (``passed`` too, to decide pass or fail itself). Anything else, or an exception,
is that trial's scorer error, naming the check and what it returned.

Both are the suite author's code, trusted as plugins are (see harness.expressions). An expression is compiled and a
function imported once, when the suite loads (where a mistake is an error at its line); trials reuse them.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import numbers
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import plugins
from harness.errors import HarnessError, did_you_mean
from harness.expressions import Expression, compile_expression
from harness.scorers import ScoringContext, Verdict, confine, scorer, transforms

if TYPE_CHECKING:
    from harness.spec import Case, Suite

# What a check sees: the text scored (after any transform), the case's vars and expected, the case record, the
# provider's response record, the tool calls of the answer scored, the output parsed as JSON (None if it is not),
# and which answer of a conversation is scored (from 0).
CHECK_NAMES = ("output", "vars", "expected", "case", "response", "tool_calls", "json", "turn")
RESULT_KEYS = ("score", "reason", "passed")
RETURNS = "a check returns True or False, a number from 0 to 1, or {score, reason}"


def _check(args: dict[str, Any], suite: Suite) -> tuple[str, str | HarnessError] | None:
    """At load: exactly one of expr and function; the expression compiles; the function is found and takes only
    names a check gets."""
    expr, function = args.get("expr"), args.get("function")
    if (expr is None) == (function is None):
        return "expr" if expr is not None else "function", HarnessError(
            "scorer 'python' takes exactly one of 'expr' (a Python expression) and 'function' (file.py:function)",
            hint="expr: \"'refund' in output.lower()\"  or  function: checks.py:mentions_order")
    try:
        if expr is not None:
            _expression(expr)
            return None
        if ":" not in function:
            return "function", f"{function!r} is not file.py:function or module:function"
        confine(function, suite)
        problem = _parameters_problem(_function(function, suite.directory))
    except HarnessError as exc:
        if expr is not None or exc.file is not None:  # the expression's own message, or a line in the function's file
            return ("expr" if expr is not None else "function"), exc
        return "function", HarnessError(f"scorer 'python': function {function!r}: {exc.message}", hint=exc.hint)
    return ("function", problem) if problem else None


@scorer("python", check_args=_check)
async def python(output: str, case: Case, *, expr: str | None = None, function: str | None = None,
                 scoring: ScoringContext) -> Verdict:
    """A Python expression over the output (and the names in CHECK_NAMES), or a function of them."""
    if expr is not None:
        return verdict(_expression(expr).evaluate(names(output, case, scoring)), f"`{expr}`")
    fn = _function(function, scoring.directory)
    result = fn(**names(output, case, scoring, _parameters(fn)))
    if inspect.isawaitable(result):
        result = await result
    return verdict(result, function)


def names(output: str, case: Case, scoring: ScoringContext, wanted: tuple[str, ...] = CHECK_NAMES
          ) -> dict[str, Any]:
    """The names a check sees, those ``wanted`` (the output is parsed as JSON only when ``json`` is)."""
    values = {"output": output, "vars": case.vars, "expected": case.expected, "case": case,
              "response": scoring.response, "tool_calls": scoring.tool_calls, "turn": scoring.turn}
    if "json" in wanted:
        values["json"] = _parsed(output)
    return {name: values[name] for name in wanted}


def _parsed(output: str) -> Any:
    try:
        return transforms.parse_json(output)  # as the json scorer reads it
    except json.JSONDecodeError:
        return None


def verdict(result: Any, check: str) -> Verdict:
    """What a check returned, as a Verdict: or a Verdict with the error saying what it returned instead."""
    if isinstance(result, bool):
        return Verdict(float(result), f"{check} is {result}")
    if isinstance(result, numbers.Real):
        return _number(result, check) or Verdict(float(result), f"{check} = {float(result):g}")
    if isinstance(result, Mapping):
        return _mapping(result, check)
    return _wrong(check, f"returned {_shown(result)}", RETURNS)


def _number(value: Any, check: str) -> Verdict | None:
    """The error for a number that is not a score (outside [0, 1], NaN), or None."""
    if isinstance(value, bool) or (not math.isnan(value) and 0 <= value <= 1):
        return None
    return _wrong(check, f"returned {_shown(value)}", "a score is a number from 0 to 1")


def _mapping(result: Mapping[Any, Any], check: str) -> Verdict:
    unknown = [str(key) for key in result if key not in RESULT_KEYS]
    if unknown:
        return _wrong(check, f"returned a mapping with '{unknown[0]}'{did_you_mean(unknown[0], RESULT_KEYS)}",
                      "its keys are score, reason and passed")
    score, passed = result.get("score"), result.get("passed")
    if passed is not None and not isinstance(passed, bool):
        return _wrong(check, f"returned passed = {_shown(passed)}", "passed is True or False")
    if score is None and passed is None:
        return _wrong(check, f"returned {_shown(result)} with no score", "give a score (or passed)")
    if score is not None and (not isinstance(score, numbers.Real) or _number(score, check) is not None):
        return _wrong(check, f"returned score = {_shown(score)}", "a score is True or False or a number from 0 to 1")
    value = float(score) if score is not None else float(passed)
    reason = result.get("reason")
    return Verdict(value, str(reason) if reason is not None else f"{check} = {value:g}", passed=passed)


def _wrong(check: str, what: str, rule: str) -> Verdict:
    error = f"the python check {check} {what}: {rule}"
    return Verdict(0.0, error, error=error)


def _shown(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 80 else text[:79] + "…"
    return f"{text} ({type(value).__name__})" if not isinstance(value, str | Mapping) else text


@functools.cache
def _expression(source: str) -> Expression:
    """Compiled once (at load), whichever trial asks."""
    return compile_expression(source, what="scorer 'python': expr")


@functools.cache
def _function(target: str, directory: Path) -> Callable[..., Any]:
    return plugins.import_function(target, base=directory)


@functools.cache
def _parameters(fn: Callable[..., Any]) -> tuple[str, ...]:
    """The names a check function takes (all of them when it takes ``**names``)."""
    parameters = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return CHECK_NAMES
    return tuple(p.name for p in parameters if p.name in CHECK_NAMES and p.kind is not p.POSITIONAL_ONLY)


def _parameters_problem(fn: Callable[..., Any]) -> str | None:
    """Why the function cannot be called with the names a check gets, or None."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return f"{fn!r} has no signature harness can read"
    for parameter in parameters:
        if parameter.kind is parameter.POSITIONAL_ONLY and parameter.default is parameter.empty:
            return f"its parameter '{parameter.name}' is positional-only: a check gets its names as keywords"
        if parameter.name not in CHECK_NAMES and parameter.default is parameter.empty and parameter.kind in (
                parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            return (f"it takes '{parameter.name}'{did_you_mean(parameter.name, CHECK_NAMES)}, which is not a name a "
                    f"check gets: {', '.join(CHECK_NAMES)}")
    return None
