"""promptfoo's python assertions: an expr when plainly true or false, else a function of the checks file written
beside the suite, run end to end against a real HTTP server; and what promptfoo_checks reads from a check."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from harness.importers import render, write
from harness.importers.promptfoo_checks import context, verdict
from harness.records import Response
from harness.spec import Case
from harness.testing import FakeLLMServer
from tests.conftest import run_cli
from tests.importers.conftest import imported, validated

CONFIG = """
prompts: ['Name a fruit that is {{ color }}.']
providers: [openai:gpt-4o-mini]
tests:
  - vars: {color: yellow}
    assert:
      - %s
"""


def one_scorer(put, assertion: str):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", CONFIG % assertion))
    return result, suite["cases"][0]["scorers"][0]


@pytest.mark.parametrize(("value", "expr"), [
    ("\"'banana' in output.lower()\"", "'banana' in output.lower()"),
    ("\"context['vars']['color'] in output and len(output) < 50\"", "vars['color'] in output and len(output) < 50"),
    ("'context.get(\"vars\")[\"color\"] not in output'", 'vars["color"] not in output'),
    ("\"context.get('vars', {}).get('color') != output\"", "vars.get('color') != output"),
    ("\"any(w in output for w in ['a', 'b']) or output.startswith('A')\"",
     "any(w in output for w in ['a', 'b']) or output.startswith('A')"),
    ("|\n          not output.isupper()\n", "not output.isupper()"),  # a YAML block's last line end is no body
])
def test_an_assertion_plainly_true_or_false_is_an_expr(put, tmp_path, value, expr):
    result, scorer = one_scorer(put, f"type: python\n        value: {value}")
    assert scorer == {"type": "python", "expr": expr}
    assert result.files == {}
    assert validated(result, tmp_path / "suite.yaml")


@pytest.mark.parametrize("value", [
    "max(0, len(output) - 300)",  # a number: promptfoo passes it above 0, where harness's expr would need 1
    "\"json.loads(output)['ok']\"",  # json is the module in promptfoo, the parsed output in harness
    "\"context['prompt'] in output\"",  # more of the context than the vars
    "\"{'pass': True, 'score': 0.5, 'reason': 'fine'}\"",  # a GradingResult
])
def test_anything_else_is_a_function_of_the_checks_file(put, tmp_path, value):
    result, scorer = one_scorer(put, f"type: python\n        value: {value}")
    assert scorer == {"type": "python", "function": "evals_checks.py:check_1"}
    text = result.files["evals_checks.py"]
    assert "def _assertion_1(output, context):\n    return " in text
    assert ("async def check_1(output, case, response):\n"
            "    return await check(_assertion_1, output, case, response)\n") in text
    assert validated(result, tmp_path / "suite.yaml")


def test_one_function_per_distinct_assertion_and_a_body_that_does_not_compile_is_left_out(put):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['{{ q }}']
        defaultTest:
          assert: [{type: python, value: 'len(output) / 100', threshold: 0.5}]
        tests:
          - vars: {q: a}
            assert: [{type: python, value: "x = 1\\nreturn x +"}]
          - vars: {q: b}
            assert: [{type: python, value: 'len(output) / 100', threshold: 0.8}]
    """))
    assert suite["scorers"] == [{"type": "python", "function": "evals_checks.py:check_1"}]
    assert suite["cases"][1]["scorers"] == [{"type": "python", "function": "evals_checks.py:check_2",
                                             "name": "python-2"}]
    text = result.files["evals_checks.py"]
    assert text.count("def _assertion_") == 1 and "threshold=0.5)" in text and "threshold=0.8)" in text
    assert result.tally.untranslated == {"python (not Python)": 1}
    assert "# untranslated (python (not Python)): it does not compile: invalid syntax (line 3)" in render(result)


FRUIT_CHECKS = '''
from helpers import YELLOW  # a module beside the check file, as promptfoo lets it import


def get_assert(output, context):
    fruit = output.strip(" .").lower()
    return {"pass_": fruit in YELLOW, "score": 0.75 if fruit in YELLOW else 0.25,
            "reason": f"{fruit} for {context['vars']['color']} ({context['config']['note']})",
            "named_scores": {"yellow": 1}}


async def score_length(output, context):
    return len(output) / 10
'''

