"""Conversations end to end: YAML messages -> litellm -> a real HTTP server answering with tool calls -> the tool
loop and later turns -> scorers on chosen turns -> results (the transcript) -> cache -> report."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.testing import FakeLLMServer, Reply
from tests.conftest import embedded_data, run_cli

TOOLS = """\
tools:
  - name: get_order
    description: Look up an order by its id.
    parameters: {type: object, properties: {id: {type: string}}, required: [id]}
    result: '{"id": "{{ args.id }}", "status": "shipped", "shop": "{{ shop | default("?") }}"}'
  - name: refund
    description: Refund an order.
    parameters: {type: object, properties: {id: {type: string}}, required: [id]}
    python: tools.py:refund
"""


def write_suite(root: Path, server: FakeLLMServer, body: str) -> Path:
    (root / "pyproject.toml").write_text("")
    (root / "tools.py").write_text("def refund(id):\n    if id == 'X':\n        raise ValueError('no such order')\n"
                                   "    return {'refunded': id}\n")
    suite = root / "suite.yaml"
    suite.write_text(f"name: support\nmodels: [{{id: fake, model: openai/fake, params: {{api_base: '{server.base_url}',"
                     " api_key: sk-test-key-123456}}]\n" + textwrap.dedent(body))
    return suite


def with_tools(body: str) -> str:
    return TOOLS + textwrap.dedent(body)


def rows(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "results.jsonl").read_text().splitlines()]


def agent(request: dict) -> Reply | str:
    """Calls get_order for the order named, answers from its result, then answers the follow-up."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        return f"Order {json.loads(last['content'])['id']} has shipped."
    if "arrive" in str(last.get("content")):
        return "It arrives on Friday."
    order = str(last.get("content")).rstrip("?").split()[-1]
    return Reply(tool_calls=[{"name": "get_order", "arguments": {"id": order}}])


MULTI_TURN = TOOLS + """\
prompts:
  - id: agent
    messages:
      - system: "You are a support agent for {{ shop }}."
      - user: "Where is order A-1?"
      - assistant: "It shipped on Monday."
      - user: "{{ question }}"
cases:
  - id: late-order
    vars: {shop: Acme, question: "Where is order B-7?"}
    turns: ["And when will it arrive?"]
    scorers:
      - {type: tool_call, name: get_order, args: {id: B-7}}
      - {type: contains, value: shipped, turn: 0}
      - {type: contains, value: Friday, name: friday}
      - {type: contains, value: shipped, turn: all, metric: every_turn}
      - tool_args_valid
"""


def test_a_tool_loop_and_a_later_turn_are_run_recorded_scored_and_cached(tmp_path):
    with FakeLLMServer(agent) as server:
        suite = write_suite(tmp_path, server, MULTI_TURN)
        assert run_cli("run", suite, "--out", tmp_path / "run") == 1  # every_turn fails: turn 1 says Friday only
        assert server.count == 3  # the call, the answer after the tool's result, the follow-up
        first = server.requests[0]
        assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant", "user"]
        assert first["tools"][0]["function"]["name"] == "get_order"
        assert server.requests[1]["messages"][-1] == {"role": "tool", "tool_call_id": "call-1-0",
                                                      "content": '{"id": "B-7", "status": "shipped", "shop": "Acme"}'}
        row = rows(tmp_path / "run")[0]
        assert [m["role"] for m in row["transcript"]] == ["assistant", "tool", "assistant", "user", "assistant"]
        assert row["response"]["text"] == "It arrives on Friday."
        assert row["response"]["tool_calls"] == [{"name": "get_order", "arguments": {"id": "B-7"},
                                                  "raw": '{"id": "B-7"}', "id": "call-1-0", "error": None}]
        scores = {s["name"]: s for s in row["scores"]}
        assert scores["get_order"]["passed"] and scores["contains"]["passed"]  # turn 0 said "shipped"
        assert scores["friday"]["passed"]  # the final answer
        every_turn = scores["contains_2"]  # the second contains: numbered, and counted under its metric too
        assert every_turn["metric"] == "every_turn" and "metric" not in scores["contains"]
        assert not every_turn["passed"] and "turn 0: found" in every_turn["explanation"]
        assert scores["tool_args_valid"]["passed"]
        assert row["response"]["prompt_tokens"] > 0 and row["response"]["completion_tokens"] > 0  # summed

        assert run_cli("run", suite, "--out", tmp_path / "again") == 1
        assert server.count == 3  # every step of the conversation answered from the cache
    report = (tmp_path / "run" / "report.html").read_text()
    cell = embedded_data(report)["rows"][0]["c"][0]
    assert [step[0] for step in cell["tr"]] == ["assistant", "tool", "assistant", "user", "assistant"]


