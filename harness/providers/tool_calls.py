"""Tool calls read from an answer: the ones a provider sends, and (opt-in) the ones a small model writes as text.

A model served by llama.cpp with a small model (the bundled one) often writes its call as plain JSON
in its content, ``{"name": "get_order", "arguments": {"id": "B-7"}}``, sometimes fenced, instead of
in the chat template's tags. With ``tool_calls_from_text`` (on for ``local``) such an answer naming
a tool the request offered is read as that call, and the response says so.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.records import ToolCall

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?```\s*$", re.DOTALL | re.IGNORECASE)


def native(message: Any) -> list[ToolCall]:
    """The tool calls of a chat completion's message (litellm's / OpenAI's objects)."""
    calls = []
    for call in getattr(message, "tool_calls", None) or []:
        function = getattr(call, "function", None)
        raw = getattr(function, "arguments", None) or ""
        calls.append(_call(getattr(function, "name", "") or "", raw if isinstance(raw, str) else json.dumps(raw),
                           getattr(call, "id", "") or ""))
    return calls


def from_json(value: Any, *, prefix: str = "call") -> list[ToolCall]:
    """Calls given as JSON data (an http: model's response, a python: model's answer): OpenAI's
    ``[{id, type: function, function: {name, arguments}}]`` or ``[{name, arguments}]``, or one such call;
    ``arguments`` as a JSON string or an object. Items without a name are not calls."""
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    calls = []
    for number, item in enumerate(items):
        function = item.get("function") if isinstance(item, dict) and isinstance(item.get("function"), dict) else item
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        arguments = function.get("arguments", function.get("parameters", {}))
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        calls.append(_call(function["name"], raw, str(item.get("id") or f"{prefix}-{number}")))
    return calls


def from_text(text: str, offered: set[str]) -> list[ToolCall]:
    """Calls written as JSON in the answer's text naming offered tools: a call object, a list of them, or several
    one after another (a line each); anything else in the text and it is an answer, not calls."""
    fenced = _FENCE.match(text)
    items = _json_values((fenced.group(1) if fenced else text).strip())
    if not all(isinstance(item, dict) and item.get("name") in offered for item in items):
        return []
    return from_json([{k: v for k, v in item.items() if k != "id"} for item in items], prefix="text-call")


def _json_values(text: str) -> list[Any]:
    """The JSON values a text is made of, one after another (a list's items in its place), or [] if it is not."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while at < len(text):
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError:
            return []
        values.extend(value if isinstance(value, list) else [value])
        while at < len(text) and text[at].isspace():
            at += 1
    return values


def _call(name: str, raw: str, call_id: str) -> ToolCall:
    try:
        arguments = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        return ToolCall(name=name, arguments=None, raw=raw, id=call_id, error=f"arguments are not JSON: {exc}")
    if not isinstance(arguments, dict):
        return ToolCall(name=name, arguments=None, raw=raw, id=call_id, error="arguments are not a JSON object")
    return ToolCall(name=name, arguments=arguments, raw=raw, id=call_id)


def as_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    """The assistant message a conversation goes on from: its text, and its calls as a request carries them."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.raw}}
                                 for c in calls]
    return message


def turn_tool_calls(transcript: list[dict[str, Any]], turns: int) -> list[list[ToolCall]]:
    """The tool calls the model made in each user turn of a conversation (as the transcript recorded them)."""
    calls: list[list[ToolCall]] = [[]]
    for message in transcript:
        if message.get("role") == "user":
            calls.append([])
        for call in message.get("tool_calls") or [] if message.get("role") == "assistant" else []:
            function = call.get("function") or {}
            calls[-1].append(_call(function.get("name", ""), function.get("arguments") or "", call.get("id", "")))
    return calls + [[] for _ in range(turns - len(calls))]
