"""Prompts as conversations, end to end: YAML messages (short and OpenAI forms, inline or in a file), few-shot
examples from a data file, a case's own messages with images, response formats -> litellm -> a real HTTP
server -> scorers -> results -> report; and their bad input refused at load with file and line."""

from __future__ import annotations

import base64
import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from harness.testing import FakeLLMServer, last_user_message
from tests.conftest import embedded_data, run_cli

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def project(root: Path, server: FakeLLMServer, body: str) -> Path:
    (root / "pyproject.toml").write_text("")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "examples.jsonl").write_text("".join(
        json.dumps({"id": f"ex{i}", "vars": {"review": f"review {i}"}, "expected": label}) + "\n"
        for i, label in enumerate(["positive", "negative", "positive", "negative"])))
    suite = root / "suite.yaml"
    suite.write_text(f"name: chat\nmodels: [{{id: fake, model: openai/fake, params: {{api_base: '{server.base_url}', "
                     "api_key: sk-test-key-123456}}]\n" + textwrap.dedent(body))
    return suite


def results(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "results.jsonl").read_text().splitlines()]


def test_a_conversation_copied_from_openais_docs_loads_unchanged_and_is_sent_as_written(tmp_path):
    with FakeLLMServer(lambda _r: "It is 22 degrees in Boston.") as server:
        suite = project(tmp_path, server, """\
            prompts:
              - id: weather
                messages:
                  - {role: system, content: "You are a helpful assistant."}
                  - {role: user, content: "What's the weather like in Boston today?"}
                  - role: assistant
                    content: null
                    tool_calls:
                      - id: call_abc123
                        type: function
                        function: {name: get_current_weather, arguments: '{"location": "Boston, MA"}'}
                  - {role: tool, tool_call_id: call_abc123, content: '{"temperature": 22, "unit": "celsius"}'}
            tools:
              - type: function
                function:
                  name: get_current_weather
                  description: Get the current weather in a given location
                  parameters:
                    type: object
                    properties:
                      location: {type: string, description: "The city and state, e.g. San Francisco, CA"}
                      unit: {type: string, enum: [celsius, fahrenheit]}
                    required: [location]
            tool_choice: auto
            cases: [{id: boston, scorers: [{type: contains, value: "22"}]}]
            """)
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
        sent = server.requests[0]
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool"]
    assert sent["messages"][2]["tool_calls"][0]["function"]["name"] == "get_current_weather"
    assert sent["tools"][0]["function"]["parameters"]["required"] == ["location"] and sent["tool_choice"] == "auto"


def test_short_messages_a_messages_file_and_few_shot_examples_from_a_data_file(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "agent.yaml").write_text("- system: 'Label the review.'\n- user: '{{ review }}'\n")
    with FakeLLMServer(lambda r: "positive" if "great" in last_user_message(r) else "negative") as server:
        suite = project(tmp_path, server, """\
            prompts:
              - id: from_file
                messages: agent.yaml
              - id: examples
                messages:
                  - system: "Label the review."
                  - few_shot: {from: data/examples.jsonl, k: 2, seed: 3, user: "{{ review }}"}
                  - user: "{{ review }}"
              - id: first_two
                messages:
                  - few_shot: {from: data/examples.jsonl, k: 2, user: "Review: {{ review }}"}
                  - user: "Review: {{ review }}"
            cases:
              - {id: ex1, vars: {review: "a great meal"}, expected: positive}
            scorers: [{type: label, labels: [positive, negative]}]
            """)
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
    by_prompt = {row["prompt_id"]: row["messages"] for row in results(tmp_path / "run")}
    assert by_prompt["from_file"] == [{"role": "system", "content": "Label the review."},
                                      {"role": "user", "content": "a great meal"}]
    pairs = by_prompt["examples"][1:-1]
    assert [m["role"] for m in pairs] == ["user", "assistant"] * 2
    assert "review 1" not in [m["content"] for m in pairs]  # the case under test (ex1) is never its own example
    assert by_prompt["first_two"][:4] == [{"role": "user", "content": "Review: review 0"},
                                          {"role": "assistant", "content": "positive"},
                                          {"role": "user", "content": "Review: review 2"},
                                          {"role": "assistant", "content": "positive"}]
    again = [row["messages"] for row in results(tmp_path / "run") if row["prompt_id"] == "examples"]
    assert again == [by_prompt["examples"]]  # seeded: the same examples on every run