@pytest.mark.parametrize("reply, recorded", [
    (Reply(tool_calls=[{"name": "delete_everything", "arguments": {}}]), "error: there is no tool 'delete_everything'"),
    (Reply(tool_calls=[{"name": "get_order", "arguments": "{not json"}]), "error: arguments are not JSON"),
])
def test_a_model_calling_an_unknown_tool_or_with_bad_arguments_is_told_so_and_scored(tmp_path, reply, recorded):
    answers = iter([reply, "Sorry."])
    with FakeLLMServer(lambda _r: next(answers)) as server:
        suite = write_suite(tmp_path, server, with_tools("""\
            prompts: [{id: p, text: "Where is order B-7?"}]
            cases: [{id: c, scorers: [tool_args_valid]}]
            """))
        assert run_cli("run", suite, "--out", tmp_path / "run") == 1
    row = rows(tmp_path / "run")[0]
    assert row["transcript"][1]["role"] == "tool" and row["transcript"][1]["content"].startswith(recorded)
    assert row["scores"][0]["passed"] is False and row["response"]["error"] is None


def test_a_model_that_keeps_calling_tools_is_stopped_after_max_tool_rounds(tmp_path):
    with FakeLLMServer(lambda _r: Reply(tool_calls=[{"name": "get_order", "arguments": {"id": "B-7"}}])) as server:
        suite = write_suite(tmp_path, server, with_tools("""\
            max_tool_rounds: 2
            prompts: [{id: p, text: "Where is order B-7?"}]
            cases: [{id: c, scorers: [{type: tool_call, name: get_order, count: {max: 2}}]}]
            """))
        assert run_cli("run", suite, "--out", tmp_path / "run") == 1
        assert server.count == 3  # the first call and two rounds of answers
    row = rows(tmp_path / "run")[0]
    assert row["response"]["finish_reason"] == "max_tool_rounds" and row["response"]["error"] is None
    assert "3 matching calls" in row["scores"][0]["explanation"]


def test_a_tool_whose_python_raises_is_the_trials_error_not_a_crash(tmp_path):
    with FakeLLMServer(lambda _r: Reply(tool_calls=[{"name": "refund", "arguments": {"id": "X"}}])) as server:
        suite = write_suite(tmp_path, server, with_tools("""\
            prompts: [{id: p, text: "Refund X"}]
            cases: [{id: c, scorers: [tool_args_valid]}]
            """))
        assert run_cli("run", suite, "--out", tmp_path / "run") == 1
    row = rows(tmp_path / "run")[0]
    assert row["response"]["error"] == "tool refund raised ValueError: no such order"


def test_a_result_template_the_models_arguments_break_is_the_trials_error(tmp_path):
    reply = Reply(tool_calls=[{"name": "get_order", "arguments": {"number": 7}}])  # no "id": args.id is undefined
    with FakeLLMServer(lambda _r: reply) as server:
        suite = write_suite(tmp_path, server, with_tools("""\
            prompts: [{id: p, text: "Where is 7?"}]
            cases: [{id: c, scorers: [tool_args_valid]}, {id: d, scorers: [tool_args_valid]}]
            """))
        suite.write_text(suite.read_text().replace("{{ args.id }}", "{{ args.id.upper() }}"))
        assert run_cli("run", suite, "--out", tmp_path / "run") == 1
    assert all("'dict object' has no attribute 'id'" in row["response"]["error"] for row in rows(tmp_path / "run"))


