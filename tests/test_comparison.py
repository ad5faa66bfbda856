"""A/B tests and regression checks, end to end against the test HTTP server."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from harness.testing import FakeLLMServer, last_user_message
from tests.conftest import REVIEWS, run_cli, sentiment_answer

TRUTH = {review: expected for _, review, expected in REVIEWS}


def review_of(request: dict) -> str:
    return last_user_message(request).split("Review: ", 1)[1].split("\n")[0]


def upgraded(request: dict) -> str:
    """'new-model' answers like the old one, except: wrong on the mochi, right on the sarcasm."""
    if request["model"] != "new-model":
        return sentiment_answer(request)
    review = review_of(request)
    if "mochi" in review:
        return "negative"
    if "cold fries" in review:
        return "negative"
    return sentiment_answer(request)


def manifest_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def test_compare_finds_exactly_the_changed_cases_and_gates_decide_the_exit(project, tmp_path, capsys):
    with FakeLLMServer(upgraded) as server:
        suite = project(base_url=server.base_url)
        assert run_cli("run", suite, "--out", tmp_path / "base") == 0
        assert run_cli("run", suite, "--model", "fake=openai/new-model", "--out", tmp_path / "new") == 0
    assert {r["model"] for r in server.requests} == {"fake-model", "new-model"}
    capsys.readouterr()

    assert run_cli("compare", tmp_path / "base", tmp_path / "new", "--summary", tmp_path / "cmp.md") == 0

    out = capsys.readouterr().out
    assert "12 trials matched · 2 regressions · 2 improvements" in out
    summary = (tmp_path / "cmp.md").read_text()
    assert "- `mochi` (`terse` × `fake`): pass → fail; label 1.00 → 0.00" in summary
    assert "- `mochi` (`critic` × `fake`): pass → fail" in summary
    assert summary.index("**Regressions**") < summary.index("**Improvements**")
    assert "`sarcasm` (`terse` × `fake`): fail → pass" in summary
    assert "✅ gate max_drop: no significant drop" in summary
    assert out.index("regressions (2)") < out.index("improvements (2)")  # the terminal's tables, in that order
    assert "✓ gate max_drop: no significant drop" in out

    assert run_cli("compare", tmp_path / "base", tmp_path / "new", "--max-regressions", "1") == 1
    out = capsys.readouterr().out
    assert "✗ gate max_regressions: 2 regressions (limit 1)" in out
    assert "stopped by gate max_regressions: 2 regressions (limit 1)" in out


def test_run_with_baseline_checks_a_model_upgrade_with_the_suites_gates(project, tmp_path):
    with FakeLLMServer(upgraded) as server:
        suite = project(base_url=server.base_url)
        suite.write_text(suite.read_text() + "gates:\n  max_regressions: 0\n")
        assert run_cli("run", suite, "--out", tmp_path / "base") == 0
        assert run_cli("run", suite, "--model", "fake=openai/new-model", "--baseline", tmp_path / "base",
                       "--out", tmp_path / "new") == 1

    baseline = manifest_of(tmp_path / "new")["baseline"]
    assert baseline["passed"] is False and manifest_of(tmp_path / "new")["passed"] is False
    assert sorted((c["case_id"], c["prompt_id"]) for c in baseline["regressions"]) == [
        ("mochi", "critic"), ("mochi", "terse")]
    # label.mean equals pass_rate case by case here, so it is not tested twice
    assert {d["metric"] for d in baseline["deltas"]} == {"pass_rate"}
    assert all(d["n"] == 6 for d in baseline["deltas"])
    summary = (tmp_path / "new" / "summary.md").read_text()
    assert "this run vs baseline: ❌ gate failed" in summary and "pass → fail" in summary
    report = (tmp_path / "new" / "report.html").read_text()
    assert "Versus baseline" in report and report.index("Regressions") < report.index("<h2>Summary</h2>")


def test_a_significant_drop_fails_the_default_gate(project, tmp_path):
    def collapse(request):
        return "negative" if request["model"] == "new-model" else sentiment_answer(request)

    many = [(f"r{i}", f"Lovely dish number {i}, great!", "positive") for i in range(12)]
    with FakeLLMServer(collapse) as server:
        suite = project(base_url=server.base_url, reviews=many)
        run_cli("run", suite, "--prompt", "terse", "--out", tmp_path / "base")
        run_cli("run", suite, "--prompt", "terse", "--model", "fake=openai/new-model", "--out", tmp_path / "new")
    assert run_cli("compare", tmp_path / "base", tmp_path / "new") == 1
    gate = next(g for g in json.loads(json.dumps(_compare(tmp_path))) if g["gate"] == "max_drop")
    assert not gate["passed"] and "pass_rate of terse × fake fell -1.000" in gate["detail"]


def _compare(tmp_path: Path) -> list[dict]:
    from harness.baseline import load_outcomes
    from harness.comparison import compare_to_baseline
    from harness.spec import Gates

    base, _ = load_outcomes(tmp_path / "base")
    new, _ = load_outcomes(tmp_path / "new")
    return [gate.model_dump() for gate in compare_to_baseline(base, new, Gates()).gates]


def test_a_baseline_file_round_trips_and_compares_like_its_run(project, server, tmp_path, capsys):
    suite = project()
    run_cli("run", suite, "--out", tmp_path / "run")
    target = tmp_path / "suites" / "baselines" / "sentiment.jsonl"

    assert run_cli("baseline", "save", tmp_path / "run", "--to", target) == 0

    lines = target.read_text().splitlines()
    assert json.loads(lines[0]) == {"harness_baseline": 1, "suite": "sentiment"}
    records = [json.loads(x) for x in lines[1:]]
    assert len(records) == 12 and "latency_ms" not in lines[1] and "started" not in target.read_text()
    keys = [(r["prompt_id"], r["model_id"], r["case_id"], r["repeat"]) for r in records]
    assert keys == sorted(keys)
    first = target.read_bytes()
    run_cli("baseline", "save", tmp_path / "run", "--to", target)
    assert target.read_bytes() == first
    capsys.readouterr()

    assert run_cli("compare", target, tmp_path / "run") == 0
    assert "12 trials matched · 0 regressions · 0 improvements" in capsys.readouterr().out


def test_repeats_find_the_flaky_cases(project, tmp_path):
    calls: Counter[str] = Counter()

    def flaky(request):
        review = review_of(request)
        calls[review] += 1
        if "tablecloths" in review or "dumplings" in review:  # these answers flip from one call to the next
            return "positive" if calls[review] % 2 else "negative"
        return sentiment_answer(request)

    with FakeLLMServer(flaky) as server:
        assert run_cli("run", project(base_url=server.base_url), "--prompt", "terse", "--repeat", "4",
                       "--out", tmp_path / "run") == 0

    repeats = manifest_of(tmp_path / "run")["variants"][0]["repeats"]
    assert repeats["k"] == 4 and repeats["flaky"] == ["dumplings", "tablecloths"]
    # mochi, reservation, cold-pasta always pass; sarcasm never; the two flaky ones pass half the time.
    assert repeats["pass_probability"] == pytest.approx((3 + 0.5 + 0.5) / 6)
    assert repeats["pass_at_k"] == pytest.approx(5 / 6)
    assert repeats["pass_hat_k"] == pytest.approx(3 / 6)
    assert "flaky: `dumplings`, `tablecloths`" in (tmp_path / "run" / "summary.md").read_text()


def test_ab_names_a_winner_only_when_significant(project, tmp_path):
    def critic_knows(request):
        knows = request["messages"][0]["role"] == "system"
        right = TRUTH[review_of(request)]
        return right if knows else ("negative" if right == "positive" else "positive")

    with FakeLLMServer(critic_knows) as server:
        run_cli("run", project(base_url=server.base_url), "--out", tmp_path / "run")

    ab = manifest_of(tmp_path / "run")["ab"]
    verdict = next(m for m in ab["metrics"] if m["metric"] == "pass_rate")
    assert verdict["winner"] == {"prompt_id": "critic", "model_id": "fake"}
    assert verdict["verdict"] == "critic × fake is best on pass_rate (p=0.031, n=6)"
    pair = verdict["pairs"][0]
    assert pair["test"] == "mcnemar-exact" and pair["delta"] == 1.0 and len(pair["b_only"]) == 6
    assert "best, significant" in (tmp_path / "run" / "report.html").read_text()

    with FakeLLMServer(sentiment_answer) as server:
        run_cli("run", project(base_url=server.base_url), "--out", tmp_path / "tie")
    tie = next(m for m in manifest_of(tmp_path / "tie")["ab"]["metrics"] if m["metric"] == "pass_rate")
    assert tie["winner"] is None and tie["verdict"] == "no significant difference on pass_rate (p=1.000, n=6)"
    tie_report = (tmp_path / "tie" / "report.html").read_text()
    assert "A/B: which variant wins?" in tie_report
    # Both prompts pass the same cases: an exact tie, so no variant is marked at all.
    assert "highest, not significant" not in tie_report and "best, significant" not in tie_report


def test_history_lists_past_runs_newest_first(project, server, tmp_path, capsys):
    suite = project()
    run_cli("run", suite, "--prompt", "terse")
    run_cli("run", suite, "--prompt", "terse", "--no-cache")
    capsys.readouterr()

    assert run_cli("history", suite) == 0

    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if "✓ passed" in line]
    runs = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert listed == [runs[1], runs[0]]
    report = (tmp_path / "reports" / runs[1] / "report.html").read_text()
    assert "Pass rate over the last runs" in report


def test_a_baseline_of_another_suite_is_refused(project, server, tmp_path, capsys):
    suite = project()
    run_cli("run", suite, "--prompt", "terse", "--out", tmp_path / "run")
    other = tmp_path / "other.jsonl"
    other.write_text('{"harness_baseline": 1, "suite": "summaries"}\n')
    assert run_cli("run", suite, "--baseline", other) == 2
    assert "the baseline is of suite 'summaries', not 'sentiment'" in capsys.readouterr().err


# --- the comparison logic on hand-built outcomes -------------------------------------------

from harness.comparison import Outcome, compare_to_baseline, compare_variants  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.spec import Gates  # noqa: E402


def outcome(case, passed=True, *, prompt="p", model="m", errored=False, score=None, repeat=0):
    return Outcome(case, prompt, model, repeat, passed and not errored, errored,
                   {} if score is None else {"judge": score})


def test_a_variant_that_only_errored_is_never_best_and_nothing_crashes():
    items = [outcome(f"c{i}", prompt="a") for i in range(8)] + [outcome(f"c{i}", prompt="b", errored=True)
                                                                 for i in range(8)]
    ab = compare_variants(items)
    assert ab.metrics[0].winner is None


def test_a_rank_test_against_the_mean_names_no_winner():
    a = [outcome(f"c{i}", prompt="a", score=0.5) for i in range(21)]
    b = [outcome(f"c{i}", prompt="b", score=0.54) for i in range(20)] + [outcome("c20", prompt="b", score=0.0)]
    judge = next(m for m in compare_variants(a + b).metrics if m.metric == "judge.mean")
    assert judge.pairs[0].p_adjusted < 0.05 and judge.winner is None  # ranks say b, the mean says a


def test_nothing_matched_fails_the_gates():
    result = compare_to_baseline([outcome("c1")], [outcome("other")], Gates())
    assert not result.passed and result.gates[0].model_dump(exclude_none=True) == {
        "gate": "matched", "limit": 1, "value": 0, "passed": False, "detail": "0 trials matched the baseline"}


def test_a_candidate_that_errors_everywhere_fails_the_drop_gate():
    base = [outcome(f"c{i}") for i in range(10)]
    result = compare_to_baseline(base, [outcome(f"c{i}", errored=True) for i in range(10)], Gates())
    assert len(result.regressions) == 10 and not result.passed
    assert "pass_rate of p × m fell -1.000" in next(g for g in result.gates if g.gate == "max_drop").detail


def test_model_maps_that_match_nothing_or_mix_models_are_refused():
    base = [outcome("c1", model="old"), outcome("c1", model="new")]
    with pytest.raises(HarnessError, match="the baseline has no model 'typo'"):
        compare_to_baseline(base, [outcome("c1", model="new")], Gates(), model_map={"typo": "new"})
    with pytest.raises(HarnessError, match="already has a model 'new'"):
        compare_to_baseline(base, [outcome("c1", model="new")], Gates(), model_map={"old": "new"})


def test_too_few_cases_to_ever_be_significant_is_said(tmp_path):
    result = compare_to_baseline([outcome(f"c{i}") for i in range(4)], [outcome(f"c{i}", False) for i in range(4)],
                                 Gates())
    drop = next(g for g in result.gates if g.gate == "max_drop")
    assert drop.passed and "with 4 cases no drop can be significant" in drop.detail


def test_a_partial_run_does_not_count_the_trials_it_left_out_as_removed(project, server, tmp_path):
    suite = project()
    run_cli("run", suite, "--out", tmp_path / "base")
    assert run_cli("run", suite, "--limit", "2", "--prompt", "terse", "--baseline", tmp_path / "base",
                   "--out", tmp_path / "part") == 0
    baseline = manifest_of(tmp_path / "part")["baseline"]
    assert baseline["matched"] == 2 and baseline["removed"] == []


def test_a_score_without_a_verdict_is_no_zero_in_an_ab_test():
    """A judge that never answered on one case leaves that case out of its metric; it does not drag the
    variant's mean down (as the run's own means leave it out), nor drop the metric from the comparison."""
    from harness.comparison import outcomes
    from harness.records import Response, TrialResult
    from harness.scorers import Score

    def trial(case, prompt, error=None):
        score = Score("judge", 0.0 if error else 0.8, passed=not error, threshold=0.5, error=error)
        return TrialResult(case, prompt, "m", 0, [], {}, None, Response("text"), [score])

    items = outcomes([trial(f"c{i}", "a") for i in range(12)] + [trial(f"c{i}", "b") for i in range(11)]
                     + [trial("c11", "b", error="the judge gave no verdict")])
    judge = next(m for m in compare_variants(items).metrics if m.metric == "judge.mean").pairs[0]
    assert judge.n == 11 and judge.mean_b == pytest.approx(judge.mean_a) and judge.delta == 0
    passing = next(m for m in compare_variants(items).metrics if m.metric == "pass_rate").pairs[0]
    assert passing.n == 12 and passing.b_only == [] and passing.a_only == ["c11|0"]  # it failed, though


def test_a_metric_on_a_single_shared_case_is_not_tested():
    """It could never be significant, and testing it would make Holm's correction of the others stricter."""
    items = [outcome(f"c{i}", prompt="a", score=0.8 if i == 0 else None) for i in range(12)] + \
            [outcome(f"c{i}", prompt="b", score=0.4 if i == 0 else None) for i in range(12)]
    assert [m.metric for m in compare_variants(items).metrics] == ["pass_rate"]


