"""Per-variant metrics from stored results: means without errors, intervals over cases, judge agreement, named
metrics pooling several scorers."""

from __future__ import annotations

import json

import pytest

from harness.metrics import summarize
from harness.records import Response, TrialResult
from harness.scorers import Score


def trial(case_id: str, *scores: Score, repeat: int = 0) -> TrialResult:
    return TrialResult(case_id=case_id, prompt_id="p", model_id="m", repeat=repeat, messages=[], vars={},
                       expected=None, response=Response(text="x"), scores=list(scores))


def score(value: float, *, error: str | None = None, **metadata) -> Score:
    return Score(name="s", value=value, passed=value >= 0.5, threshold=0.5, error=error, metadata=metadata)


def test_a_score_without_a_verdict_is_an_error_not_a_zero_in_the_mean():
    metrics = summarize([trial("a", score(1.0)), trial("b", score(0.5)), trial("c", score(0.0, error="judge: 500"))])
    s = metrics[0].scorers["s"]
    assert s.mean == 0.75 and s.errors == 1 and s.n == 3
    low, high = s.mean_ci
    assert 0.5 <= low <= 0.75 <= high <= 1.0


def test_one_case_has_no_interval_for_its_mean():
    assert summarize([trial("a", score(1.0)), trial("a", score(0.0), repeat=1)])[0].scorers["s"].mean_ci is None


def test_classification_intervals_resample_cases_with_their_repeats():
    # Ten cases, each repeated four times with the same answer: 40 pairs, but only 10 independent cases.
    results = [trial(f"c{i}", score(float(ok), kind="classification", expected=e, predicted=e if ok else o),
                     repeat=r)
               for i, (e, o, ok) in enumerate([("pos", "neg", i % 3 != 0) if i % 2 else ("neg", "pos", i % 3 != 0)
                                               for i in range(10)])
               for r in range(4)]
    by_trials = summarize(results)[0].scorers["s"].classification
    one_each = summarize([r for r in results if r.repeat == 0])[0].scorers["s"].classification
    assert by_trials.macro_f1 == pytest.approx(one_each.macro_f1)
    # Repeats add no information, so no narrower interval: for macro-F1, accuracy, the unparseable rate and the
    # scorer's own pass rate.
    for metric in ("macro_f1_ci", "accuracy_ci", "unparseable_rate_ci"):
        width = [getattr(c, metric)[1] - getattr(c, metric)[0] for c in (by_trials, one_each)]
        assert width[0] == pytest.approx(width[1], abs=0.08), metric
    width = [s.pass_rate_ci[1] - s.pass_rate_ci[0]
             for s in (summarize(rs)[0].scorers["s"] for rs in (results, [r for r in results if r.repeat == 0]))]
    assert width[0] == pytest.approx(width[1], abs=0.08)


@pytest.mark.parametrize("labels, judgements, agreement", [
    (["pass", "fail", True, "passed"], [1.0, 0.0, 0.0, 1.0], 0.75),          # pass/fail labels vs the score passing
    ([4, 5, "3", 2], ["4", "5", "2", "2"], 0.75),                           # a scale: the judge's own score
    (["consistent", "Subset", "contradicts"], ["consistent", "subset", "superset"], 2 / 3),  # categories
])
def test_judge_agreement_with_human_labels_of_every_kind(labels, judgements, agreement):
    results = [trial(f"c{i}", score(j if isinstance(j, float) else 1.0, human=h,
                                    **({} if isinstance(j, float) else {"judgement": j})))
               for i, (h, j) in enumerate(zip(labels, judgements, strict=True))]
    s = summarize(results)[0].scorers["s"]
    assert s.agreement == pytest.approx(agreement) and s.human_agreement.n == len(labels)


def test_judge_agreement_interval_counts_a_cases_repeats_once():
    verdicts = [(f"c{i}", 1.0 if i < 7 else 0.0) for i in range(10)]  # the judge passes 7; people passed all 10
    once = [trial(case, score(value, human="pass")) for case, value in verdicts]
    thrice = [trial(case, score(value, human="pass"), repeat=r) for case, value in verdicts for r in range(3)]
    intervals = [summarize(rs)[0].scorers["s"].human_agreement.accuracy_ci for rs in (once, thrice)]
    assert intervals[1] == pytest.approx(intervals[0])


def under(name: str, value: float, metric: str | None = "m", *, error: str | None = None) -> Score:
    """A score of the scorer ``name``, counted under the named metric ``metric`` as well."""
    return Score(name=name, value=value, passed=value >= 0.5, threshold=0.5, error=error, metric=metric)