E2E_CONFIG = """
prompts: ['Name a fruit that is {{{{ color }}}}.']
providers:
  - id: openai:chat:fake
    config: {{apiBaseUrl: '{base}'}}
tests:
  - vars: {{color: yellow}}
  - vars: {{color: red}}
defaultTest:
  assert:
    - {{type: python, value: 'file://checks/fruit.py', config: {{note: from config}}}}
    - {{type: python, value: 'file://checks/fruit.py:score_length', threshold: 0.6}}
    - type: python
      value: |
        if context['vars']['color'] == 'red' and 'cherry' in output.lower():
            return {{'pass': True, 'score': 1, 'reason': 'a red fruit'}}
        return context['providerResponse']['finishReason'] == 'length'
    - {{type: not-python, value: 'len(output) * 10'}}
"""


def test_a_python_file_check_runs_end_to_end_from_the_copied_file(put, tmp_path, monkeypatch):
    put("checks/fruit.py", FRUIT_CHECKS)
    put("checks/helpers.py", "YELLOW = {'banana', 'lemon'}\n")
    answers = {"yellow": "Banana.", "red": "Cherry"}
    with FakeLLMServer(lambda request: answers[request["messages"][-1]["content"].split()[-1].rstrip(".")]) as server:
        config = put("promptfooconfig.yaml", E2E_CONFIG.format(base=server.base_url))
        out = tmp_path / "project" / "fruit.yaml"
        out.parent.mkdir()
        (out.parent / "pyproject.toml").write_text("")
        (out.parent / "checks").mkdir()  # the copy goes where the suite's checks file loads it from
        (out.parent / "checks" / "helpers.py").write_text("YELLOW = {'banana', 'lemon'}\n")
        assert run_cli("import", "promptfoo", config, "--out", out) == 0
        assert (out.parent / "checks" / "fruit.py").read_text() == (config.parent / "checks/fruit.py").read_text()
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-123456")
        run = tmp_path / "run"
        run_cli("run", out, "--out", run)
    yellow, red = (case["id"] for case in yaml.safe_load(out.read_text())["cases"])
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    scores = {(row["case_id"], s["name"]): (s["value"], s["passed"], s["explanation"])
              for row in rows for s in row["scores"]}
    assert scores[(yellow, "python")] == (0.75, True, "banana for yellow (from config)")
    assert scores[(red, "python")] == (0.25, False, "cherry for red (from config)")
    assert scores[(yellow, "python-2")] == (0.7, True, "the check returned 0.7 (at least 0.6)")
    assert scores[(red, "python-2")][:2] == (0.6, True)  # 6 characters: 0.6, at the threshold
    assert scores[(red, "python-3")] == (1.0, True, "a red fruit")
    assert scores[(yellow, "python-3")] == (0.0, False, "the check returned false")
    # 70 is above 0: promptfoo passes it, so not-python fails it (harness scores it 1, shown as returned).
    assert scores[(yellow, "python-4")][1:] == (False, "not: the check returned 70 (above 0)")


def test_the_checks_file_and_a_copy_are_never_written_over_without_force(put, tmp_path):
    put("check.py", "def get_assert(output, context):\n    return True\n")
    result, _ = imported("promptfoo", put("promptfooconfig.yaml", CONFIG % "{type: python, value: file://check.py}"))
    out = tmp_path / "elsewhere" / "suite.yaml"
    out.parent.mkdir()
    (out.parent / "evals_checks.py").write_text("mine\n")
    with pytest.raises(Exception, match="evals_checks.py exists already"):
        write(result, out)
    (out.parent / "evals_checks.py").unlink()
    (out.parent / "check.py").write_text("def get_assert(output, context):\n    return False\n")
    with pytest.raises(Exception, match="check.py exists already"):
        write(result, out)
    write(result, out, force=True)
    assert "return True" in (out.parent / "check.py").read_text()
    assert run_cli("validate", out) == 0


def test_in_the_configs_own_folder_the_check_file_is_used_where_it_is(put, folder):
    original = put("check.py", "def get_assert(output, context):\n    return True\n")
    result, suite = imported("promptfoo", put("promptfooconfig.yaml",
                                              CONFIG % "{type: python, value: 'file://check.py:get_assert'}"))
    assert result.copies == {"check.py": original}
    assert validated(result, folder / "promptfooconfig.harness.yaml")
    assert sorted(p.name for p in folder.iterdir()) == ["check.py", "evals_checks.py", "promptfooconfig.harness.yaml",
                                                         "promptfooconfig.yaml"]


