"""Output transforms: what a trial's output goes through before it is scored (``transform:`` in a suite).

A transform is a list of steps applied in order, each to what the one before left: ``json``, ``{json_path: ...}``,
``{regex: ...}``, ``strip``, ``lower``, ``strip_think``, ``{python: ...}``. A step may leave a value that is not
text (``json`` leaves a dict or a list): the next step takes it as it is, and wherever text is needed (a text
step such as ``regex``, or a scorer) a value that is not text is read as its compact JSON, which ``json`` parses
back to the same value. Every step is checked and compiled when the suite loads (a bad JSONPath, a pattern or a
Python expression that does not compile is a load error at its line); what goes wrong on one output (JSON that
does not parse, a path or pattern that matches nothing, an expression that raises) is a TransformError, which the
scoring step records on the trial, or on the scorer whose own transform it was.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, did_you_mean
from harness.expressions import Expression, compile_expression, failure
from harness.jsonpaths import compile_path, names_one_place
from harness.scorers.arguments import PatternTimeout, check_pattern, search

if TYPE_CHECKING:
    from jsonpath_ng import JSONPath

    from harness.records import Response
    from harness.spec import Case

# Steps written as a bare name, and steps written as a one-key mapping to their argument.
BARE = ("json", "strip", "lower", "strip_think")
WITH_ARGUMENT = ("json_path", "regex", "python")
STEP_HINT = ("a step is one of json, strip, lower, strip_think, or a mapping: {json_path: '$.a.b'}, "
             "{regex: 'total: (\\d+)'}, {python: 'output.split()[0]'}")
_FENCED = re.compile(r"```(?:json)?\s*\n?(.*?)\n?```", re.DOTALL | re.IGNORECASE)
_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_SHOWN_CHARS = 80  # of an output quoted in an error


class TransformError(Exception):
    """A step that could not be applied to this output: the trial (or the scorer) records it, the run goes on."""


@dataclass(frozen=True)
class Inputs:
    """What a ``python`` step may read besides the output: the trial's case and the model's response."""

    case: Case
    response: Response


@dataclass(frozen=True)
class Step:
    """One compiled step: its name as written (for messages) and what it does to a value."""

    shown: str
    run: Callable[[Any, Inputs], Any]


def parse_json(text: str) -> Any:
    """``text`` parsed as JSON, a ```json fence around it tolerated (as models write it); json.JSONDecodeError
    when it is not JSON."""
    text = text.strip()
    fenced = _FENCED.fullmatch(text)
    return json.loads(fenced.group(1) if fenced else text)


def text_of(value: Any) -> str:
    """A value as text, as scorers and text steps read it: text as it is, anything else as its compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_of(value: Any) -> Any:
    """The output as JSON (the name ``json`` in a Python expression): a value that is not text as it is, text
    parsed (a ```json fence tolerated), or None when the text is not JSON."""
    if not isinstance(value, str):
        return value
    try:
        return parse_json(value)
    except ValueError:
        return None


def apply(steps: list[Any], value: Any, inputs: Inputs) -> Any:
    """``value`` through every step in order; a TransformError names the step that failed and why."""
    for written in steps:
        step = _compiled(*_parts(written))
        try:
            value = step.run(value, inputs)
        except TransformError as exc:
            raise TransformError(f"{step.shown}: {exc}") from None
    return value


def check(steps: list[Any], *, file: str | Path | None, line: int | None,
          lines: Callable[[int], int | None] = lambda _i: None, owner: str = "") -> None:
    """Load time: every step is a known one, of the right shape, and compiles; else a HarnessError at the line of
    the step (``lines(i)``, else ``line``), its message starting with ``owner`` ("case 'x': ") when given."""
    for i, written in enumerate(steps):
        where = lines(i) or line
        try:
            name, argument = _parts(written)
        except ValueError as exc:
            raise HarnessError(f"{owner}transform: {exc}", file=file, line=where, hint=STEP_HINT) from None
        if name == "python":  # compiled here, for the file and line of a syntax error
            compile_expression(argument, what=f"{owner}python transform", file=file, line=where)
        try:
            _compiled(name, argument)
        except ValueError as exc:
            raise HarnessError(f"{owner}transform {name}: {exc}", file=file, line=where) from None


def _parts(step: Any) -> tuple[str, str | None]:
    """(name, argument) of a step as the suite writes it, or a ValueError saying what is wrong with it."""
    names = [*BARE, *WITH_ARGUMENT]
    if isinstance(step, str):
        if step in WITH_ARGUMENT:
            raise ValueError(f"'{step}' needs its argument: write it as {{{step}: ...}}")
        if step not in BARE:
            raise ValueError(f"unknown transform '{step}'{did_you_mean(step, names)}")
        return step, None
    if not isinstance(step, dict) or len(step) != 1:
        raise ValueError(f"a step is a name or a mapping of one name to its argument, not {step!r}")
    (name, argument), = step.items()
    if name in BARE:
        raise ValueError(f"'{name}' takes no argument: write it as the bare name {name}")
    if name not in WITH_ARGUMENT:
        raise ValueError(f"unknown transform '{name}'{did_you_mean(str(name), names)}")
    if not isinstance(argument, str) or not argument.strip():
        raise ValueError(f"'{name}' needs a non-empty text argument, not {argument!r}")
    return name, argument


@functools.cache
def _compiled(name: str, argument: str | None) -> Step:
    """A step ready to run (compiled once: a JSONPath takes milliseconds to parse). ValueError when its argument
    does not compile."""
    if name == "json_path":
        return Step(f"json_path {argument}", _json_path_step(argument, compile_path(argument)))
    if name == "regex":
        check_pattern(argument)
        return Step(f"regex /{argument}/", lambda value, _inputs: _first_group(argument, text_of(value)))
    if name == "python":
        expression = compile_expression(argument, what="python transform")
        return Step(f"python {expression.source!r}", lambda value, inputs: _evaluate(expression, value, inputs))
    return Step(name, _PLAIN[name])


def _on_text(change: Callable[[str], Any]) -> Callable[[Any, Inputs], Any]:
    return lambda value, _inputs: change(text_of(value))


def _parsed(text: str) -> Any:
    """``text`` as JSON, or a TransformError quoting it."""
    try:
        return parse_json(text)
    except json.JSONDecodeError as exc:
        raise TransformError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}) in "
                             f"{_clip(text)!r}") from None


def strip_think(text: str) -> str:
    """The answer without its reasoning: every ``<think>...</think>`` block dropped, and so is a block whose opening
    tag was in the prompt (everything before a lone ``</think>``) or that was never closed (everything from a lone
    ``<think>`` on: the model stopped while thinking); then the whitespace around what is left."""
    text = _THINK_BLOCK.sub("", text)
    closing = text.lower().find("</think>")
    if closing >= 0:
        text = text[closing + len("</think>"):]
    opening = text.lower().find("<think>")
    if opening >= 0:
        text = text[:opening]
    return text.strip()


# The steps without an argument. ``json`` of a value that is not text (already parsed) leaves it as it is.
_PLAIN: dict[str, Callable[[Any, Inputs], Any]] = {
    "json": lambda value, _inputs: _parsed(value) if isinstance(value, str) else value,
    "strip": _on_text(str.strip), "lower": _on_text(str.lower), "strip_think": _on_text(strip_think)}


def _first_group(pattern: str, text: str) -> str:
    """The pattern's first match: its first group that took part, or the whole match when it has no group."""
    try:
        match = search(pattern, text)
    except PatternTimeout as exc:
        raise TransformError(str(exc)) from None
    if match is None:
        raise TransformError(f"no match in {_clip(text)!r}")
    return next((group for group in match.groups() if group is not None), match.group(0))



