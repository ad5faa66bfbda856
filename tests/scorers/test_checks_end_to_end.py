"""Python checks, the text checks and groups end to end: YAML -> prompt -> litellm -> a real HTTP server -> scorers
-> results.jsonl -> run.json -> report."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from harness.testing import FakeLLMServer, Reply, last_user_message
from tests.conftest import embedded_data, run_cli

CHECKS = '''
import asyncio

def mentions_order(output, case):
    return {"score": float(case.vars["order"] in output), "reason": f"looked for {case.vars['order']}"}

async def called_the_tool(response, tool_calls):
    await asyncio.sleep(0)
    return bool(tool_calls) and response.finish_reason is not None

def explodes(output):
    raise RuntimeError("my check has a bug")

def says_maybe(output):
    return "maybe"
'''

SUITE = """\
prompts: [{id: agent, text: "{{ question }}"}]
cases:
  - {id: shipped, vars: {order: B-7, question: "Where is order B-7?"}, expected: "Your order B-7 has shipped."}
  - {id: refund, vars: {order: C-3, question: "Can I get a refund for C-3?"}, expected: "Refunds take 5 days."}
  - {id: status, vars: {order: D-1, question: "Status of D-1 as JSON"}, expected: '{"status": "lost"}'}
scorers:
  - {type: python, name: short, expr: "len(output.split()) <= 20 and vars['order'] in output"}
  - {type: python, name: status_ok, expr: "json is None or json['status'] == 'shipped'"}
  - {type: python, name: order, function: checks.py:mentions_order}
  - {type: python, name: tool, function: checks.py:called_the_tool, weight: 0}
  - {type: python, name: buggy, function: checks.py:explodes, weight: 0}
  - {type: python, name: vague, function: checks.py:says_maybe, weight: 0}
  - {type: contains_any, values: [shipped, refund], ignore_case: true}
  - {type: contains_all, values: [order, "{"], weight: 0}
  - {type: starts_with, value: "Your", weight: 0}
  - {type: ends_with, value: ".", weight: 0}
  - {type: levenshtein, max_distance: 3, weight: 0}
  - {type: contains, value: sorry, not: true, name: no_apology}
  - name: polite
    any:
      - {type: starts_with, value: "Your"}
      - {type: python, expr: "'please' in output.lower()"}
  - name: complete
    all:
      - {type: contains, value: order, weight: 3}
      - {type: ends_with, value: "."}
    threshold: 0.7
    weight: 0
  - name: neither
    not: true
    any: [{type: contains, value: lost}, {type: python, expr: "vars['order'] == 'Z-9'"}]
thresholds:
  polite.pass_rate: 0.7
