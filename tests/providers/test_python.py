"""python: models end to end: a suite's function answers (sync or async, text or a Response with tool calls and
usage), through the run's cache and limits; what it raises or returns amiss is the trial's error, never a crash."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_cli

PROVIDER = '''\
import asyncio
import threading

from harness import Response

def plain(messages, params):
    return f"plain {messages[-1]['content']} t={params['temperature']} on {threading.current_thread().name}"

async def waits(messages, params, vars):
    await asyncio.sleep(0.01)
    return Response(text=f"async {vars['q']}", prompt_tokens=5, completion_tokens=2, cost_usd=0.001)

def calls(messages, params):
    if messages[-1]["role"] == "tool":
        return "the order " + messages[-1]["content"]
    return Response(text="", tool_calls=[{"name": "get_order", "arguments": {"id": "B-7"}}])

def raises(messages, params):
    raise ValueError("no answer today")

def returns_a_dict(messages, params):
    return {"text": "close, but no"}

def mutates(messages, params):
    messages[-1]["content"] = "changed"
    return "mutated"
'''


def write_suite(root: Path, models: str, *, extra: str = "") -> Path:
    (root / "pyproject.toml").write_text("")
    (root / "myprovider.py").write_text(PROVIDER)
    suite = root / "suite.yaml"
    suite.write_text("name: fn\nprompts: [{id: p, text: 'Q: {{ q }}'}]\nmodels:\n" + textwrap.indent(models, "  ")
                     + "params: {temperature: 0}\ncases: [{id: a, vars: {q: hello}}]\n"
                     + "scorers: [{type: length, min_words: 1}]\n" + textwrap.dedent(extra))
    return suite


def rows(directory: Path) -> dict[str, dict]:
    return {row["model_id"]: row for row in map(json.loads, (directory / "results.jsonl").read_text().splitlines())}


def test_sync_and_async_functions_answer_and_are_cached(tmp_path):
    suite = write_suite(tmp_path, "- {id: plain, python: myprovider.py:plain}\n"
                                  "- {id: waits, python: myprovider.py:waits}\n"
                                  "- {id: mutates, python: myprovider.py:mutates}\n")
    assert run_cli("validate", suite) == 0
    assert run_cli("run", suite, "--out", tmp_path / "one") == 0
    found = rows(tmp_path / "one")
    assert found["plain"]["response"]["text"].startswith("plain Q: hello t=0 on ")
    assert "MainThread" not in found["plain"]["response"]["text"]  # a plain function runs off the event loop
    assert found["waits"]["response"]["text"] == "async hello"
    assert (found["waits"]["response"]["prompt_tokens"], found["waits"]["response"]["cost_usd"]) == (5, 0.001)
    assert found["mutates"]["messages"][-1]["content"] == "Q: hello"  # it got a copy
    assert run_cli("run", suite, "--out", tmp_path / "two") == 0
    assert all(row["response"]["cached"] for row in rows(tmp_path / "two").values())


def test_editing_the_functions_file_asks_again(tmp_path):
    suite = write_suite(tmp_path, "- {id: plain, python: myprovider.py:plain}\n")
    assert run_cli("run", suite, "--out", tmp_path / "one") == 0
    (tmp_path / "myprovider.py").write_text(PROVIDER.replace("plain {", "edited {"))
    assert run_cli("run", suite, "--out", tmp_path / "two") == 0
    assert not rows(tmp_path / "two")["plain"]["response"]["cached"]
    assert run_cli("run", suite, "--out", tmp_path / "three") == 0
    assert rows(tmp_path / "three")["plain"]["response"]["cached"]


def test_tool_calls_it_returns_drive_the_tool_loop(tmp_path):
    suite = write_suite(tmp_path, "- {id: calls, python: myprovider.py:calls}\n", extra="""\
        tools:
          - name: get_order
            parameters: {type: object, properties: {id: {type: string}}}
            result: '{"id": "{{ args.id }}", "status": "shipped"}'
        """)
    assert run_cli("run", suite, "--out", tmp_path / "out") == 0
    row = rows(tmp_path / "out")["calls"]
    assert row["response"]["text"] == 'the order {"id": "B-7", "status": "shipped"}'
    assert row["response"]["tool_calls"][0]["name"] == "get_order"


@pytest.mark.parametrize(("function", "said"), [
    ("raises", "python model myprovider.py:raises raised ValueError: no answer today"),
    ("returns_a_dict", "python model myprovider.py:returns_a_dict returned dict {'text': 'close, but no'}; it "
                       "returns the answer's text (str) or a harness.Response"),
])
def test_what_goes_wrong_in_the_function_is_the_trials_error(tmp_path, function, said):
    suite = write_suite(tmp_path, f"- {{id: m, python: myprovider.py:{function}}}\n- {{id: ok, python: "
                                  "myprovider.py:plain}\n")
    assert run_cli("run", suite, "--out", tmp_path / "out") == 1  # half the trials errored: past max_error_rate
    found = rows(tmp_path / "out")
    assert found["m"]["response"]["error"] == said and found["m"]["scores"] == []
    assert found["ok"]["passed"]


@pytest.mark.parametrize(("python", "said"), [
    ("myprovider.py:nothing", r"suite\.yaml:5: 'myprovider\.py' has no function 'nothing'"),
    ("missing.py:call", r"suite\.yaml:5: plugin file not found"),
    ("../outside.py:call", r"suite\.yaml:5: model file '\.\./outside\.py'"),
    ("myprovider.py", r"suite\.yaml:5: models\.0\.python: write the function as file\.py:function"),
])
def test_a_function_that_cannot_be_loaded_fails_at_validate(tmp_path, capsys, python, said):
    import re

    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "outside.py").write_text("def call(messages, params):\n    return 'x'\n")
    suite = write_suite(project, f"- id: m\n  python: {python}\n")
    assert run_cli("validate", suite) == 2
    assert re.search(said, capsys.readouterr().err)


def test_a_function_reading_vars_is_asked_again_for_other_vars_with_the_same_messages(tmp_path):
    """Review: a python: model that takes ``vars`` answers by them, so they belong in its cache key: two cases whose
    prompts render alike but whose vars differ must not share a cached answer (on the second run they did)."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "byvars.py").write_text("def answer(messages, params, vars):\n    return f\"city {vars['city']}\"\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: fn\nprompts: [{id: p, text: 'Which city?'}]\nmodels: [{id: m, python: byvars.py:answer}]\n"
                     "cases: [{id: a, vars: {city: Oslo}, expected: Oslo},\n"
                     "        {id: b, vars: {city: Rome}, expected: Rome}]\n"
                     "scorers: [contains]\n")
    for out in ("one", "two"):
        assert run_cli("run", suite, "--out", tmp_path / out) == 0
        texts = [json.loads(line)["response"]["text"] for line in (tmp_path / out / "results.jsonl").read_text()
                 .splitlines()]
        assert sorted(texts) == ["city Oslo", "city Rome"], out