def test_a_named_metric_pools_the_scores_of_all_its_scorers_each_once():
    results = [trial("a", under("x", 1.0), under("y", 0.0), under("z", 1.0, metric=None)),
               trial("b", under("x", 1.0), under("y", 1.0)),
               trial("c", under("x", 0.25), under("y", 0.0, error="judge: HTTP 500")),
               trial("d", under("w", 1.0))]  # a case's own scorer, under the same metric
    variant = summarize(results)[0]
    assert list(variant.named_metrics) == ["m"]
    m = variant.named_metrics["m"]
    assert m.scorers == ["x", "y", "w"] and m.n == 7 and m.errors == 1
    assert m.mean == pytest.approx((1 + 0 + 1 + 1 + 0.25 + 1) / 6)  # the error is no 0: left out of the mean ...
    assert m.pass_rate == pytest.approx(4 / 7)  # ... and no pass
    assert variant.scorers["x"].mean == pytest.approx(2.25 / 3) and variant.scorers["z"].n == 1  # scorers as ever
    assert variant.metric("m.mean") == m.mean and variant.metric("m.pass_rate") == m.pass_rate  # for thresholds
    assert variant.metric("x.mean") == variant.scorers["x"].mean
    low, high = m.mean_ci
    assert 0 <= low <= m.mean <= high <= 1


def test_a_named_metric_of_one_scorer_has_that_scorers_figures():
    results = [trial(f"c{i}", under("x", value), repeat=r) for i, value in enumerate([1.0, 0.0, 1.0, 0.5, 1.0])
               for r in range(2)]
    variant = summarize(results)[0]
    figures = {"n", "mean", "mean_ci", "pass_rate", "pass_rate_ci", "errors"}
    assert variant.named_metrics["m"].model_dump(include=figures) == variant.scorers["x"].model_dump(include=figures)


def test_a_score_keeps_its_metric_in_its_results_line_and_a_line_without_one_reads_as_before():
    result = trial("a", under("x", 1.0), under("z", 1.0, metric=None))
    line = json.loads(result.to_json())
    assert line["scores"][0]["metric"] == "m" and "metric" not in line["scores"][1]  # a line as before metrics
    back = TrialResult.from_dict(line)
    assert [s.metric for s in back.scores] == ["m", None] and [s.metric for s in back.facts().scores] == ["m", None]


SHARED = """\
name: shared
models: [{{model: openai/fake, params: {{api_base: '{url}', api_key: sk-test-key-123456}}}}]
prompts: [{{id: p, text: "Answer about {{{{ topic }}}}"}}]
cases:
  - {{id: refund, vars: {{topic: refund}}}}
  - {{id: late, vars: {{topic: late}}}}
  - {{id: broken, vars: {{topic: broken}}}}
  - id: rude
    vars: {{topic: rude}}
    scorers: [{{type: contains, value: thanks, metric: polite}}]
scorers:
  - {{type: contains, value: sorry, metric: polite}}
  - {{type: contains, value: please, metric: polite}}
derived_metrics:
  polite_per_trial: polite / trials
thresholds:
  polite.mean: {bound}
"""
ANSWERS = {"refund": "Sorry, please wait.", "late": "Sorry.", "broken": "Please hold.", "rude": "Go away."}


@pytest.mark.parametrize("bound, code, verdict", [
    ("0.4", 0, "verdict: ✓ passed: all thresholds and gates met"),
    ("0.5", 1, "threshold missed: polite.mean = 0.444 for p × openai/fake (needs ≥ 0.5)"),
])
def test_scorers_sharing_a_metric_through_a_run_to_thresholds_derived_metrics_the_console_and_the_report(
        tmp_path, capsys, monkeypatch, bound, code, verdict):
    from harness.testing import FakeLLMServer, last_user_message
    from tests.conftest import embedded_data, run_cli

    monkeypatch.setenv("COLUMNS", "200")  # the console's table, not wrapped
    (tmp_path / "pyproject.toml").write_text("")
    suite = tmp_path / "suite.yaml"
    with FakeLLMServer(lambda request: ANSWERS[last_user_message(request).split()[-1]]) as server:
        suite.write_text(SHARED.format(url=server.base_url, bound=bound))
        assert run_cli("run", suite, "--out", tmp_path / "run") == code
    out = " ".join(capsys.readouterr().out.split())
    assert verdict in out and "┃ polite (metric) ┃" in out
    [variant] = json.loads((tmp_path / "run" / "run.json").read_text())["variants"]
    polite = variant["named_metrics"]["polite"]  # sorry 1 1 0 0, please 1 0 1 0, thanks (rude's own) 0
    assert polite["scorers"] == ["contains", "contains_2", "contains_3"] and polite["n"] == 9
    assert polite["mean"] == pytest.approx(4 / 9) and polite["pass_rate"] == pytest.approx(4 / 9)
    assert variant["scorers"]["contains"]["mean"] == 0.5 and variant["scorers"]["contains_3"]["n"] == 1
    assert variant["derived"]["polite_per_trial"]["value"] == pytest.approx(4 / 4)
    report = (tmp_path / "run" / "report.html").read_text()
    assert report.count('<div class="named-metric"><code>polite</code> 0.444') == 1
    assert "metric: 9 scores of contains, contains_2, contains_3" in report
    labels = [score[0] for row in embedded_data(report)["rows"] for cell in row["c"] for score in cell["sc"]]
    assert labels.count("contains_3 (metric polite)") == 1 and labels.count("contains (metric polite)") == 4
