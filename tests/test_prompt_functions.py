"""Prompt functions end to end: python: on a prompt -> each case's messages -> litellm -> a real HTTP server ->
results; a function that raises or returns what is not messages fails validate (and run) naming prompt and case."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from harness.testing import FakeLLMServer
from tests.conftest import run_cli

PROMPTS = '''\
def chat(vars):
    return [{"system": "You answer in one word."},
            {"role": "user", "content": [{"type": "text", "text": f"Capital of {vars['country']}?"}]}]

def text(vars, case):
    return f"[{case.id}] Capital of {vars['country']}?"

def raises(vars):
    return {"France": "x"}[vars["country"]]

def not_messages(vars):
    return 42

def bad_role(vars):
    return [{"role": "narrator", "content": "Once upon a time"}]

def ends_with_assistant(vars):
    return [{"user": "Hi"}, {"assistant": "Hello"}]
'''


def write_suite(root: Path, server: FakeLLMServer, prompts: str, cases: str) -> Path:
    (root / "pyproject.toml").write_text("")
    (root / "prompts.py").write_text(PROMPTS)
    suite = root / "suite.yaml"
    suite.write_text(f"name: capitals\nprompts:\n{textwrap.indent(prompts, '  ')}models: [{{id: fake, model: "
                     f"openai/fake, params: {{api_base: '{server.base_url}', api_key: sk-test-key-123456}}}}]\n"
                     f"cases:\n{textwrap.indent(cases, '  ')}scorers: [{{type: contains, value: Paris}}]\n")
    return suite


def capital(request: dict) -> str:
    return "Paris" if "France" in json.dumps(request["messages"]) else "Rome"


CASES = "- {id: fr, vars: {country: France}}\n- {id: it, vars: {country: Italy}, turns: ['And of {{ country }}?']}\n"


def test_messages_or_text_built_for_each_case_reach_the_model_and_the_results(tmp_path):
    with FakeLLMServer(capital) as server:
        suite = write_suite(tmp_path, server, "- {id: chat, python: prompts.py:chat}\n- {id: text, python: "
                                              "prompts.py:text}\n", CASES)
        assert run_cli("validate", suite) == 0
        assert run_cli("run", suite, "--out", tmp_path / "out") == 0
        sent = [r["messages"] for r in server.requests]
    assert [{"role": "system", "content": "You answer in one word."},
            {"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]}] in sent
    assert [{"role": "user", "content": "[fr] Capital of France?"}] in sent
    results = {(r["prompt_id"], r["case_id"]): r for r in map(json.loads, (tmp_path / "out" / "results.jsonl")
                                                                     .read_text().splitlines())}
    assert results[("text", "fr")]["messages"] == [{"role": "user", "content": "[fr] Capital of France?"}]
    assert results[("chat", "fr")]["passed"] and not results[("chat", "it")]["passed"]
    # A later turn is a template over the case's vars, as with any prompt.
    assert results[("chat", "it")]["transcript"][1] == {"role": "user", "content": "And of Italy?"}


@pytest.mark.parametrize(("function", "said"), [
    ("raises", r"prompts\.py:9: case 'it': the prompt function of prompt 'p' raised KeyError: 'Italy'"),
    ("not_messages", r"prompts\.py: case 'fr': the prompt function of prompt 'p' returned int, not a list of "
                     r"messages or the user message's text"),
    ("bad_role", r"prompts\.py: case 'fr': the prompt function of prompt 'p' returned an invalid message 1: .*\n"
                 r"  hint: a message is"),
    ("ends_with_assistant", r"case 'fr': the conversation ends with an 'assistant' message"),
])
def test_a_prompt_function_that_fails_a_case_fails_validate_and_run(tmp_path, capsys, function, said):
    with FakeLLMServer(capital) as server:
        suite = write_suite(tmp_path, server, f"- {{id: p, python: prompts.py:{function}}}\n", CASES)
        assert run_cli("validate", suite) == 2
        assert re.search(said, capsys.readouterr().err)
        assert run_cli("run", suite, "--out", tmp_path / "out") == 2
        assert re.search(said, capsys.readouterr().err)
        assert server.requests == []


@pytest.mark.parametrize(("prompt", "said"), [
    ("{id: p, python: prompts.py:missing}", r"suite\.yaml:3: 'prompts\.py' has no function 'missing'"),
    ("{id: p, python: prompts.py:chat, text: hi}", r"suite\.yaml:3: .*give exactly one of 'template'"),
    ("{id: p, python: 'prompts.py:'}", r"suite\.yaml:3: prompts\.0\.python: write the function as file\.py:function"),
])
def test_a_prompt_function_that_cannot_be_loaded_fails_at_its_line(tmp_path, capsys, prompt, said):
    with FakeLLMServer(capital) as server:
        suite = write_suite(tmp_path, server, f"- {prompt}\n", CASES)
        assert run_cli("validate", suite) == 2
    assert re.search(said, capsys.readouterr().err)
