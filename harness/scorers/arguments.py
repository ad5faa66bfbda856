"""A scorer's arguments, typed: its signature is its schema, checked when the suite loads.

A word where a number belongs, numbers where labels belong, a pattern that does not compile, a JSON
Schema that is not one: each fails at load with the argument's line, not on every trial (or never).
Scorers use these types in their signatures: ``Pattern`` (a regular expression, run by ``search``
with a time limit, so a pattern that backtracks without end cannot hang a run), ``JsonSchema`` and
``Scale``; any pydantic type works (``Literal``, ``Annotated[int, Field(ge=0)]``...). An argument
with no annotation takes anything.
"""

from __future__ import annotations

import functools
import inspect
import typing
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import regex
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, create_model

from harness.chat import check_json_schema
from harness.errors import HarnessError, did_you_mean

SCORING_PARAMETER = "scoring"
REGEX_TIMEOUT_S = 1.0


def check_pattern(pattern: str) -> str:
    """The pattern, or a ValueError when it is not a regular expression (what the ``Pattern`` type checks)."""
    try:
        regex.compile(pattern)
    except regex.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return pattern


def _low_then_high(scale: list[int]) -> list[int]:
    if len(scale) != 2 or scale[0] >= scale[1]:
        raise ValueError(f"a scale is two whole numbers, low then high (such as [1, 5]), not {scale}")
    return scale


Pattern = Annotated[str, AfterValidator(check_pattern)]
JsonSchema = Annotated[dict[str, Any], AfterValidator(check_json_schema)]
Scale = Annotated[list[int], AfterValidator(_low_then_high)]


class PatternTimeout(Exception):
    """A pattern ran past its time limit on one output (catastrophic backtracking)."""


def search(pattern: str, text: str, *, ignore_case: bool = False) -> regex.Match | None:
    """regex.search with a time limit (the ``regex`` package's: the standard re cannot be stopped)."""
    try:
        return regex.search(pattern, text, regex.IGNORECASE if ignore_case else 0, timeout=REGEX_TIMEOUT_S)
    except TimeoutError:
        raise PatternTimeout(f"the pattern /{pattern}/ timed out after {REGEX_TIMEOUT_S:g} s on this output "
                             "(it backtracks without end: simplify it)") from None


def check_arguments(fn: Callable[..., Any], args: dict[str, Any], *, scorer: str, file: Path | str | None,
                    line: int | None, lines: Callable[[str], int | None] = lambda _arg: None) -> None:
    """HarnessError unless ``args`` fit ``fn``'s signature: known names, required ones given, each of its type.
    ``lines(arg)`` is the suite line an argument was written on, for the message."""
    model = arguments_model(fn)
    if model is None:
        raise HarnessError(f"scorer '{scorer}' must take (output, case) and then its arguments", file=file,
                           line=line, hint="def my_scorer(output, case, **arguments): ...")
    try:
        model.model_validate(args)
    except ValidationError as exc:
        # A misspelt argument shows up as unknown and its right name as missing: the unknown one is the fix.
        error = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        arg = str(error["loc"][0]) if error["loc"] else ""
        accepted = [n for n in model.model_fields]
        where = lines(arg) or line
        if error["type"] == "extra_forbidden":
            raise HarnessError(f"scorer '{scorer}' has no argument '{arg}'{did_you_mean(arg, accepted)}", file=file,
                               line=where, hint="it takes: " + (", ".join(accepted) or "no arguments")) from None
        if error["type"] == "missing":
            raise HarnessError(f"scorer '{scorer}' needs argument '{arg}'", file=file, line=line) from None
        detail = ".".join(str(p) for p in error["loc"][1:])
        message = error["msg"].removeprefix("Value error, ")
        raise HarnessError(f"scorer '{scorer}': argument '{arg}'{f' ({detail})' if detail else ''}: {message}",
                           file=file, line=where) from None


def coerce(fn: Callable[..., Any], args: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the scorer's types make them (a mapping given for a model-typed argument becomes that
    model); checked at load, so this does not fail for a suite that loaded."""
    model = arguments_model(fn)
    if model is None or not args:
        return args
    validated = model.model_validate(args)
    return {**{name: getattr(validated, name) for name in args if name in model.model_fields},
            **(validated.model_extra or {})}


@functools.cache
def arguments_model(fn: Callable[..., Any]) -> type[BaseModel] | None:
    """The pydantic model of a scorer's own arguments (after output and case), or None if it cannot take them."""
    parameters = list(inspect.signature(fn).parameters.values())
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2 and not any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return None
    fields: dict[str, Any] = {}
    takes_any = False
    for parameter in parameters[2:]:
        if parameter.name == SCORING_PARAMETER or parameter.kind is parameter.VAR_POSITIONAL:
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            takes_any = True
            continue
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (_annotation(fn, parameter), default)
    config = ConfigDict(extra="allow" if takes_any else "forbid", arbitrary_types_allowed=True)
    with warnings.catch_warnings():  # an argument may be called "schema" or "json", names BaseModel also has
        warnings.filterwarnings("ignore", message="Field name .* shadows an attribute")
        return create_model(f"{getattr(fn, '__name__', 'scorer')}_arguments", __config__=config, **fields)


def _annotation(fn: Callable[..., Any], parameter: inspect.Parameter) -> Any:
    """A parameter's type, resolved in its module (a name the module cannot resolve, or none at all: Any)."""
    annotation = parameter.annotation
    if annotation is parameter.empty:
        return Any
    if isinstance(annotation, str):
        try:
            return eval(annotation, {**vars(typing), **getattr(fn, "__globals__", {})})  # noqa: S307 (own code)
        except Exception:
            return Any
    return annotation