def test_a_missing_check_file_is_named(put, capsys):
    config = put("promptfooconfig.yaml", CONFIG % "{type: python, value: 'file://nope.py:grade'}")
    assert run_cli("import", "promptfoo", config) == 2
    assert "1 file(s) it names cannot be found: file://nope.py" in " ".join(
        capsys.readouterr().err.split())


CASE = Case(id="c", vars={"color": "red"}, metadata={"topic": "fruit"})
RESPONSE = Response(text="Cherry", finish_reason="stop", prompt_tokens=10, completion_tokens=2, cost_usd=0.001,
                    latency_ms=120.0)


def test_the_context_is_promptfoos_as_far_as_harness_knows_it():
    assert context(CASE, RESPONSE, {"limit": 3}) == {
        "prompt": None, "vars": {"color": "red"}, "test": {"vars": {"color": "red"}, "metadata": {"topic": "fruit"}},
        "logProbs": None, "provider": None, "trace": None, "metadata": None, "config": {"limit": 3},
        "providerResponse": {"output": "Cherry", "finishReason": "stop", "cost": 0.001, "cached": False,
                             "latencyMs": 120.0, "tokenUsage": {"prompt": 10, "completion": 2, "total": 12}}}
    assert "config" not in context(CASE, Response(text="x"))


@pytest.mark.parametrize(("result", "threshold", "expected"), [
    (True, None, (1.0, True, "the check returned true")),
    (False, 0.5, (0.0, False, "the check returned false")),
    (0.3, None, (0.3, True, "the check returned 0.3 (above 0)")),
    (0, None, (0.0, False, "the check returned 0 (not above 0)")),
    (0.3, 0.5, (0.3, False, "the check returned 0.3 (not at least 0.5)")),
    (12, None, (1.0, True, "the check returned 12 (above 0)")),
    (-2, None, (0.0, False, "the check returned -2 (not above 0)")),
    ({"pass": True, "score": 0.4, "reason": "fine"}, None, (0.4, True, "fine")),
    ({"pass_": False, "score": 0, "reason": "no"}, None, (0.0, False, "no")),
    ({"pass": True, "score": 0.4, "reason": "fine"}, 0.5, (0.4, False, "score 0.4 is less than threshold 0.5: fine")),
    ({"pass": True}, None, (1.0, True, "the check returned pass = true")),
    ("TRUE", None, (1.0, True, "the check returned true")),
    ('{"pass": false, "score": 0.2, "reason": "as JSON"}', None, (0.2, False, "as JSON")),
    ("0.8 of it", 0.5, (0.8, True, "the check returned 0.8 (at least 0.5)")),
])
def test_what_a_check_returns_is_read_as_promptfoo_reads_it(result, threshold, expected):
    found = verdict(result, threshold)
    assert (found["score"], found["passed"], found["reason"]) == expected


@pytest.mark.parametrize(("result", "message"), [
    (None, "the check returned None: a promptfoo check returns True or False, a number, or {pass, score, reason}"),
    ("maybe", "the check returned 'maybe'"),
    ({"score": 1}, "whose 'pass' is not true or false"),
    ({"pass": True, "score": "high"}, "the check returned score = 'high': a score is a number"),
    ("{not json", "the check returned text that is not JSON"),
    (float("nan"), "the check returned NaN"),
])
def test_what_promptfoo_would_not_read_is_an_error_saying_what_it_was(result, message):
    with pytest.raises(ValueError) as raised:
        verdict(result)
    assert message in str(raised.value)


def test_the_checks_file_reads_as_written(put):
    put("check.py", "def grade(output, context):\n    return True\n")
    result, _ = imported("promptfoo", put("promptfooconfig.yaml", CONFIG % textwrap.dedent("""\
        {type: python, value: 'file://check.py:grade', threshold: 0.9}""")))
    text = result.files["evals_checks.py"]
    assert "check_grade = load('check.py:grade', HERE)\n" in text
    assert "return await check(check_grade, output, case, response, threshold=0.9)\n" in text
    compile(text, "evals_checks.py", "exec")
