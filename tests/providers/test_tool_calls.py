"""Tool calls a small model writes as text: read only when the whole answer is calls to offered tools."""

from __future__ import annotations

import pytest

from harness.providers.tool_calls import from_text

OFFERED = {"get_order", "refund_order"}


@pytest.mark.parametrize("text, expected", [
    ('{"name": "get_order", "arguments": {"id": "B-7"}}', [("get_order", {"id": "B-7"})]),
    ('```json\n{"name": "get_order", "arguments": {"id": "B-7"}}\n```', [("get_order", {"id": "B-7"})]),
    ('{"name": "get_order", "parameters": {"id": "B-7"}}', [("get_order", {"id": "B-7"})]),
    ('[{"name": "get_order", "arguments": {"id": "A"}}, {"name": "refund_order", "arguments": {"id": "A"}}]',
     [("get_order", {"id": "A"}), ("refund_order", {"id": "A"})]),
    ('{"name": "get_order", "arguments": {"id": "A"}}\n{"name": "refund_order", "arguments": {"id": "A"}}\n',
     [("get_order", {"id": "A"}), ("refund_order", {"id": "A"})]),
    ('{"name": "get_order", "arguments": "{\\"id\\": \\"A\\"}"}', [("get_order", {"id": "A"})]),
])
def test_an_answer_made_of_calls_to_offered_tools_is_read_as_those_calls(text, expected):
    calls = from_text(text, OFFERED)
    assert [(c.name, c.arguments) for c in calls] == expected
    assert [c.id for c in calls] == [f"text-call-{n}" for n in range(len(expected))]


@pytest.mark.parametrize("text", [
    "It has shipped.",
    'Calling {"name": "get_order", "arguments": {"id": "A"}}',  # prose around it: an answer
    '{"name": "cancel_order", "arguments": {"id": "A"}}',  # a tool nobody offered
    '{"name": "get_order", "arguments": {"id": "A"}}\n{"name": "get_order", "argum',  # cut off by max_tokens
    '{"status": "shipped"}',
    "",
])
def test_anything_else_is_an_answer(text):
    assert from_text(text, OFFERED) == []


def test_arguments_that_are_not_an_object_are_a_call_with_an_error():
    [call] = from_text('{"name": "get_order", "arguments": "B-7"}', OFFERED)
    assert call.arguments is None and "not JSON" in call.error