def test_the_too_few_cases_note_counts_the_pass_rates_cases_not_a_sparse_scorers():
    base = [outcome(f"c{i}", score=0.9 if i < 2 else None) for i in range(12)]
    candidate = [outcome(f"c{i}", score=0.8 if i < 2 else None) for i in range(12)]
    drop = next(g for g in compare_to_baseline(base, candidate, Gates()).gates if g.gate == "max_drop")
    assert drop.detail == "no significant drop"


def test_a_run_against_its_baseline_says_what_regressed_how_surely_and_which_gate_decided(project, tmp_path, capsys):
    with FakeLLMServer(upgraded) as server:
        suite = project(base_url=server.base_url)
        assert run_cli("run", suite, "--out", tmp_path / "base") == 0
        capsys.readouterr()
        assert run_cli("run", suite, "--model", "fake=openai/new-model", "--baseline", tmp_path / "base",
                       "--out", tmp_path / "new") == 0  # the default gates: only a significant drop fails
        out = capsys.readouterr().out
        suite.write_text(suite.read_text() + "gates:\n  max_regressions: 0\n")
        assert run_cli("run", suite, "--model", "fake=openai/new-model", "--baseline", tmp_path / "base",
                       "--out", tmp_path / "gated") == 1
        gated = capsys.readouterr().out

    told = ["2 regressions in 1 case: mochi",
            "pass rate of terse × fake: 0.833 → 0.833 (+0.000 [-0.500, +0.500], p=1.000, n=6): not significant",
            "let through by gate max_drop: no significant drop (gates: max_regressions: 0 would fail the run on any "
            "regression)"]
    summary = (tmp_path / "new" / "summary.md").read_text()
    report = (tmp_path / "new" / "report.html").read_text()
    for line in told:
        assert line in out and f"- {line}" in summary and line in report
    assert "stopped by gate max_regressions: 2 regressions (limit 0)" in gated
    assert "gate failed: gate max_regressions: 2 regressions (limit 0)" in gated
    assert "verdict: ✗ failed: 1 gate failed" in gated


