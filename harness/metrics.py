"""Aggregate metrics per variant (prompt x model) and the suite's thresholds on them.

Trials whose model call failed are counted as errors, apart from the pass rate: a flaky
provider should show up as an error rate, not as a drop in prompt quality. Everything here works
from a trial's compact facts (TrialFacts: no output, prompt or explanations), so a run of any size
is aggregated without its text in memory; a TrialResult is taken too, and gives the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from harness.derived_metrics import DerivedMetric, derive
from harness.records import Counts, ScoreFacts, ThresholdCheck, TrialFacts, TrialResult, VariantMetrics, judge_usage
from harness.spec import Bound
from harness.stats import (
    bootstrap_mean_interval,
    classification_metrics,
    clustered_wilson_interval,
    cohen_kappa,
    macro_f1_interval,
    pass_at_k,
    pass_hat_k,
    percentile,
)

Trials = Iterable[TrialResult | TrialFacts]


def summarize(results: Trials, derived: Sequence[DerivedMetric] = ()) -> list[VariantMetrics]:
    """One metrics record per (prompt, model), in the order variants first appear, with the suite's derived
    metrics on each."""
    groups: dict[tuple[str, str], list[TrialFacts]] = defaultdict(list)
    for result in results:
        facts = result.facts()
        groups[(facts.prompt_id, facts.model_id)].append(facts)
    variants = [_variant(prompt_id, model_id, group) for (prompt_id, model_id), group in groups.items()]
    for variant, group in zip(variants, groups.values(), strict=True):
        variant.derived = derive(derived, group)
    return variants


def _variant(prompt_id: str, model_id: str, group: list[TrialFacts]) -> VariantMetrics:
    scored = [r for r in group if r.error is None]
    passed = sum(1 for r in scored if r.passed)
    # A cached response keeps the latency measured when it was first answered.
    latencies = [r.latency_ms for r in scored]
    costs = [r.cost_usd for r in group if r.cost_usd is not None]
    return VariantMetrics.model_validate({
        "prompt_id": prompt_id,
        "model_id": model_id,
        "trials": len(group),
        "scored": len(scored),
        "passed": passed,
        "pass_rate": passed / len(scored) if scored else None,
        "pass_rate_ci": pass_rate_interval(scored),
        "errors": len(group) - len(scored),
        "error_rate": (len(group) - len(scored)) / len(group) if group else 0.0,
        "cached": sum(1 for r in group if r.cached),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "prompt_tokens": sum(r.prompt_tokens or 0 for r in group),
        "completion_tokens": sum(r.completion_tokens or 0 for r in group),
        "cost_usd": sum(costs) if costs else None,
        "scorers": _scorer_metrics(scored),
        "named_metrics": _named_metrics(scored),
        "judge": judge_usage([s for r in group for s in r.scores]),
        "repeats": _repeat_metrics(scored),
    })


def pass_rate_interval(scored: Sequence[TrialResult | TrialFacts]) -> list[float]:
    """95% interval of the pass rate (see rate_interval)."""
    return rate_interval([(r.case_id, r.passed) for r in scored])


def rate_interval(outcomes: list[tuple[str, bool]]) -> list[float]:
    """95% interval of a rate over (case id, outcome) trials, a case's repeats counted as the dependent
    draws they are."""
    by_case: dict[str, list[bool]] = defaultdict(list)
    for case_id, hit in outcomes:
        by_case[case_id].append(hit)
    return list(clustered_wilson_interval(list(by_case.values())))


def _repeat_metrics(scored: list[TrialFacts]) -> dict[str, Any] | None:
    """With K repeats per case: mean per-case pass probability, pass@K, pass^K, and the flaky cases.

    A case is flaky when it both passed and failed across its repeats: its verdict is luck,
    and it is listed by name so nobody mistakes it for a regression.
    """
    by_case: dict[str, list[bool]] = defaultdict(list)
    for result in scored:
        by_case[result.case_id].append(result.passed)
    k = max((len(v) for v in by_case.values()), default=0)
    if k < 2:
        return None
    # Cases with fewer scored repeats (a provider error) are left out rather than shrinking k.
    by_case = {case: runs for case, runs in by_case.items() if len(runs) == k}
    flaky = sorted(case for case, runs in by_case.items() if any(runs) and not all(runs))
    cases = len(by_case)
    if not cases:
        return None
    return {
        "k": k,
        "cases": cases,
        "pass_probability": sum(sum(r) / len(r) for r in by_case.values()) / cases,
        "pass_at_k": sum(pass_at_k(len(r), sum(r), k) for r in by_case.values()) / cases,
        "pass_hat_k": sum(pass_hat_k(len(r), sum(r), k) for r in by_case.values()) / cases,
        "flaky": flaky,
        "flaky_rate": len(flaky) / cases,
    }


def _scorer_metrics(scored: list[TrialFacts]) -> dict[str, dict[str, Any]]:
    return {name: {"weight": scores[0][1].weight, **_figures(scores)}
            for name, scores in _scores_by(scored, lambda score: score.name).items()}


def _named_metrics(scored: list[TrialFacts]) -> dict[str, dict[str, Any]]:
    """Each named metric's figures over every score that counts under it, whichever scorer gave it: each score
    once, as if one scorer had given them all (a trial with two of its scorers adds two scores)."""
    return {metric: {"scorers": list(dict.fromkeys(s.name for _, s in scores)), **_figures(scores)}
            for metric, scores in _scores_by(scored, lambda score: score.metric).items()}


def _scores_by(scored: list[TrialFacts], key: Callable[[ScoreFacts], str | None]
               ) -> dict[str, list[tuple[str, ScoreFacts]]]:
    """The trials' scores as (case id, score), grouped by ``key`` (a score whose key is None is in no group)."""
    grouped: dict[str, list[tuple[str, ScoreFacts]]] = defaultdict(list)
    for result in scored:
        for score in result.scores:
            name = key(score)
            if name is not None:
                grouped[name].append((result.case_id, score))
    return grouped


