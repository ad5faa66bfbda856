"""Derived metrics: expressions over the sums of named metrics, with intervals over cases, checked at load, and
through a run to run.json, thresholds, the console and the report."""

from __future__ import annotations

import json

import pytest

from harness.derived_metrics import DerivedMetric, derive
from harness.errors import HarnessError
from harness.expressions import compile_expression
from harness.metrics import summarize
from harness.records import Response, TrialResult
from harness.scorers import Score
from harness.suite import load_suite
from tests.conftest import run_cli


def trial(case_id: str, expected: str, predicted: str, *, error: str | None = None) -> TrialResult:
    """A sentiment trial scored as promptfoo's f-score example does: a 0/1 score per confusion cell."""
    cells = {"tp": ("positive", "positive"), "fp": ("negative", "positive"), "fn": ("positive", "negative")}
    scores = [Score(name=name, value=float((expected, predicted) == cell), passed=True, threshold=None, weight=0)
              for name, cell in cells.items()]
    return TrialResult(case_id=case_id, prompt_id="p", model_id="m", repeat=0, messages=[], vars={}, expected=expected,
                       response=Response(text=predicted, error=error), scores=scores)


F_SCORE = [DerivedMetric(name, compile_expression(source, what=name)) for name, source in [
    ("precision", "tp / (tp + fp)"), ("recall", "tp / (tp + fn)"),
    ("f1", "2 * precision * recall / (precision + recall)"), ("share", "tp / trials")]]


def test_metric_names_are_sums_over_the_variants_trials_and_later_metrics_use_earlier_ones():
    results = [trial(f"c{i}", e, p) for i, (e, p) in enumerate(
        [("positive", "positive")] * 6 + [("negative", "positive")] * 2 + [("positive", "negative")] * 4
        + [("negative", "negative")] * 8)]
    results.append(trial("broken", "positive", "positive", error="HTTP 500"))  # a failed call is not counted
    derived = summarize(results, F_SCORE)[0].derived
    assert derived["precision"].value == pytest.approx(6 / 8) and derived["recall"].value == pytest.approx(6 / 10)
    assert derived["f1"].value == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert derived["share"].value == pytest.approx(6 / 20)
    low, high = derived["f1"].ci
    assert 0.3 < low < derived["f1"].value < high <= 1.0


def test_a_metric_that_cannot_be_computed_has_no_value_and_says_why():
    derived = derive(F_SCORE, [trial(f"c{i}", "negative", "negative").facts() for i in range(5)])
    assert derived["precision"].value is None
    assert derived["precision"].error == "ZeroDivisionError: float division by zero"
    assert derived["f1"].value is None  # it uses precision, which has none
    assert derived["share"].value == 0.0 and tuple(derived["share"].ci) == (0.0, 0.0)


def test_an_interval_needs_the_metric_in_nearly_every_resample():
    results = [trial("hit", "positive", "positive")] + [trial(f"n{i}", "negative", "negative") for i in range(30)]
    derived = summarize(results, F_SCORE)[0].derived
    assert derived["precision"].value == 1.0 and derived["precision"].ci is None  # most resamples lack the hit


def test_a_named_metric_stands_for_the_sum_of_the_scores_of_all_its_scorers():
    def scored(case_id: str, a: float, b: float, *, error: str | None = None) -> TrialResult:
        scores = [Score(name="said_a", value=a, passed=True, threshold=1, metric="said"),
                  Score(name="said_b", value=b, passed=True, threshold=1, metric="said", error=error)]
        return TrialResult(case_id=case_id, prompt_id="p", model_id="m", repeat=0, messages=[], vars={},
                           expected=None, response=Response(text=""), scores=scores)

    facts = [scored("c1", 1, 1).facts(), scored("c2", 1, 0).facts(), scored("c3", 0, 1, error="raised").facts()]
    expressions = [DerivedMetric(name, compile_expression(source, what=name)) for name, source in [
        ("said_per_trial", "said / trials"), ("a_share", "said_a / said")]]
    derived = derive(expressions, facts)
    assert derived["said_per_trial"].value == pytest.approx(3 / 3)  # 1 + 1, 1 + 0, 0 (+ an error: no score)
    assert derived["a_share"].value == pytest.approx(2 / 3)


SUITE = """\
name: derived
models: [{{model: openai/fake, params: {{api_base: '{url}', api_key: sk-test-key-123456}}}}]
prompts: [{{id: p, text: "{{{{ review }}}}"}}]
cases:
  - {{id: a, vars: {{review: good}}}}
  - {{id: b, vars: {{review: good}}}}
  - {{id: c, vars: {{review: bad}}}}
scorers:
  - {{type: contains, value: positive, name: said_positive, weight: 0}}
  - {{type: contains, value: negative, name: said_negative, weight: 0}}
derived_metrics:
  positive_share: said_positive / trials
  balance: said_positive / said_negative{extra}
thresholds:
  positive_share: {bound}
"""


def test_derived_metrics_reach_run_json_thresholds_the_console_and_the_report(tmp_path, capsys):
    from harness.testing import FakeLLMServer

    (tmp_path / "pyproject.toml").write_text("")
    suite = tmp_path / "suite.yaml"
    with FakeLLMServer(lambda request: "positive") as server:
        suite.write_text(SUITE.format(url=server.base_url, extra="", bound="{max: 0.5}"))
        assert run_cli("run", suite, "--out", tmp_path / "run") == 1
    [variant] = json.loads((tmp_path / "run" / "run.json").read_text())["variants"]
    assert variant["derived"]["positive_share"]["value"] == 1.0
    assert variant["derived"]["balance"] == {"value": None, "ci": None,
                                             "error": "ZeroDivisionError: float division by zero"}
    out = capsys.readouterr().out
    assert "threshold missed: positive_share = 1 for p × openai/fake (needs ≤ 0.5)" in " ".join(out.split())
    assert "derived metric balance has no value for p × openai/fake: ZeroDivisionError" in " ".join(out.split())
    report = (tmp_path / "run" / "report.html").read_text()
    assert "<code>positive_share</code> 1.000" in report and "none: ZeroDivisionError: float division by zero" in report


@pytest.mark.parametrize("extra, message", [
    ("\n  broken: said_positive /", "suite.yaml:14: derived metric 'broken': the Python expression"),
    ("\n  typo: said_postive / trials", "suite.yaml:14: derived metric 'typo': 'said_postive' is not a metric of "
                                        "the suite (did you mean 'said_positive'?)"),
    ("\n  said_negative: said_positive", "derived metric 'said_negative': 'said_negative' is already a metric"),
    ("\n  early: later\n  later: trials", "derived metric 'early': 'later' is not a metric of the suite"),
])
def test_a_derived_metric_the_suite_cannot_compute_is_refused_at_its_line(tmp_path, extra, message):
    (tmp_path / "pyproject.toml").write_text("")
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(url="http://127.0.0.1:9/v1", extra=extra, bound="0.5"))
    with pytest.raises(HarnessError) as raised:
        load_suite(suite)
    assert message in str(raised.value).replace(str(tmp_path) + "/", "")
