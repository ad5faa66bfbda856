"""``python:`` models: a function of the suite's (``myprovider.py:call`` or ``module:call``) answers.

It is called with ``(messages, params)``, and ``vars=`` (the case's vars) when it takes a parameter of
that name; ``async def`` or plain (a plain one runs on a thread, so the run's other calls go on). It
returns the answer's text (a ``str``) or a ``harness.Response`` (text, and any of tool_calls, usage,
cost and finish reason). An exception, or anything else returned, is the trial's error, naming it.

The suite imports the function at load (harness.suite), confined to the project like other suite code.
Its cache key names the function and the digest of its file: editing the file asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import hashlib
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.plugins import import_function
from harness.providers import Endpoint, provider
from harness.providers.tool_calls import from_json
from harness.records import Response, ToolCall
from harness.spec import ModelSpec


def function_of(spec: ModelSpec) -> Callable[..., Any]:
    """The model's function: the one the suite imported, else imported now (relative to the working folder)."""
    if spec.python is None:
        raise HarnessError(f"model '{spec.model}' needs its function: write it as `python: file.py:function` in the "
                           "suite's models", hint="see docs/providers.md")
    return spec._function or import_function(spec.python, base=Path.cwd())


def identity(spec: ModelSpec) -> str:
    """The function's reference and its file's digest (a module without a file: the reference alone)."""
    try:
        source = inspect.getsourcefile(inspect.unwrap(function_of(spec)))
        digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16] if source else ""
    except (OSError, TypeError):
        digest = ""
    return f"python:{spec.python}" + (f"@{digest}" if digest else "")


def check(spec: ModelSpec) -> list[str]:
    function_of(spec)
    return []


def request(spec: ModelSpec, messages: list[dict[str, Any]], params: dict[str, Any],
            variables: dict[str, Any]) -> dict[str, Any] | None:
    """What the cache key adds: the case's vars, when the function takes them (its answer may follow them)."""
    return variables if _takes_vars(function_of(spec)) else None


@functools.cache  # asked for every trial's cache key and call: a signature is read once
def _takes_vars(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "vars" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


async def _call(function: Callable[..., Any], reference: str, messages: list[dict[str, Any]],
                params: dict[str, Any], variables: dict[str, Any]) -> Response:
    """The function's answer; what it raises or returns amiss is the Response's error. It gets copies: what it
    does to them never changes the trial's record."""
    arguments = (copy.deepcopy(messages), copy.deepcopy(params))
    keywords = {"vars": copy.deepcopy(variables)} if _takes_vars(function) else {}
    try:
        if inspect.iscoroutinefunction(function):
            result = await function(*arguments, **keywords)
        else:
            result = await asyncio.to_thread(function, *arguments, **keywords)
            if inspect.isawaitable(result):
                result = await result
    except Exception as exc:
        return Response(text="", error=f"python model {reference} raised {type(exc).__name__}: {exc}")
    return _as_response(result, reference)


def _as_response(result: Any, reference: str) -> Response:
    if isinstance(result, str):
        return Response(text=result, finish_reason="stop")
    if not isinstance(result, Response) or not isinstance(result.text, str):
        got = f"a Response whose text is {type(result.text).__name__}" if isinstance(result, Response) else \
            f"{type(result).__name__} {_short(result)}"
        return Response(text="", error=f"python model {reference} returned {got}; it returns the answer's text (str) "
                                       "or a harness.Response")
    given = [{"id": c.id, "name": c.name, "arguments": c.raw or c.arguments or {}} if isinstance(c, ToolCall) else c
             for c in result.tool_calls or []]
    calls = from_json(given)
    if len(calls) != len(given):
        return Response(text="", error=f"python model {reference} returned tool calls that are neither "
                                       "harness ToolCalls nor {name, arguments} mappings")
    return replace(result, cached=False, tool_calls=calls,
                   finish_reason=result.finish_reason or ("tool_calls" if calls else "stop"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"


@provider("python", identity=identity, check=check, request=request)
@contextlib.asynccontextmanager
async def open_python(spec: ModelSpec) -> AsyncIterator[Endpoint]:
    yield Endpoint(model=spec.id, send=functools.partial(_call, function_of(spec), spec.python),
                   address=f"the python model {spec.python}", tool_calls_from_text=spec.tool_calls_from_text)
