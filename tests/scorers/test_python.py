"""The python scorer on hand-made inputs: the names an expression sees, how a function is called, what a check may
return and how anything else is recorded."""

from __future__ import annotations

import pytest

from harness.records import Response, ToolCall
from harness.spec import Case
from harness.testing import score_output

CASE = Case(id="late-order", vars={"order": "B-7"}, expected="shipped", tags=["support"], metadata={"lang": "en"})
RESPONSE = Response(text="ignored", finish_reason="stop", prompt_tokens=12, completion_tokens=5, latency_ms=250.0,
                    tool_calls=[ToolCall(name="get_order", arguments={"id": "B-7"}, raw='{"id": "B-7"}', id="c1")])


def check(spec: dict | str, output: str, directory=None, response: Response = RESPONSE):
    spec = {"type": "python", "expr": spec} if isinstance(spec, str) else {"type": "python", **spec}
    return score_output(spec, output, CASE, response=response, directory=directory)


@pytest.mark.parametrize("expr", [
    "output == 'Order B-7 has shipped.'",
    "vars['order'] in output and expected in output",
    "case.id == 'late-order' and case.tags == ['support'] and case.metadata['lang'] == 'en'",
    "case.vars == vars and case.expected == expected",
    "response.finish_reason == 'stop' and response.prompt_tokens == 12 and response.latency_ms < 1000",
    "response.tool_calls[0].name == 'get_order' and response.tool_calls[0].raw == '{\"id\": \"B-7\"}'",
    "tool_calls[0].arguments['id'] == vars['order'] and tool_calls[0].id == 'c1'",
    "json is None",  # the output is not JSON
    "bool(re.search(r'B-\\d', output)) and math.isclose(0.1 + 0.2, 0.3)",
    "all(word[0].isupper() for word in output.split()[:2]) or len(output) > 5",  # a comprehension sees the names
])
def test_an_expression_sees_the_names_the_docs_list(expr):
    result = check(expr, "Order B-7 has shipped.")
    assert result.passed and result.error is None, result.explanation
    assert result.explanation == f"`{expr}` is True"


def test_json_is_the_output_parsed_as_the_json_scorer_reads_it():
    fenced = '```json\n{"status": "shipped", "items": [1, 2]}\n```'
    assert check("json['status'] == 'shipped' and len(json['items']) == 2", fenced).passed
    assert check("json == [1, 'a']", "[1, \"a\"]").passed


@pytest.mark.parametrize("expr, value, passed, explanation", [
    ("len(output) < 3", 0.0, False, "`len(output) < 3` is False"),
    ("0.75", 0.75, False, "`0.75` = 0.75"),  # a number is a score, passing at the default threshold 1
    ("1", 1.0, True, "`1` = 1"),
    ("{'score': 0.5, 'reason': 'half of it'}", 0.5, False, "half of it"),
    ("{'score': 0.2, 'passed': True, 'reason': 'good enough'}", 0.2, True, "good enough"),  # passed decides
    ("{'passed': False}", 0.0, False, "`{'passed': False}` = 0"),
    ("{'score': True}", 1.0, True, "`{'score': True}` = 1"),
])
def test_what_a_check_may_return(expr, value, passed, explanation):
    result = check(expr, "shipped")
    assert (result.value, result.passed, result.explanation, result.error) == (value, passed, explanation, None)


def test_a_threshold_and_not_apply_to_a_check_as_to_any_scorer():
    assert check({"expr": "0.75", "threshold": 0.5}, "x").passed
    negated = check({"expr": "'refund' in output", "not": True}, "We never refund.")
    assert (negated.value, negated.passed) == (0.0, False) and negated.explanation.startswith("not: ")
    decided = check({"expr": "{'score': 0.9, 'passed': False}", "not": True}, "x")
    assert decided.passed and decided.value == pytest.approx(0.1)  # its own pass, turned round


@pytest.mark.parametrize("expr, error", [
    ("'yes'", "the python check `'yes'` returned 'yes': a check returns True or False, a number from 0 to 1, or "
              "{score, reason}"),
    ("None", "returned None (NoneType): a check returns"),
    ("[1]", "returned [1] (list): a check returns"),
    ("1.5", "returned 1.5 (float): a score is a number from 0 to 1"),
    ("-1", "returned -1 (int): a score is a number from 0 to 1"),
    ("float('nan')", "returned nan (float): a score is a number from 0 to 1"),
    ("{'pass': True}", "returned a mapping with 'pass' (did you mean 'passed'?): its keys are score, reason and "
                       "passed"),
    ("{'score': 'high'}", "returned score = 'high': a score is True or False or a number from 0 to 1"),
    ("{'score': 2}", "returned score = 2 (int): a score is"),
    ("{'reason': 'why'}", "returned {'reason': 'why'} with no score: give a score (or passed)"),
    ("{'score': 1, 'passed': 'yes'}", "returned passed = 'yes': passed is True or False"),
    ("1 / 0", "ZeroDivisionError: division by zero"),
    ("vars['missing']", "KeyError: 'missing'"),
])
def test_anything_else_is_the_trials_scorer_error_saying_what_was_returned(expr, error):
    result = check(expr, "x")
    assert not result.passed and result.value == 0.0
    assert error in result.error and error in result.explanation


CHECKS = '''
import asyncio

def mentions_order(output, case):
    return {"score": float(case.vars["order"] in output), "reason": f"looked for {case.vars['order']}"}

def every_name(**names):
    return sorted(names) == ["case", "expected", "json", "output", "response", "tool_calls", "turn", "vars"]

def from_the_response(response, tool_calls, json=None):
    return response.finish_reason == "stop" and tool_calls[0].name == "get_order" and json is None

async def slow_and_sure(output):
    await asyncio.sleep(0)
    return len(output) < 40

def explodes(output):
    raise RuntimeError("my check has a bug")

def forgets_to_return(output):
    len(output)

def with_a_default(output, limit=3):
    return len(output.split()) <= limit
'''


@pytest.fixture
def checks_file(tmp_path):
    (tmp_path / "checks.py").write_text(CHECKS)
    return tmp_path


@pytest.mark.parametrize("function, passed", [
    ("mentions_order", True), ("every_name", True), ("from_the_response", True), ("slow_and_sure", True),
    ("with_a_default", False),
])
def test_a_function_gets_the_names_its_parameters_ask_for(checks_file, function, passed):
    result = check({"function": f"checks.py:{function}"}, "Order B-7 has shipped.", directory=checks_file)
    assert result.passed is passed and result.error is None, result.explanation


def test_a_function_that_raises_or_returns_nothing_is_a_scorer_error(checks_file):
    raised = check({"function": "checks.py:explodes"}, "x", directory=checks_file)
    assert raised.error == "RuntimeError: my check has a bug" and not raised.passed
    nothing = check({"function": "checks.py:forgets_to_return"}, "x", directory=checks_file)
    assert nothing.error == ("the python check checks.py:forgets_to_return returned None (NoneType): a check returns "
                             "True or False, a number from 0 to 1, or {score, reason}")


def test_the_names_are_those_of_the_answer_scored():
    from harness.scorers.python import names

    context = type("Context", (), {"response": RESPONSE, "tool_calls": [], "turn": 1})()
    assert names("x", CASE, context)["turn"] == 1
    assert names("x", CASE, context)["tool_calls"] == []  # the turn's own calls, not the conversation's
    assert names("{}", CASE, context, ("json",)) == {"json": {}}  # only what a function asks for