"""


def support(request: dict) -> Reply | str:
    question = last_user_message(request)
    if "B-7" in question:
        return Reply(text="Your order B-7 has shipped.", tool_calls=[{"name": "get_order", "arguments": {"id": "B-7"}}])
    if "refund" in question:
        return "Sorry, please ask in store for a Refund of C-3."
    return '```json\n{"status": "lost"}\n```'


def write(root: Path, server: FakeLLMServer, body: str) -> Path:
    (root / "pyproject.toml").write_text("")
    (root / "checks.py").write_text(CHECKS)
    suite = root / "suite.yaml"
    suite.write_text(f"name: checks\nmodels: [{{id: fake, model: openai/fake, params: {{api_base: '{server.base_url}',"
                     " api_key: sk-test-key-123456}}]\n" + textwrap.dedent(body))
    return suite


def scores_of(run: Path) -> dict[str, dict[str, dict]]:
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    return {row["case_id"]: {score["name"]: score for score in row["scores"]} for row in rows}


def test_python_checks_text_checks_and_groups_are_run_recorded_and_reported(tmp_path, capsys):
    with FakeLLMServer(support) as server:
        suite = write(tmp_path, server, SUITE)
        assert run_cli("validate", suite) == 0
        assert run_cli("run", suite, "--out", tmp_path / "run") == 1  # polite passes 2 of 3 < 0.7
    out = capsys.readouterr().out
    found = scores_of(tmp_path / "run")
    shipped, refund, status = found["shipped"], found["refund"], found["status"]

    assert shipped["short"]["passed"] and not status["short"]["passed"]  # the JSON answer names no order
    assert status["short"]["explanation"] == "`len(output.split()) <= 20 and vars['order'] in output` is False"
    assert not status["status_ok"]["passed"] and shipped["status_ok"]["passed"]  # the fenced JSON, parsed
    assert shipped["order"]["explanation"] == "looked for B-7" and shipped["order"]["value"] == 1.0
    assert refund["order"]["passed"] and not status["order"]["passed"]
    assert shipped["tool"]["passed"] and not refund["tool"]["passed"]  # async, sees the response's tool calls
    # A check that raises, or returns what is not a score: that trial's scorer error, the run goes on.
    assert shipped["buggy"]["error"] == "RuntimeError: my check has a bug" and not shipped["buggy"]["passed"]
    assert shipped["vague"]["error"] == ("the python check checks.py:says_maybe returned 'maybe': a check returns "
                                         "True or False, a number from 0 to 1, or {score, reason}")

    assert refund["contains_any"]["explanation"] == "found 'refund'" and not status["contains_any"]["passed"]
    assert shipped["contains_all"]["explanation"] == "did not find '{' (of 2)"
    assert shipped["starts_with"]["passed"] and not refund["starts_with"]["passed"]
    assert not status["ends_with"]["passed"] and refund["ends_with"]["passed"]
    assert shipped["levenshtein"]["explanation"] == "0 edits from 'Your order B-7 has shipped.' (at most 3)"
    assert status["levenshtein"]["explanation"] == "more than 3 edits from '{\"status\": \"lost\"}'"
    assert not refund["no_apology"]["passed"] and refund["no_apology"]["explanation"] == "not: found 'sorry'"

    assert shipped["polite"]["passed"] and refund["polite"]["passed"] and not status["polite"]["passed"]
    assert refund["polite"]["explanation"] == ("1 of 2 passed: starts_with failed (starts 'Sorry, please ask in "
                                               "st…', not 'Your'); python passed (`'please' in output.lower()` "
                                               "is True)")
    # all with a threshold: the weighted mean (order 3, ends_with 1) against 0.7.
    assert shipped["complete"]["value"] == 1.0 and shipped["complete"]["threshold"] == 0.7
    assert status["complete"]["value"] == 0.0 and not status["complete"]["passed"]
    assert refund["complete"]["value"] == 0.25 and not refund["complete"]["passed"]
    assert not status["neither"]["passed"] and status["neither"]["explanation"].startswith("not: 1 of 2 passed")
    assert shipped["neither"]["passed"] and shipped["neither"]["value"] == 1.0

    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    scorers = manifest["variants"][0]["scorers"]
    assert scorers["polite"]["pass_rate"] == 2 / 3 and scorers["complete"]["mean"] == (1.0 + 0.25 + 0.0) / 3
    polite = next(check for check in manifest["thresholds"] if check["metric"] == "polite.pass_rate")
    assert not polite["passed"] and polite["value"] == 2 / 3  # a group's metric, thresholded by its name
    assert "6 scorer errors" in out and "3 × buggy: RuntimeError: my check has a bug" in out
    assert "3 × vague: the python check checks.py:says_maybe returned 'maybe'" in out

    report = (tmp_path / "run" / "report.html").read_text()
    cells = {row["id"]: row["c"][0] for row in embedded_data(report)["rows"]}
    polite = next(s for s in cells["refund"]["sc"] if s[0] == "polite")
    assert polite[2] is True and polite[3] == refund["polite"]["explanation"]


def conversation(request: dict) -> str:
    return "It arrives on Friday." if "arrive" in last_user_message(request) else "Order B-7 has shipped."


def test_a_check_knows_which_turn_of_a_conversation_it_scores(tmp_path):
    with FakeLLMServer(conversation) as server:
        suite = write(tmp_path, server, """\
            prompts: [{id: agent, text: "Where is order B-7?"}]
            cases:
              - id: late
                turns: ["And when will it arrive?"]
                scorers:
                  - {type: python, name: each, turn: all, expr: "('shipped', 'Friday')[turn] in output"}
                  - {type: python, name: last, expr: "turn == 1 and 'Friday' in output"}
                  - name: first
                    turn: 0
                    all: [{type: python, expr: "turn == 0"}, {type: contains, value: shipped}]
            """)
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
    late = scores_of(tmp_path / "run")["late"]
    assert late["each"]["passed"] and late["each"]["explanation"].startswith("turn 0: `")
    assert late["last"]["passed"] and late["first"]["passed"]


def answer_or_judge(request: dict) -> str:
    if any("<output>" in str(message.get("content")) for message in request["messages"]):
        return json.dumps({"reasoning": "It names the order.", "verdict": "pass"})
    return "Your order B-7 has shipped."


def test_a_judge_inside_a_group_is_asked_and_its_calls_are_counted(tmp_path):
    with FakeLLMServer(answer_or_judge) as server:
        suite = write(tmp_path, server, f"""\
            judge: {{model: openai/judge, params: {{api_base: '{server.base_url}', api_key: sk-judge-99999}}}}
            prompts: [{{id: agent, text: "Where is order B-7?"}}]
            cases: [{{id: shipped}}]
            scorers:
              - all:
                  - {{type: rubric, rubric: "The answer says where the order is."}}
                  - {{type: contains, value: B-7}}
            """)
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
        assert server.count == 2  # the answer, and the judge's verdict on it
    group = scores_of(tmp_path / "run")["shipped"]["all"]
    assert group["passed"] and group["judge"]["calls"] == 1 and group["judge"]["model"] == "openai/judge"
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["config"]["judge"]["model"] == "openai/judge"  # the run knew a member asks a judge
