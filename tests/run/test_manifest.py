"""Finishing a run: results.jsonl put in plan order by moving its lines' bytes, never holding the results, and
metrics, counts, checks and A/B verdicts from the trials' compact facts identical to those from every result."""

from __future__ import annotations

import random
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

from harness.comparison import compare_variants, outcome, outcomes
from harness.metrics import check_thresholds, counts, something_passed, summarize
from harness.records import Response, RunManifest, Score, SuiteRef, TrialResult
from harness.results import RESULTS_FILE, ResultsWriter, index_results, read_results
from harness.run.manifest import finish
from harness.run.plan import Trial
from harness.spec import Bound, Case, ModelSpec, PromptSpec, Suite

PROMPTS, MODEL = ("terse", "critic"), ModelSpec(id="m", model="openai/m")


def plan(cases: int, repeats: int = 1) -> list[Trial]:
    """The trials a run of these cases plans, in its order (model, prompt, case, repeat)."""
    return [Trial(Case(id=f"case-{i:03d}"), prompt, MODEL, r, [], {})
            for prompt in PROMPTS for i in range(cases) for r in range(repeats)]


def suite(**fields) -> Suite:
    return Suite(name="s", prompts=[PromptSpec(id=p, text="x") for p in PROMPTS], cases=[], **fields)


def write_shuffled(directory: Path, results: list[TrialResult]) -> None:
    """As workers leave them: in the order trials happened to finish."""
    writer = ResultsWriter(directory)
    for result in random.Random(7).sample(results, len(results)):
        writer.write(result)
    writer.close()


def finished(directory: Path, trials: list[Trial], the_suite: Suite, baseline=None) -> RunManifest:
    manifest = RunManifest(suite=SuiteRef(name="s"), status="completed")
    finish(directory, manifest, the_suite, trials, baseline, time.monotonic())
    return manifest


def key(result: TrialResult) -> tuple[str, str, str, int]:
    return (result.case_id, result.prompt_id, result.model_id, result.repeat)


def test_results_are_put_in_plan_order_without_being_held_in_memory(tmp_path):
    trials = plan(150)  # 300 trials of a 100 KB output: 30 MB of results
    results = [TrialResult(case_id=t.case.id, prompt_id=t.prompt_id, model_id="m", repeat=0, vars={"i": i},
                           messages=[{"role": "user", "content": f"prompt {i}"}], expected=None,
                           response=Response(text=f"{i} " + "\u2028ž" * 50_000),
                           scores=[Score(name="s", value=1.0, passed=True, threshold=1.0)])
               for i, t in enumerate(trials)]
    write_shuffled(tmp_path, results)
    lines = set((tmp_path / RESULTS_FILE).read_bytes().splitlines(keepends=True))

    tracemalloc.start()
    manifest = finished(tmp_path, trials, suite())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    written = (tmp_path / RESULTS_FILE).read_bytes().splitlines(keepends=True)
    assert set(written) == lines  # every line moved as it was, byte for byte
    assert [key(r) for r in read_results(tmp_path)] == [(t.case.id, t.prompt_id, "m", 0) for t in trials]
    assert manifest.counts.completed == 300 and manifest.variants[0].passed == 150
    assert peak < 3_000_000, f"finish held {peak / 1e6:.1f} MB of 30 MB of results"


def rich_results() -> list[TrialResult]:
    """Every kind of thing the aggregates read: labels, judge verdicts with human labels and usage, weights,
    scorer and model errors, cached answers, costs and repeats."""
    rng = random.Random(3)
    results = []
    for t in plan(12, repeats=3):
        expected, predicted = rng.choice(["pos", "neg"]), rng.choice(["pos", "neg", None])
        judged = rng.random() < 0.7
        scores = [
            Score(name="label", value=float(expected == predicted), passed=expected == predicted, threshold=1.0,
                  explanation="a long explanation " * 20,
                  metadata={"kind": "classification", "expected": expected, "predicted": predicted, "raw": "x" * 99}),
            Score(name="faithfulness", value=rng.choice([0.0, 0.5, 1.0]), passed=judged, threshold=0.5,
                  metadata={"human": rng.choice(["pass", "fail", 3]), "judgement": rng.choice([1, 3, 5]),
                            "claims": ["c"] * 9},
                  judge={"calls": 1, "cached": int(judged), "prompt_tokens": 90, "completion_tokens": 9,
                         "cost_usd": 0.001},
                  error=None if rng.random() < 0.9 else "judge: unreadable"),
            Score(name="length", value=rng.random(), passed=True, threshold=0.0, weight=0.0),
        ]
        error = "RateLimitError: slow down" if rng.random() < 0.1 else None
        results.append(TrialResult(
            case_id=t.case.id, prompt_id=t.prompt_id, model_id="m", repeat=t.repeat, messages=[], vars={},
            expected=expected, scores=[] if error else scores,
            response=Response(text="" if error else f"answer {predicted}", error=error, cached=rng.random() < 0.3,
                              latency_ms=rng.uniform(10, 900), prompt_tokens=40, completion_tokens=rng.randint(1, 9),
                              cost_usd=rng.choice([None, 0.0002]))))
    return results


def test_metrics_from_compact_facts_equal_those_from_every_result_in_memory(tmp_path):
    trials, results = plan(12, repeats=3), rich_results()
    write_shuffled(tmp_path, results)
    the_suite = suite(thresholds={"label.accuracy": 0.4, "latency_p95_ms": Bound(max=800)})

    manifest = finished(tmp_path, trials, the_suite)

    order = {(t.case.id, t.prompt_id, "m", t.repeat): i for i, t in enumerate(trials)}
    in_memory = sorted(results, key=lambda r: order[key(r)])
    assert [r.facts() for r in read_results(tmp_path)] == [s.facts for s in index_results(tmp_path)]
    assert manifest.variants == summarize(in_memory)
    assert manifest.counts == counts(in_memory, len(trials))
    assert manifest.thresholds == check_thresholds(summarize(in_memory), {
        "error_rate": Bound(max=0.1), **the_suite.thresholds})
    assert manifest.ab == compare_variants(outcomes(in_memory))
    # What the facts must carry for these: the labels, the human labels, the judge's usage, the errors.
    terse = manifest.variants[0]
    assert sum(sum(row.values()) for row in terse.scorers["label"].classification.confusion.values()) \
        == sum(1 for r in in_memory if r.prompt_id == "terse" and not r.response.error)
    assert terse.scorers["faithfulness"].human_agreement.n > 0 and terse.judge.judge_calls > 0
    assert manifest.counts.judge_errors > 0 and manifest.counts.errors > 0
    assert something_passed(in_memory) == something_passed(r.facts() for r in in_memory)


def test_changes_against_a_baseline_carry_the_candidates_outputs(tmp_path):
    trials = plan(4)
    results = [TrialResult(case_id=t.case.id, prompt_id=t.prompt_id, model_id="m", repeat=0, messages=[], vars={},
                           expected=None, response=Response(text=f"now {t.case.id} {t.prompt_id}"),
                           scores=[Score(name="s", value=0.0, passed=False, threshold=1.0)]) for t in trials]
    write_shuffled(tmp_path, results)
    baseline = [replace(outcome(r.facts(), f"then {r.case_id}"), passed=True, scores={"s": 1.0}) for r in results]

    comparison = finished(tmp_path, trials, suite(), baseline).baseline

    assert len(comparison.regressions) == 8
    assert {(c.base_output, c.candidate_output) for c in comparison.regressions} == {
        (f"then {t.case.id}", f"now {t.case.id} {t.prompt_id}") for t in trials}