def _json_path_step(path: str, compiled: JSONPath) -> Callable[[Any, Inputs], Any]:
    """What the path finds: the value, for a path that names one place ($.a.b, $.items[0]); the list of every
    match, in document order, for one that may match several (a wildcard, a slice, a filter, ``..``)."""
    single = names_one_place(compiled)

    def run(value: Any, _inputs: Inputs) -> Any:
        document = _parsed(value) if isinstance(value, str) else value
        try:
            found = [match.value for match in compiled.find(document)]
        except Exception as exc:  # a path that does not fit the document's shape ($[0] of an object)
            raise TransformError(f"does not apply to {_clip(text_of(document))!r} ({failure(exc)})") from None
        if not found:
            raise TransformError(f"matched nothing in {_clip(text_of(document))!r}")
        return found[0] if single else found

    return run



def _evaluate(expression: Expression, value: Any, inputs: Inputs) -> Any:
    """A ``python`` step's value, over the names the python scorer gives its expressions."""
    case = inputs.case
    try:
        result = expression.evaluate({"output": value, "json": json_of(value), "vars": case.vars,
                                      "expected": case.expected, "case": case, "response": inputs.response})
    except Exception as exc:  # the suite's own expression raised on this output
        raise TransformError(failure(exc)) from None
    try:
        text_of(result)
    except (TypeError, ValueError):
        raise TransformError(f"returned {type(result).__name__} {_clip(repr(result))}, which is neither text nor "
                             "a JSON value (a dict, list, number, true/false or None)") from None
    return result


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
