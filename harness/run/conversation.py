"""A trial's conversation past its first answer: the tool loop and the case's later user turns.

When the model calls tools that the suite answers (a ``result`` template or a ``python`` function),
the harness sends each call's result back and asks again, up to ``max_tool_rounds`` rounds; then
each later user turn of the case is sent after the model's answer to the one before. Every step is
kept in the trial's transcript. What goes wrong on the model's side (an unknown tool, arguments that
are not JSON, a loop past the rounds) is told to the model or recorded, and scored; a tool's own
Python raising is the trial's error. Nothing here raises for a model's behaviour.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from harness import prompts
from harness.errors import HarnessError
from harness.messages import ChatPrompt, variables_of
from harness.providers.tool_calls import as_message
from harness.records import Response, ToolCall
from harness.spec import Case

Ask = Callable[[list[dict[str, Any]]], Awaitable[Response]]


async def converse(chat: ChatPrompt | None, case: Case, messages: list[dict[str, Any]], turns: list[dict[str, Any]],
                   first: Response, ask: Ask) -> tuple[Response, list[dict[str, Any]]]:
    """The final response (with every call's usage and tool calls summed) and the transcript after ``messages``."""
    if chat is None or (not turns and not (first.tool_calls and chat.answers)):
        return first, []
    sent, transcript, responses = list(messages), [], [first]
    for number in range(len(turns) + 1):
        if number:
            sent.append(turns[number - 1])
            transcript.append(turns[number - 1])
            responses.append(await ask(sent))
        rounds = 0
        while True:
            response = responses[-1]
            if response.error:
                return _total(responses), transcript
            step = as_message(response.text, response.tool_calls)
            sent.append(step)
            transcript.append(step)
            if not response.tool_calls or not chat.answers:
                break
            if rounds == chat.max_tool_rounds:  # its calls go unanswered: the conversation cannot go on
                responses[-1] = replace(response, finish_reason="max_tool_rounds")
                return _total(responses), transcript
            results = [await _answer(call, chat, case) for call in response.tool_calls]
            failed = next((error for _, error in results if error), None)
            if failed:
                responses[-1] = replace(response, error=failed)
                return _total(responses), transcript
            replies = [{"role": "tool", "tool_call_id": call.id, "content": text}
                       for call, (text, _) in zip(response.tool_calls, results, strict=True)]
            sent += replies
            transcript += replies
            responses.append(await ask(sent))
            rounds += 1
    return _total(responses), transcript


async def _answer(call: ToolCall, chat: ChatPrompt, case: Case) -> tuple[str, str | None]:
    """(what the tool says back to the model, the trial's error if its Python raised)."""
    answer = chat.answers.get(call.name)
    if call.name not in {tool.name for tool in chat.tools}:
        return f"error: there is no tool '{call.name}'", None
    if call.arguments is None:
        return f"error: {call.error}", None
    if answer is None:
        return "error: this tool has no answer here", None
    if isinstance(answer, prompts.Compiled):
        what = f"case '{case.id}', tool {call.name}"
        try:
            return prompts.render_text(answer, {**variables_of(case), "args": call.arguments}, what=what), None
        except HarnessError as exc:  # the arguments the model chose break the result template: this trial's error
            return "", exc.message
    try:
        result = answer(**call.arguments)
        if inspect.isawaitable(result):
            result = await result
    except TypeError as exc:  # arguments the function does not take: the model's mistake, told to it
        return f"error: {exc}", None
    except Exception as exc:
        return "", f"tool {call.name} raised {type(exc).__name__}: {exc}"
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str), None


def _total(responses: list[Response]) -> Response:
    """The last response, with the usage, cost, time and tool calls of every response of the conversation."""
    last = responses[-1]
    if len(responses) == 1:
        return last

    def total(field: str) -> Any:
        values = [getattr(r, field) for r in responses if getattr(r, field) is not None]
        return sum(values) if values else None

    return replace(last, prompt_tokens=total("prompt_tokens"), completion_tokens=total("completion_tokens"),
                   cost_usd=total("cost_usd"), latency_ms=round(total("latency_ms"), 1),
                   queue_ms=round(total("queue_ms"), 1), attempts=total("attempts"),
                   cached=all(r.cached for r in responses),
                   tool_calls=[call for r in responses for call in r.tool_calls],
                   tool_calls_from_text=any(r.tool_calls_from_text for r in responses))
