"""Prompt functions: a prompt written in Python (``python: prompts.py:build``) that builds a case's messages.

The function is the suite's own code (trusted like a plugin). It is called for every case when the run
is planned, and so by ``harness validate`` too, with the case's vars, and the case itself when it takes
a second parameter: ``build(vars)`` or ``build(vars, case)``. It returns the text of the user message,
or a list of messages in the short (``{"user": "..."}``) or OpenAI (``{"role", "content"}``) form,
checked as messages a suite writes are. Their content is final text, not a template.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from harness.chat import Message
from harness.errors import HarnessError
from harness.plugins import line_in
from harness.spec import Case

_MESSAGES = TypeAdapter(list[Message])


def source_file(function: Callable[..., Any]) -> str | None:
    """The file the function is written in, where its errors point."""
    try:
        return inspect.getsourcefile(inspect.unwrap(function))
    except TypeError:
        return None


def _takes_case(function: Callable[..., Any]) -> bool:
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def build_messages(function: Callable[..., Any], prompt_id: str, case: Case) -> list[Message]:
    """The case's messages as the function builds them; a HarnessError naming the prompt, the case and what went
    wrong (at the function's line when it raised)."""
    what = f"case '{case.id}': the prompt function of prompt '{prompt_id}'"
    file = source_file(function)
    try:
        result = function(dict(case.vars), case) if _takes_case(function) else function(dict(case.vars))
    except Exception as exc:
        raise HarnessError(f"{what} raised {type(exc).__name__}: {exc}", file=file,
                           line=line_in(exc, Path(file)) if file else None) from None
    if isinstance(result, str):
        return [Message(role="user", content=result)]
    if not isinstance(result, list):
        shown = "a coroutine (a prompt function is a plain def)" if inspect.isawaitable(result) else \
            type(result).__name__
        if inspect.iscoroutine(result):
            result.close()
        raise HarnessError(f"{what} returned {shown}, not a list of messages or the user message's text", file=file)
    try:
        return _MESSAGES.validate_python(result)
    except ValidationError as exc:
        error = exc.errors()[0]
        index = next((p for p in error["loc"] if isinstance(p, int)), None)
        raise HarnessError(f"{what} returned an invalid {f'message {index + 1}' if index is not None else 'list'}: "
                           f"{error['msg'].removeprefix('Value error, ')}", file=file,
                           hint='a message is {"user": "..."} (or system, assistant, tool), or '
                                '{"role": "user", "content": "..."}') from None
