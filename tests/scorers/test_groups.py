"""Scorer groups: how {any: [...]} and {all: [...]} combine their members' scores (as promptfoo's assert-set)."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.records import Score
from harness.scorers.groups import combine
from harness.spec import Case, ScorerSpec
from harness.suite import load_suite
from harness.testing import score_output
from tests.scorers.test_transforms import write_suite


def member(name: str, value: float, passed: bool | None = None, *, weight: float = 1.0, error: str | None = None,
           judge: dict | None = None) -> Score:
    return Score(name=name, value=value, passed=value >= 1.0 if passed is None else passed, threshold=1.0,
                 explanation=f"{name} said so", weight=weight, error=error, judge=judge)


def group(kind: str, **own) -> ScorerSpec:
    return ScorerSpec.model_validate({kind: ["contains"], **own})


@pytest.mark.parametrize("kind, own, members, value, passed", [
    # all: the weighted mean; passes when every member does, or (with a threshold) when the mean reaches it.
    ("all", {}, [member("a", 1), member("b", 1)], 1.0, True),
    ("all", {}, [member("a", 1), member("b", 0)], 0.5, False),
    ("all", {}, [member("a", 1, weight=3), member("b", 0)], 0.75, False),
    ("all", {"threshold": 0.7}, [member("a", 1, weight=3), member("b", 0)], 0.75, True),
    ("all", {"threshold": 0.8}, [member("a", 1, weight=3), member("b", 0)], 0.75, False),
    ("all", {}, [member("a", 0.4, True), member("b", 0.6, True)], 0.5, True),  # members' own passes decide
    # any: the best member's score; passes when any member does, or when the best reaches the threshold.
    ("any", {}, [member("a", 0), member("b", 1)], 1.0, True),
    ("any", {}, [member("a", 0), member("b", 0.4)], 0.4, False),
    ("any", {"threshold": 0.3}, [member("a", 0), member("b", 0.4)], 0.4, True),
    # not: 1 - the score, and the outcome turned round.
    ("any", {"not": True}, [member("a", 0), member("b", 1)], 0.0, False),
    ("any", {"not": True}, [member("a", 0), member("b", 0)], 1.0, True),
    ("all", {"not": True, "threshold": 0.5}, [member("a", 1), member("b", 0), member("c", 0)], 2 / 3, True),
    # weight 0: shown, not counted.
    ("all", {}, [member("a", 1), member("b", 0, weight=0)], 1.0, True),
])
def test_a_groups_score_and_verdict(kind, own, members, value, passed):
    score = combine(group(kind, **own), members)
    assert score.value == pytest.approx(value) and score.passed is passed and score.error is None


def test_its_explanation_lists_every_member():
    score = combine(group("all", name="polite"), [member("a", 1), member("b", 0.5, False), member("c", 0, weight=0)])
    assert score.name == "polite"
    assert score.explanation == ("1 of 2 passed: a passed (a said so); b failed 0.50 (b said so); "
                                 "c failed (weight 0: not counted) (c said so)")
    assert combine(group("any", **{"not": True}), [member("a", 1)]).explanation.startswith("not: 1 of 1 passed")


def test_a_members_error_is_the_groups_unless_an_any_group_passed_anyway():
    broken = member("b", 0, error="ValueError: bug")
    failed = combine(group("all"), [member("a", 1), broken])
    assert failed.error == "b: ValueError: bug" and not failed.passed and "b error (b said so)" in failed.explanation
    assert combine(group("any"), [member("a", 1), broken]).error is None
    unknown = combine(group("any", **{"not": True}), [member("a", 0), broken])
    assert unknown.error == "b: ValueError: bug" and not unknown.passed  # b might have passed: no verdict


def test_no_member_applying_means_the_group_does_not_apply():
    assert combine(group("all"), []) is None
    assert combine(group("all"), [member("a", 1, weight=0)]) is None


def test_the_judge_calls_behind_the_members_are_counted_in_the_group():
    first = {"model": "j", "calls": 1, "cached": 0, "prompt_tokens": 10, "completion_tokens": 2, "cost_usd": 0.01}
    second = {"model": "k", "calls": 2, "cached": 1, "prompt_tokens": 5, "completion_tokens": 1, "cost_usd": None}
    score = combine(group("all"), [member("a", 1, judge=first), member("b", 1, judge=second), member("c", 1)])
    assert score.judge == {"model": "j, k", "calls": 3, "cached": 1, "prompt_tokens": 15, "completion_tokens": 3,
                           "cost_usd": 0.01}
    assert combine(group("all"), [member("a", 1)]).judge is None


def test_groups_nest_and_run_their_members_scorers():
    spec = {"any": [{"type": "contains", "value": "refund"},
                    {"all": [{"type": "starts_with", "value": "Sorry"}, {"type": "ends_with", "value": "."}],
                     "name": "apology"}],
            "name": "handled"}
    case = Case(vars={})
    score = score_output(spec, "Sorry, we cannot do that.", case)
    assert score.passed and score.name == "handled"
    assert score.explanation == ("1 of 2 passed: contains failed (did not find 'refund'); apology passed (2 of 2 "
                                 "passed: starts_with passed (starts with 'Sorry'); ends_with passed (ends with '.'))")
    assert not score_output(spec, "No.", case).passed


def test_a_group_as_the_spec_reads_it():
    spec = ScorerSpec.model_validate({"all": ["contains", {"type": "regex", "pattern": "x"}], "threshold": 0.5})
    assert (spec.type, spec.name, spec.group, spec.threshold) == ("all", "all", "all", 0.5)
    assert [leaf.type for leaf in spec.leaves()] == ["contains", "regex"] and spec.arguments == {}
    dumped = ScorerSpec.model_validate(spec.model_dump())  # as run.json records it
    assert [m.type for m in dumped.members] == ["contains", "regex"] and dumped.group == "all"
    assert ScorerSpec.model_validate("contains").group is None


def test_a_groups_transform_is_what_its_members_read():
    spec = {"all": [{"type": "equals", "value": "refund"}, {"type": "contains", "value": "und"}],
            "transform": {"json_path": "$.action"}, "name": "action"}
    assert score_output(spec, '{"action": "refund", "note": "no"}', Case(vars={})).passed
    failed = score_output(spec, "not JSON", Case(vars={}))
    assert not failed.passed and "json_path $.action: not valid JSON" in failed.error


def test_a_members_bad_transform_is_a_load_error_at_its_line(tmp_path):
    path = write_suite(tmp_path, """\
        name: t
        prompts: [{id: p, text: hi}]
        cases: [{id: c}]
        scorers:
          - any:
              - {type: contains, value: y}
              - type: equals
                value: x
                transform: {regex: "(a"}
        """)
    with pytest.raises(HarnessError) as failed:
        load_suite(path)
    assert failed.value.line == 9 and "transform regex: not a regular expression" in failed.value.message


def test_a_groups_human_labels_are_compared_with_its_verdict(tmp_path):
    """Review: a group is one scorer reported under its name, so a case's ``human: {NAME: ...}`` label is compared
    with the group's verdict, as with any scorer's: the group's score never carried it, and a threshold on
    NAME.agreement (which validate accepts) was always n/a, failing the run."""
    import json

    from tests.conftest import run_cli

    suite = write_suite(tmp_path, """\
        name: t
        prompts: [{id: p, text: "{{ q }}"}]
        models: [echo]
        cases:
          - {id: a, vars: {q: "yes"}, human: {polite: pass}}
          - {id: b, vars: {q: "no"}, human: {polite: fail}}
        scorers:
          - name: polite
            any: [{type: contains, value: "yes"}, {type: contains, value: "please"}]
        thresholds:
          polite.agreement: 0.9
        """)
    assert run_cli("run", suite, "--out", tmp_path / "out") == 0
    variant = json.loads((tmp_path / "out" / "run.json").read_text())["variants"][0]
    assert variant["scorers"]["polite"]["agreement"] == 1.0