def test_a_cases_own_messages_with_an_image_take_the_place_of_the_last_user_message(tmp_path):
    (tmp_path / "data" / "receipt.png").parent.mkdir(exist_ok=True)
    (tmp_path / "data" / "receipt.png").write_bytes(PNG)
    with FakeLLMServer(lambda _r: "The total is 12.50") as server:
        suite = project(tmp_path, server, """\
            prompts:
              - id: p
                messages:
                  - system: "You read receipts."
                  - user: "placeholder"
            cases:
              - id: photo
                vars: {image: data/receipt.png}
                messages:
                  - user: [{text: "What is the total on this receipt?"}, {image: "{{ image }}"}]
                scorers: [{type: contains, value: "12.50"}]
            """)
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
        assert run_cli("run", suite, "--out", tmp_path / "cached") == 0
        assert server.count == 1  # the second run: answered from the cache
        sent = server.requests[0]["messages"]
        (tmp_path / "data" / "receipt.png").write_bytes(PNG + b"\0")  # other bytes: another request
        assert run_cli("run", suite, "--out", tmp_path / "changed") == 0
        assert server.count == 2
    assert [m["role"] for m in sent] == ["system", "user"]
    image = sent[1]["content"][1]["image_url"]["url"]
    assert image == "data:image/png;base64," + base64.b64encode(PNG).decode()
    recorded = results(tmp_path / "run")[0]["messages"][1]["content"][1]
    assert recorded == {"type": "image_url",
                        "image_url": {"url": "data/receipt.png", "sha256": hashlib.sha256(PNG).hexdigest()}}
    cell = embedded_data((tmp_path / "run" / "report.html").read_text())
    user = cell["rows"][0]["c"][0]["m"][1]
    assert cell["strings"][user[2][0]] == image  # the report carries the picture as a thumbnail


@pytest.mark.parametrize("prompt", [
    "{id: p, messages: [{system: 'You read receipts.'}, {user: 'Review: {{ review }}'}]}",
    "{id: p, template: receipts.j2}",  # a template file: its system block is kept, its body replaced
])
def test_the_user_message_a_case_replaces_needs_none_of_its_vars(tmp_path, prompt):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "receipts.j2").write_text(
        "{% block system %}You read receipts.{% endblock %}Review: {{ review }}")
    with FakeLLMServer(lambda _r: "12.50") as server:
        suite = project(tmp_path, server, f"prompts: [{prompt}]\ncases: [{{id: own, messages: [{{user: "
                        "'What is the total?'}]}, {id: plain, vars: {review: x}}]\n")
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
        sent = sorted((r["messages"] for r in server.requests), key=len)
    assert {m[-1]["content"] for m in sent} == {"What is the total?", "Review: x"}
    assert all(m[0] == {"role": "system", "content": "You read receipts."} for m in sent)


def test_response_format_is_sent_and_its_schema_is_the_json_scorers_by_default(tmp_path):
    (tmp_path / "order.schema.json").write_text('{"type": "object", "properties": {"status": {"type": "string"}},'
                                                ' "required": ["status"]}')
    answers = iter(['{"status": "shipped"}', '{"state": "shipped"}', "not json"])
    with FakeLLMServer(lambda _r: next(answers)) as server:
        suite = project(tmp_path, server, """\
            prompts: [{id: p, text: "Status of {{ id }}?"}]
            response_format: {type: json_schema, json_schema: {name: order, schema_file: order.schema.json}}
            cases: [{id: a, vars: {id: A}}, {id: b, vars: {id: B}}, {id: c, vars: {id: C}}]
            scorers: [json]
            """)
        assert run_cli("run", suite, "--out", tmp_path / "run", "-j", "1") == 0
        assert server.requests[0]["response_format"]["json_schema"]["schema"]["required"] == ["status"]
    scores = {row["case_id"]: row["scores"][0] for row in results(tmp_path / "run")}
    assert scores["a"]["passed"] and "'status' is a required property" in scores["b"]["explanation"]
    assert scores["c"]["explanation"].startswith("not valid JSON")


@pytest.mark.parametrize("body, where, message", [
    ("prompts: [{id: p, messages: [{user: hi}, {asistant: there}]}]\n", "suite.yaml:3", "a message is one of"),
    ("prompts: [{id: p, messages: [{user: hi}, {assistant: there}]}]\n", "suite.yaml",
     "ends with an 'assistant' message"),
    ("prompts: [{id: p, messages: [{few_shot: {from: data/examples.jsonl, k: 9, user: x}}, {user: hi}]}]\n",
     "suite.yaml:3", "few_shot.k is 9, but data/examples.jsonl holds 4 examples"),
    ("prompts: [{id: p, messages: [{user: '{{ nope }}'}]}]\n", "suite.yaml", "template variable 'nope'"),
    ("prompts: [{id: p, messages: [{user: [{image: missing.png}]}]}]\n", "", "image missing.png not found"),
    ("prompts: [{id: p, messages: missing.yaml}]\n", "suite.yaml:3", "messages file 'missing.yaml' of prompt 'p'"),
    ("prompts: [{id: p, text: hi}]\nresponse_format: {type: json_schema, json_schema: {name: x}}\n", "suite.yaml:4",
     "needs json_schema"),
])
def test_bad_conversations_are_refused_at_load_with_where_and_why(tmp_path, body, where, message, capsys):
    suite = project(tmp_path, FakeLLMServer(), body + "cases: [{id: c}]\n")
    assert run_cli("validate", suite) == 2
    err = capsys.readouterr().err
    assert message in err and where in err, err


def test_a_messages_file_with_a_mistake_names_its_own_line(tmp_path, capsys):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "agent.yaml").write_text("- system: ok\n- usr: '{{ review }}'\n")
    suite = project(tmp_path, FakeLLMServer(), "prompts: [{id: p, messages: agent.yaml}]\ncases: [{id: c}]\n")
    assert run_cli("validate", suite) == 2
    assert "agent.yaml:2" in capsys.readouterr().err
