from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.files import LinesRead
from harness.metrics import check_thresholds
from harness.records import Response, RunManifest, ScorerMetrics, SuiteRef, TrialResult, VariantMetrics
from harness.results import (
    ResultsWriter,
    index_results,
    load_run,
    read_results,
    results_at,
    rewrite_results,
    write_manifest,
)
from harness.scorers import Score
from harness.spec import Bound


def result(case_id: str, text: str) -> TrialResult:
    return TrialResult(case_id=case_id, prompt_id="p", model_id="m", repeat=0, messages=[], vars={"x": 1},
                       expected="e", response=Response(text=text), scores=[])


def test_a_torn_last_line_from_a_killed_run_is_skipped(tmp_path):
    writer = ResultsWriter(tmp_path)
    writer.write(result("a", "one"))
    writer.write(result("b", "two"))
    writer.close()
    with (tmp_path / "results.jsonl").open("a") as handle:
        handle.write('{"case_id": "c", "prompt_')
    assert [r.case_id for r in read_results(tmp_path)] == ["a", "b"]


def test_a_result_line_reads_back_as_the_same_result_with_what_json_lacks_turned_into_fields_or_text():
    @dataclass
    class Span:
        start: int
        end: int

    score = Score(name="grounded", value=0.5, passed=False, threshold=1.0, metadata={"span": Span(1, 4),
                                                                                      "source": Path("a.txt")})
    original = TrialResult(case_id="c", prompt_id="p", model_id="m", repeat=1, messages=[{"role": "user",
                           "content": "é"}], vars={"x": [1, 2]}, expected=["a", "b"],
                           response=Response(text="out", prompt_tokens=3), scores=[score], tags=["t"], threshold=0.4)
    line = original.to_json()
    record = json.loads(line)
    assert list(record)[:3] == ["v", "trial_id", "case_id"] and record["score"] == 0.5 and record["passed"]
    assert record["scores"][0]["metadata"] == {"span": {"start": 1, "end": 4}, "source": "a.txt"}
    assert "é" in line  # written as is, not escaped
    back = TrialResult.from_dict(record)
    assert replace(back, scores=[replace(back.scores[0], metadata={})]) == replace(
        original, scores=[replace(score, metadata={})])


def test_the_index_holds_each_trial_once_with_its_lines_place_and_lines_move_as_they_are(tmp_path):
    writer = ResultsWriter(tmp_path)
    for case_id, text in [("a", "one\u2028"), ("b", "two"), ("a", "one again")]:
        writer.write(result(case_id, text))
    writer.close()
    with (tmp_path / "results.jsonl").open("a") as handle:
        handle.write('{"case_id": "c", "prompt_')  # torn by a kill
    seen = LinesRead()

    stored = index_results(tmp_path, seen)

    assert [(s.facts.case_id, s.facts.output_chars) for s in stored] == [("a", 4), ("b", 3)]
    assert seen.skipped == ["a|p|m|0"] and seen.torn == 1
    assert [r.response.text for r in results_at(tmp_path, stored[::-1])] == ["two", "one\u2028"]
    lines = (tmp_path / "results.jsonl").read_bytes().splitlines(keepends=True)
    moved = rewrite_results(tmp_path, stored[::-1])
    assert (tmp_path / "results.jsonl").read_bytes().splitlines(keepends=True) == [lines[1], lines[0]]
    assert [r.response.text for r in results_at(tmp_path, moved)] == ["two", "one\u2028"]
    assert rewrite_results(tmp_path, moved) == moved  # already so: nothing is written
    write_manifest(tmp_path, RunManifest(suite=SuiteRef(name="s")))
    run = load_run(tmp_path)
    assert list(run.iter_results()) == run.results == read_results(tmp_path)


def test_load_run_needs_a_run_folder(tmp_path):
    with pytest.raises(HarnessError, match="not a run folder"):
        load_run(tmp_path)


def test_thresholds_min_max_and_missing_metrics():
    variant = VariantMetrics(prompt_id="p", model_id="m", trials=10, scored=10, passed=8, pass_rate=0.8,
                             pass_rate_ci=(0.5, 0.9), errors=0, error_rate=0.0, latency_p95_ms=900.0,
                             scorers={"label": ScorerMetrics(n=10, pass_rate=0.6, pass_rate_ci=(0.3, 0.8),
                                                             macro_f1=0.6)})
    checks = check_thresholds([variant], {"pass_rate": 0.75, "latency_p95_ms": Bound(max=500),
                                          "label.macro_f1": Bound(min=0.5, max=0.9), "rouge.mean": 0.1})
    assert [c.passed for c in checks] == [True, False, True, False]


def test_with_repeats_the_pass_rate_interval_resamples_cases_not_trials():
    from harness.metrics import pass_rate_interval
    from harness.scorers import Score
    from harness.stats import wilson_interval

    def trial(case: str, repeat: int, passed: bool) -> TrialResult:
        return TrialResult(case_id=case, prompt_id="p", model_id="m", repeat=repeat, messages=[], vars={},
                           expected=None, response=Response(text=""),
                           scores=[Score(name="s", value=float(passed), passed=passed, threshold=1.0)])

    # 10 cases, 10 repeats each, every case always passes or always fails: really only 10 observations.
    repeated = [trial(f"c{i}", r, i < 7) for i in range(10) for r in range(10)]
    low, high = pass_rate_interval(repeated)
    naive_low, naive_high = wilson_interval(70, 100)
    assert high - low > 1.5 * (naive_high - naive_low)  # honest about the 10 cases behind 100 trials
    assert low < 0.7 < high
    assert pass_rate_interval([trial(f"c{i}", 0, i < 7) for i in range(10)]) == list(wilson_interval(7, 10))
