"""Each output transform on hand-checked outputs; chains; the one rule for values that are not text; load-time
errors at their line; failures on one output recorded (on the trial, or on the scorer whose transform it was)."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.records import Response, ToolCall
from harness.scorers import ScoringContext, score_trial
from harness.scorers.transforms import Inputs, TransformError, apply, json_of, text_of
from harness.spec import Case, ScorerSpec
from harness.suite import load_suite
from harness.testing import score_output

CASE = Case(id="c", vars={"city": "Oslo"}, expected="Oslo")
RESPONSE = Response(text="(raw)", tool_calls=[ToolCall(name="lookup", arguments={"q": "x"})])


def run(steps, output):
    return apply(steps if isinstance(steps, list) else [steps], output, Inputs(CASE, RESPONSE))


def fails(steps, output) -> str:
    with pytest.raises(TransformError) as failed:
        run(steps, output)
    return str(failed.value)


@pytest.mark.parametrize("steps, output, expected", [
    ("json", '{"a": {"b": [1, 2]}}', {"a": {"b": [1, 2]}}),
    ("json", '```json\n{"a": 1}\n```', {"a": 1}),  # fenced, as the json scorer accepts it
    ("json", "  [1, 2]\n", [1, 2]),
    ("strip", "  Oslo \n", "Oslo"),
    ("lower", "OsLo", "oslo"),
    ({"json_path": "$.a.b"}, '{"a": {"b": "x"}}', "x"),  # text is parsed first: no `json` step needed
    ({"json_path": "$.items[1].name"}, '{"items": [{"name": "a"}, {"name": "b"}]}', "b"),
    ({"json_path": "$.items[-1]"}, '{"items": [1, 2, 3]}', 3),
    ({"json_path": "$['a b']"}, '{"a b": null}', None),
    # A path that may match several places gives every match, in order (even when only one matched).
    ({"json_path": "$.items[*].name"}, '{"items": [{"name": "a"}, {"name": "b"}]}', ["a", "b"]),
    ({"json_path": "$.items[*].name"}, '{"items": [{"name": "a"}]}', ["a"]),
    ({"json_path": "$..id"}, '{"id": 1, "child": {"id": 2}}', [1, 2]),
    ({"json_path": "$.items[?(@.ok == true)].n"}, '{"items": [{"ok": true, "n": 1}, {"ok": false, "n": 2}]}', [1]),
    ({"json_path": "$.items[0:2]"}, '{"items": [1, 2, 3]}', [1, 2]),
    ({"regex": r"total: (\d+)"}, "sum... total: 42 EUR", "42"),  # the first group
    ({"regex": r"\d+"}, "a 7 b 8", "7"),  # no group: the whole (first) match
    ({"regex": r"yes: (\w+)|no: (\w+)"}, "no: maybe", "maybe"),  # the first group that took part
    ({"regex": r"(?i)ANSWER: (.*)"}, "answer: Oslo", "Oslo"),  # flags inline
    ({"python": "output.split()[-1]"}, "the answer is Oslo", "Oslo"),
    ({"python": "json['n'] + 1 if json else None"}, '{"n": 1}', 2),
    ({"python": "vars['city'] in output and expected == case.expected"}, "Oslo!", True),
    ({"python": "response.tool_calls[0].name"}, "x", "lookup"),
    ({"python": "[w for w in output.split() if re.match('[A-Z]', w)]"}, "in Oslo and Rome", ["Oslo", "Rome"]),
])
def test_each_transform(steps, output, expected):
    assert run(steps, output) == expected


@pytest.mark.parametrize("output, answer", [
    ("<think>Oslo or Bergen? Oslo.</think>\n\nOslo", "Oslo"),
    ("<think>a</think>Oslo<think>b</think>", "Oslo"),
    ("<THINK>\nmulti\nline\n</THINK> Oslo", "Oslo"),
    ("the prompt opened the block... so Oslo</think>\nOslo", "Oslo"),  # its opening tag was in the prompt
    ("<think>still thinking when the tokens ran out", ""),  # never closed
    ("Oslo", "Oslo"),
])
def test_strip_think_drops_reasoning_blocks(output, answer):
    assert run("strip_think", output) == answer


def test_steps_chain_each_seeing_what_the_one_before_left():
    output = '<think>hmm</think>```json\n{"Answer": {"City": "OSLO "}}\n```'
    assert run(["strip_think", "json", {"json_path": "$.Answer.City"}, "strip", "lower"], output) == "oslo"
    assert run(["json", {"python": "output['Answer']"}, {"json_path": "$.City"}], output.split("</think>")[1]) \
        == "OSLO "


def test_a_value_that_is_not_text_is_read_as_its_compact_json_wherever_text_is_needed():
    value = {"city": "Zürich", "n": [1, 2.5], "ok": True, "none": None}
    assert text_of(value) == '{"city":"Zürich","n":[1,2.5],"ok":true,"none":null}'
    assert text_of("already text") == "already text" and text_of(42) == "42" and text_of(None) == "null"
    assert run("json", text_of(value)) == value  # json parses it back to the same value
    assert run(["json", {"regex": r'"n":\[(\d)'}], '{"n": [1, 2]}') == "1"  # a text step reads the compact JSON
    assert run(["json", "json"], '{"a": 1}') == {"a": 1}  # json of a parsed value leaves it as it is
    assert run([{"json_path": "$.a"}, "lower"], '{"a": {"B": 1}}') == '{"b":1}'
    assert json_of('{"a": 1}') == {"a": 1} and json_of("not json") is None and json_of([1]) == [1]


@pytest.mark.parametrize("steps, output, message", [
    ("json", "Sure! Here: {", "json: not valid JSON (Expecting value at line 1 column 1) in 'Sure! Here: {'"),
    ({"json_path": "$.city"}, '{"town": "Oslo"}', 'json_path $.city: matched nothing in \'{"town":"Oslo"}\''),
    ({"json_path": "$.items[*]"}, '{"items": []}', "json_path $.items[*]: matched nothing"),
    ({"json_path": "$.city"}, "Oslo", "json_path $.city: not valid JSON"),
    ({"json_path": "$[0]"}, '{"a": 1}', "json_path $[0]: does not apply to"),
    ({"regex": r"total: (\d+)"}, "no total here", "regex /total: (\\d+)/: no match in 'no total here'"),
    ({"python": "output['x']"}, "text", "python \"output['x']\": TypeError: string indices must be integers"),
    ({"python": "json['x']"}, '{"y": 1}', "python \"json['x']\": KeyError: 'x'"),
    ({"python": "{1, 2}"}, "x", "python '{1, 2}': returned set {1, 2}, which is neither text nor a JSON value"),
])
def test_a_step_that_fails_on_an_output_says_which_and_why(steps, output, message):
    assert fails(steps, output).startswith(message)


def test_a_long_output_is_clipped_in_the_message():
    message = fails({"regex": "x"}, "a" * 500)
    assert len(message) < 120 and message.endswith("a…'")


def test_a_pattern_that_backtracks_without_end_times_out_as_a_transform_error():
    started = time.perf_counter()
    message = fails({"regex": r"^(a|a)*$"}, "a" * 30 + "b")
    assert "timed out" in message and time.perf_counter() - started < 5


def score_with(steps, spec, output):
    return score_output({**spec, "transform": steps} if isinstance(spec, dict) else {"type": spec,
                                                                                    "transform": steps},
                        output, CASE)


def test_a_scorers_own_transform_applies_to_what_it_alone_sees():
    assert score_with({"json_path": "$.city"}, "equals", '{"city": "Oslo"}').passed
    assert score_with(["json", {"python": "output['n'] * 2"}], {"type": "equals", "value": 4}, '{"n": 2}').passed
    # A value that is not text reaches the scorer as its compact JSON.
    contains = score_with({"json_path": "$.a"}, {"type": "contains", "value": '"b":1'}, '{"a": {"b": 1}}')
    assert contains.passed


def test_a_scorers_transform_failing_fails_that_scorer_alone_as_a_scorer_error():
    score = score_with({"json_path": "$.city"}, "equals", '{"town": "Oslo"}')
    assert (score.passed, score.value) == (False, 0.0)
    assert score.error == score.explanation == 'transform failed: json_path $.city: matched nothing in ' \
                                               '\'{"town":"Oslo"}\''


def context(transcript=()) -> ScoringContext:
    return ScoringContext(response=RESPONSE, messages=[], directory=Path.cwd(), transcript=list(transcript))


def scored(specs, steps, answers, transcript=()):
    specs = [ScorerSpec.model_validate(s) for s in specs]
    return asyncio.run(score_trial(specs, steps, answers, CASE, context(transcript)))


def test_a_trials_transform_runs_once_before_its_scorers_and_is_recorded_as_text():
    result = scored(["equals", {"type": "contains", "value": "osl", "transform": "lower"}],
                    [{"json_path": "$.city"}], ['{"city": "Oslo"}'])
    assert [(s.name, s.passed) for s in result.scores] == [("equals", True), ("contains", True)]
    assert (result.transformed, result.transform_error) == ("Oslo", None)
    assert scored(["equals"], ["json"], ['{"a": 1}']).transformed == '{"a":1}'
    untouched = scored(["equals"], [], ["Oslo"])
    assert (untouched.transformed, untouched.transform_error, untouched.scores[0].passed) == (None, None, True)
    unchanged = scored(["equals"], ["strip"], ["Oslo"])  # nothing to show beside the raw output
    assert (unchanged.transformed, unchanged.transform_error, unchanged.scores[0].passed) == (None, None, True)


def test_a_trials_transform_failing_leaves_it_unscored_with_the_reason():
    result = scored(["equals", "contains"], ["strip", {"json_path": "$.city"}], ["Oslo"])
    assert result.scores == [] and result.transformed is None
    assert result.transform_error.startswith("json_path $.city: not valid JSON")


TURNS = [{"role": "assistant", "content": "first"}, {"role": "user", "content": "and?"},
         {"role": "assistant", "content": "second"}]


def test_the_answers_a_conversations_scorers_read_are_transformed_and_only_those():
    answers = ['{"city": "Bergen"}', '{"city": "Oslo"}']
    steps = [{"json_path": "$.city"}]
    result = scored(["equals", {"type": "equals", "value": "Bergen", "turn": 0, "name": "first"}], steps, answers,
                    TURNS)
    assert [(s.name, s.passed) for s in result.scores] == [("equals", True), ("first", True)]
    assert result.transformed == "Oslo"
    # An earlier answer no scorer reads is not transformed (nor can its transform fail the trial).
    assert scored(["equals"], steps, ["not json", '{"city": "Oslo"}'], TURNS).transform_error is None
    failed = scored([{"type": "contains", "value": "o", "turn": "all"}], steps, ["not json", '{"city": "Oslo"}'],
                    TURNS)
    assert failed.transform_error.startswith("turn 0's answer: json_path $.city: not valid JSON")


def write_suite(tmp_path: Path, body: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(body))
    return path


SUITE = """\
name: t
prompts:
  - id: p
    text: "hi"
    transform: {prompt}
