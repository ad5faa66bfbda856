"""The names scores are kept under: a scorer's own (a type used again is numbered, a name given twice refused) and
the named metrics several scorers count under, refused at their line when called like a scorer or a run metric."""

from __future__ import annotations

import json

import pytest

from harness.errors import HarnessError
from harness.scorers import arguments, resolve
from harness.spec import metric_names, named_metrics
from harness.suite import load_suite

HEAD = """\
name: names
prompts: [{id: p, text: "Where is order {{ order }}?"}]
models: [echo]
tools: [{name: get_order, parameters: {type: object, properties: {id: {type: string}}}}]
cases:
  - {id: a, vars: {order: B-7}}
  - id: b
    vars: {order: C-1}
    scorers: [{type: contains, value: C-1, metric: found}, {type: regex, pattern: C}]
  - id: own
    vars: {order: D-2}
    inherit_scorers: false
    scorers: [{type: contains, value: D, metric: found}]
scorers:
"""  # the scorers start on line 15


def load(tmp_path, scorers: str, tail: str = ""):
    (tmp_path / "pyproject.toml").write_text("")
    suite = tmp_path / "suite.yaml"
    suite.write_text(HEAD + "".join(f"  {row}\n" for row in scorers.splitlines()) + tail)
    return load_suite(suite)


def names(suite) -> dict[str, list[tuple[str, str]]]:
    return {case.id: [(s.name, s.metric) for s in suite.scorers_for(case)] for case in suite.cases}


def test_a_type_used_again_is_numbered_the_suites_first_and_a_metric_is_no_name(tmp_path):
    suite = load(tmp_path, "- {type: contains, value: order, metric: found}\n"
                           "- {type: contains, value: B, metric: found}\n"
                           "- {type: regex, pattern: x, name: contains_2}")  # a given name is kept: numbers skip it
    assert names(suite) == {
        "a": [("contains", "found"), ("contains_3", "found"), ("contains_2", "")],
        "b": [("contains", "found"), ("contains_3", "found"), ("contains_2", ""), ("contains_4", "found"),
              ("regex", "")],
        "own": [("contains_4", "found")]}  # it adds to none of the suite's, yet is another check than theirs
    assert named_metrics(suite) == ["found"]
    assert {"found.mean", "found.pass_rate", "contains_4.mean"} <= set(metric_names(suite))


def test_tool_call_is_called_after_its_tool_and_numbered_when_it_checks_it_again(tmp_path):
    suite = load(tmp_path, "- {type: tool_call, name: get_order}\n"
                           "- {type: tool_call, name: get_order, args: {id: B-7}, metric: right_order}\n"
                           "- {all: [{type: contains, value: x}]}\n- {all: [{type: regex, pattern: x}]}")
    assert names(suite)["a"] == [("get_order", ""), ("get_order_2", "right_order"), ("all", ""), ("all_2", "")]
    checked = [arguments(resolve(spec), spec)["name"] for spec in suite.scorers[:2]]
    assert checked == ["get_order", "get_order"]  # numbered as a scorer, the tool it checks is still get_order


@pytest.mark.parametrize("scorers, tail, line, message, hint", [
    ("- {type: contains, value: a, name: x}\n- {type: regex, pattern: b, name: x}", "", 16,
     "two scorers are called 'x'", "give each a distinct 'name'"),
    ("- {type: contains, value: a}\n- type: regex\n  pattern: b\n  metric: contains", "", 18,
     "metric 'contains' is called like a scorer: a threshold on 'contains.mean', or 'contains' in a derived "
     "metric, could mean either", "call the metric something else (metric: contains_metric), or give the scorer a "
     "name: of its own"),
    ("- {type: contains, value: a, metric: regex}", "", 15, "metric 'regex' is called like a scorer",
     None),  # a case's own scorer is called regex
    ("- {type: contains, value: a, metric: latency_p95_ms}", "", 15,
     "metric 'latency_p95_ms' is called like a run metric",
     "call it something else: pass_rate, error_rate, latency_p50_ms, latency_p95_ms, cost_usd, trials are the "
     "run's own"),
    ("- type: contains\n  value: a\n  name: said.a", "", 17,
     "name 'said.a' holds a '.': thresholds name a figure as NAME.mean, so it would be ambiguous",
     "write name: said_a"),
    ("- {type: contains, value: a, metric: v1.found}", "", 15, "metric 'v1.found' holds a '.'",
     "write metric: v1_found"),
    ("- {type: contains, value: a}", "derived_metrics:\n  found: trials\n", 17,
     "derived metric 'found': 'found' is already a metric of the suite", None),
    ("- {type: contains, value: a}", "thresholds:\n  found.mean: 2\n", 17,
     "threshold found.mean is a share from 0 to 1: 2.0 can never be met", None),
    ("- {type: contains, value: a}", "thresholds:\n  fund.pass_rate: 0.5\n", 17,
     "unknown metric 'fund.pass_rate' in thresholds (did you mean 'found.pass_rate'?)", None),
])
def test_a_name_or_metric_that_would_mix_figures_is_refused_at_its_line(tmp_path, scorers, tail, line, message,
                                                                        hint):
    with pytest.raises(HarnessError) as raised:
        load(tmp_path, scorers, tail)
    error = raised.value
    assert message in error.message and error.line == line, (error.message, error.line)
    assert hint is None or error.hint == hint


def test_a_metric_in_a_data_files_case_is_refused_at_its_row(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    scorers = [{"type": "contains", "value": "C", "metric": "contains"}]
    rows = [{"id": "a", "vars": {"order": "B-7"}}, {"id": "b", "vars": {"order": "C-1"}, "scorers": scorers}]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: rows\nprompts: [{id: p, text: '{{ order }}'}]\ncases: cases.jsonl\n"
                     "scorers: [{type: contains, value: B}]\n")
    with pytest.raises(HarnessError) as raised:
        load_suite(suite)
    assert raised.value.file.endswith("cases.jsonl") and raised.value.line == 2
    assert "metric 'contains' is called like a scorer" in raised.value.message