def test_a_named_metric_is_compared_and_gated_like_a_scorers_mean(tmp_path):
    from harness.baseline import load_outcomes, save_baseline
    from harness.comparison import outcome as outcome_of
    from harness.records import ScoreFacts, TrialFacts

    def facts(case, polite):  # two scorers under the metric 'polite': one always 1, the other `polite`
        scores = tuple(ScoreFacts(name=name, value=value, passed=True, error=None, weight=1.0, judge=None,
                                  metadata={}, metric="polite") for name, value in (("a", 1.0), ("b", polite)))
        return TrialFacts(case_id=case, prompt_id="p", model_id="m", repeat=0, passed=True, error=None,
                          cached=False, latency_ms=1.0, prompt_tokens=1, completion_tokens=1, cost_usd=None,
                          output_chars=1, scores=scores)

    base = save_baseline([outcome_of(facts(f"c{i}", 0.9)) for i in range(12)], tmp_path / "b.jsonl", suite="s")
    candidate = [outcome_of(facts(f"c{i}", 0.1 + i / 100)) for i in range(12)]
    result = compare_to_baseline(load_outcomes(base)[0], candidate, Gates())
    polite = next(d for d in result.deltas if d.metric == "polite.mean")
    assert polite.delta == pytest.approx(-0.3725) and polite.n == 12  # (1 + 0.9) / 2 -> (1 + 0.155) / 2
    assert not next(g for g in result.gates if g.gate == "max_drop").passed