models: [echo]
transform: {suite}
cases:
  - id: c
    expected: x
    transform: {case}
scorers:
  - type: equals
    transform: {scorer}
"""


def suite_with(tmp_path: Path, **where: str) -> Path:
    fields = {"prompt": "strip", "suite": "strip", "case": "strip", "scorer": "strip", **where}
    return write_suite(tmp_path, SUITE.format(**fields))


def test_transforms_load_everywhere_and_chain_suite_then_prompt_then_case(tmp_path):
    suite = load_suite(suite_with(tmp_path, suite="[strip_think]", prompt="{json_path: $.a}",
                                  case="[lower, {regex: '(\\w+)'}]", scorer="null"))
    assert suite.transform_for("p", suite.cases[0]) == ["strip_think", {"json_path": "$.a"}, "lower",
                                                        {"regex": "(\\w+)"}]
    assert suite.scorers[0].transform == []


@pytest.mark.parametrize("where, step, line, message", [
    ("suite", "stirp", 7, "transform: unknown transform 'stirp' (did you mean 'strip'?)"),
    ("prompt", "json_path", 5, "transform: 'json_path' needs its argument: write it as {json_path: ...}"),
    ("case", "{jsonpath: $.a}", 11, "case 'c': transform: unknown transform 'jsonpath' (did you mean 'json_path'?)"),
    ("scorer", "{json_path: '$.['}", 14, "transform json_path: not a JSONPath"),
    ("scorer", "{regex: '(a'}", 14, "transform regex: not a regular expression: missing )"),
    ("case", "{python: 'output['}", 11, "case 'c': python transform: the Python expression 'output[' does not "
                                        "compile"),
    ("suite", "{strip: true}", 7, "transform: 'strip' takes no argument"),
    ("suite", "{json: x, strip: y}", 7, "transform: a step is a name or a mapping of one name to its argument"),
    ("suite", "{regex: 5}", 7, "transform: 'regex' needs a non-empty text argument, not 5"),
    ("suite", "[strip, 5]", 7, "transform: a transform step is a name (such as strip) or a mapping"),
    ("suite", "{python: ''}", 7, "transform: 'python' needs a non-empty text argument"),
])
def test_a_bad_transform_is_a_load_error_at_its_line(tmp_path, where, step, line, message):
    with pytest.raises(HarnessError) as failed:
        load_suite(suite_with(tmp_path, **{where: step}))
    assert failed.value.line == line and failed.value.file == str(tmp_path / "suite.yaml")
    assert message in failed.value.message


def test_each_step_of_a_list_is_located_on_its_own_line(tmp_path):
    path = write_suite(tmp_path, """\
        name: t
        prompts: [{id: p, text: hi}]
        transform:
          - strip
          - {regex: "(ok"}
        cases: [{id: c}]
        """)
    with pytest.raises(HarnessError) as failed:
        load_suite(path)
    assert failed.value.line == 5


def test_a_case_from_a_data_file_is_located_at_its_row(tmp_path):
    (tmp_path / "cases.jsonl").write_text('{"id": "a"}\n{"id": "b", "transform": {"regex": "(x"}}\n')
    path = write_suite(tmp_path, "name: t\nprompts: [{id: p, text: hi}]\ncases: cases.jsonl\n")
    with pytest.raises(HarnessError) as failed:
        load_suite(path)
    assert (failed.value.file, failed.value.line) == (str(tmp_path / "cases.jsonl"), 2)
    assert failed.value.message.startswith("case 'b': transform regex")


def test_validate_exits_2_naming_the_file_and_line(tmp_path, capsys):
    from tests.conftest import run_cli

    path = suite_with(tmp_path, case="[strip, {regex: '(a'}]")
    assert run_cli("validate", path) == 2
    assert f"{path}:11: case 'c': transform regex: not a regular expression" in capsys.readouterr().err