def _figures(scores: list[tuple[str, ScoreFacts]]) -> dict[str, Any]:
    """The figures of some scores, given as (case id, score): how many, their mean and pass rate with 95%
    intervals over cases, errors, and (when they have them) classification, agreement with humans, judge usage."""
    values = [s for _, s in scores]
    passed = sum(1 for s in values if s.passed)
    # A score without a verdict (an error) is counted under errors, not averaged in as a 0.
    verdicts = [(case_id, s) for case_id, s in scores if not s.error]
    entry: dict[str, Any] = {
        "n": len(values),
        "mean": sum(s.value for _, s in verdicts) / len(verdicts) if verdicts else None,
        "mean_ci": _mean_interval(verdicts),
        "pass_rate": passed / len(values),
        "pass_rate_ci": rate_interval([(case_id, s.passed) for case_id, s in scores]),
        "errors": sum(1 for s in values if s.error),
    }
    by_case: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for case_id, s in scores:
        if s.metadata.get("kind") == "classification" and s.metadata.get("expected") is not None:
            by_case[case_id].append((s.metadata["expected"], s.metadata.get("predicted")))
    if by_case:
        pairs = [pair for case_pairs in by_case.values() for pair in case_pairs]
        labels = sorted({e for e, _ in pairs} | {p for _, p in pairs if p is not None})
        classification = classification_metrics(pairs, labels)
        cases = list(by_case.values())
        classification["accuracy_ci"] = list(clustered_wilson_interval([[e == p for e, p in c] for c in cases]))
        classification["macro_f1_ci"] = list(macro_f1_interval(cases, labels))
        classification["unparseable_rate_ci"] = list(clustered_wilson_interval([[p is None for _, p in c]
                                                                                 for c in cases]))
        entry.update(classification=classification, accuracy=classification["accuracy"],
                     macro_f1=classification["macro_f1"])
    agreement = judge_agreement(scores)
    if agreement:
        entry.update(human_agreement=agreement, agreement=agreement["accuracy"], kappa=agreement["kappa"])
    entry.update(judge_usage(values) or {})
    return entry


