"""Per-variant metrics from stored results: means without errors, intervals over cases, judge agreement."""

from __future__ import annotations

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