def test_a_python_tool_answers_with_its_return_value(tmp_path):
    answers = iter([Reply(tool_calls=[{"name": "refund", "arguments": {"id": "B-7"}}]), "Done."])
    with FakeLLMServer(lambda _r: next(answers)) as server:
        suite = write_suite(tmp_path, server, with_tools("""\
            prompts: [{id: p, text: "Refund B-7"}]
            cases: [{id: c, scorers: [{type: tool_call, name: refund, args: {id: B-7}, mode: all}]}]
            """))
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
        assert server.requests[1]["messages"][-1]["content"] == '{"refunded": "B-7"}'


def test_tools_with_nothing_to_answer_them_are_recorded_and_scored_without_a_loop(tmp_path):
    reply = Reply(tool_calls=[{"name": "lookup", "arguments": {"q": "B-7"}}, {"name": "lookup", "arguments": {}}])
    with FakeLLMServer(lambda _r: reply) as server:
        suite = write_suite(tmp_path, server, """\
            tools: [{name: lookup, parameters: {type: object, properties: {q: {type: string}}, required: [q]}}]
            tool_choice: required
            prompts: [{id: p, text: "Find B-7"}]
            cases:
              - id: c
                scorers:
                  - {type: tool_call, name: lookup, count: 2}
                  - {type: tool_call, name: lookup, args: {q: B-7}, mode: all, metric: all_about_b7}
                  - tool_args_valid
            """)
        assert run_cli("run", suite, "--out", tmp_path / "run") == 1
        assert server.count == 1 and server.requests[0]["tool_choice"] == "required"
    scores = {s["name"]: s for s in rows(tmp_path / "run")[0]["scores"]}
    assert scores["lookup"]["passed"]
    assert scores["lookup_2"]["metric"] == "all_about_b7"  # a second check of one tool is numbered
    assert not scores["lookup_2"]["passed"] and not scores["tool_args_valid"]["passed"]
    assert "'q' is a required property" in scores["tool_args_valid"]["explanation"]


def test_tool_calls_written_as_text_are_read_for_a_model_that_writes_them_so(tmp_path):
    answers = iter(['```json\n{"name": "get_order", "arguments": {"id": "B-7"}}\n```', "It has shipped."])
    with FakeLLMServer(lambda _r: next(answers)) as server:
        suite = write_suite(tmp_path, server, with_tools("""\
            prompts: [{id: p, text: "Where is B-7?"}]
            cases: [{id: c, scorers: [{type: tool_call, name: get_order, args: {id: B-7}}]}]
            """))
        suite.write_text(suite.read_text().replace("api_key: sk-test-key-123456}", "api_key: sk-test-key-123456},"
                                                   " tool_calls_from_text: true"))
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
    row = rows(tmp_path / "run")[0]
    assert row["response"]["tool_calls_from_text"] and row["response"]["text"] == "It has shipped."


@pytest.mark.parametrize("broken, message", [
    ("tools: [{name: get_order, parameters: {type: 12}}]", "not a valid JSON Schema"),
    ("tools: [{description: no name}]", "tools.0.name"),
    ("max_tool_rounds: 0", "max_tool_rounds"),
    ("tools: [{name: t}]\ncases: [{id: c, scorers: [{type: tool_call, name: get_ordr}]}]",
     "no tool 'get_ordr' is offered"),
    ("cases: [{id: c, scorers: [{type: contains, value: x, turn: 2}]}]", None),
])
def test_bad_tool_definitions_are_refused_at_load(tmp_path, broken, message, capsys):
    server = FakeLLMServer()
    body = "prompts: [{id: p, text: hi}]\n" + broken + ("\ncases: [{id: c}]" if "cases" not in broken else "")
    suite = write_suite(tmp_path, server, body)
    code = run_cli("validate", suite)
    if message is None:  # a turn past the end is known only when the conversation ran: no load error
        assert code == 0
        return
    assert code == 2 and message in capsys.readouterr().err