def _mean_interval(scores: list[tuple[str, ScoreFacts]]) -> list[float] | None:
    """95% bootstrap interval of a mean value, over cases (each case's scores averaged first: its repeats, and its
    several scorers' under a named metric); None for one case (it says nothing of the spread)."""
    by_case: dict[str, list[float]] = defaultdict(list)
    for case_id, score in scores:
        by_case[case_id].append(score.value)
    if len(by_case) < 2:
        return None
    low, high = bootstrap_mean_interval([sum(v) / len(v) for v in by_case.values()])  # repeats averaged first
    return [max(0.0, low), min(1.0, high)]


def judge_agreement(scores: list[tuple[str, ScoreFacts]]) -> dict[str, Any] | None:
    """How far to trust a judge: its agreement with the human labels cases carry for this scorer.

    ``scores`` are (case id, score). A human label of pass/fail (or true/false) is compared with
    whether the score passed; any other label with the judge's own verdict (a 1-5 score, a
    factuality category).
    """
    by_case: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for case_id, score in scores:
        if score.error or score.metadata.get("human") is None:
            continue
        human = _label(score.metadata["human"])
        judge = ("pass" if score.passed else "fail") if human in ("pass", "fail") else \
            _label(score.metadata.get("judgement", score.value))
        by_case[case_id].append((human, judge))
    if not by_case:
        return None
    pairs = [pair for case_pairs in by_case.values() for pair in case_pairs]
    labels = sorted({label for pair in pairs for label in pair})
    agreement = classification_metrics(pairs, labels)  # the human label is the expected one
    accuracy_ci = clustered_wilson_interval([[h == j for h, j in c] for c in by_case.values()])
    return {"n": agreement["n"], "accuracy": agreement["accuracy"], "accuracy_ci": list(accuracy_ci),
            "kappa": cohen_kappa(pairs), "labels": labels,
            # confusion[human][judge] (a judge always has a verdict here: no unparseable column)
            "confusion": {h: {j: agreement["confusion"][h][j] for j in labels} for h in labels}}


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "pass" if value else "fail"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().casefold()
    return {"true": "pass", "false": "fail", "passed": "pass", "failed": "fail"}.get(text, text)


def check_thresholds(variants: Sequence[VariantMetrics], thresholds: dict[str, float | Bound]) -> list[ThresholdCheck]:
    """Every (variant, threshold) check with its outcome. A bare number is a minimum."""
    checks = []
    for variant in variants:
        for metric, bound in thresholds.items():
            bound = bound if isinstance(bound, Bound) else Bound(min=bound)
            value = variant.metric(metric)
            ok = value is not None and (bound.min is None or value >= bound.min) and (
                bound.max is None or value <= bound.max)
            text = " and ".join(f"{op} {v}" for op, v in (("≥", bound.min), ("≤", bound.max)) if v is not None)
            checks.append(ThresholdCheck(prompt_id=variant.prompt_id, model_id=variant.model_id, metric=metric,
                                         value=value, min=bound.min, max=bound.max, bound=text, passed=ok))
    return checks


def counts(results: Trials, planned: int) -> Counts:
    """How many trials ran, came from the cache, and met each kind of error (a score is a judge's when a
    judge model was asked for it; a trial's transform error is its own kind)."""
    facts = [r.facts() for r in results]
    scores = [s for r in facts for s in r.scores if s.error]
    return Counts(planned=planned, completed=len(facts), cached=sum(1 for r in facts if r.cached),
                  errors=sum(1 for r in facts if r.error),
                  transform_errors=sum(1 for r in facts if r.transform_error is not None),
                  judge_errors=sum(1 for s in scores if s.judge), scorer_errors=sum(1 for s in scores if not s.judge))


NOTHING_PASSED = "> 0 (with no thresholds set, at least one trial must pass)"


def something_passed(results: Trials) -> ThresholdCheck:
    """The check a suite without thresholds still gets: a run in which every trial failed or errored fails."""
    scored = [f for f in (r.facts() for r in results) if f.error is None]
    rate = sum(r.passed for r in scored) / len(scored) if scored else None
    return ThresholdCheck(prompt_id=None, model_id=None, metric="pass_rate", value=rate, bound=NOTHING_PASSED,
                          passed=bool(rate))
