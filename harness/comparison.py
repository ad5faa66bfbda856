"""Comparisons people can trust: paired by case, with intervals and significance tests.

Two uses share one mechanism. Within a run, the prompt x model variants are compared on the
same cases (A/B testing). Across runs, a candidate is compared with a baseline (a model
upgrade, a prompt change) trial by trial, listing what regressed and checking the suite's
gates. Never a bare win count: every difference comes with its interval and p-value, and a
winner is named only when the difference is significant after Holm's correction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.formatting import p_value
from harness.records import (
    ABComparison,
    BaselineComparison,
    Change,
    Delta,
    GateCheck,
    MetricVerdict,
    PairDelta,
    TrialFacts,
    TrialResult,
    Variant,
    VariantDelta,
)
from harness.spec import Gates
from harness.stats import bootstrap_mean_interval, holm, mcnemar_exact, wilcoxon_signed_rank

PASS = "pass_rate"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a comparison needs of one trial: its identity, whether it passed, its scores and named metrics."""

    case_id: str
    prompt_id: str
    model_id: str
    repeat: int
    passed: bool
    errored: bool
    scores: dict[str, float]
    output: str = ""
    # Each named metric (several scorers' ``metric:``): the mean of its scores in this trial.
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def variant(self) -> tuple[str, str]:
        return (self.prompt_id, self.model_id)


def outcomes(results: Iterable[TrialResult]) -> list[Outcome]:
    """Each trial's outcome, with its output (for the changes a baseline comparison lists)."""
    return [outcome(r.facts(), r.response.text) for r in results]


def outcome(facts: TrialFacts, output: str = "") -> Outcome:
    """A score without a verdict (its scorer errored) is left out, as the run's means leave it out: its
    0 is no measurement. The trial still counts as failed."""
    pooled: dict[str, list[float]] = defaultdict(list)
    for s in facts.scores:
        if s.metric and not s.error:
            pooled[s.metric].append(s.value)
    return Outcome(facts.case_id, facts.prompt_id, facts.model_id, facts.repeat, facts.passed,
                   facts.error is not None, {s.name: s.value for s in facts.scores if not s.error}, output,
                   {metric: sum(values) / len(values) for metric, values in pooled.items()})


def paired_delta(metric: str, a: Sequence[float], b: Sequence[float], *, seed: int = 0) -> Delta:
    """Binary per-case values get McNemar's exact test; anything else the Wilcoxon signed-rank test.

    The interval is a seeded bootstrap over cases, so it is the same on every re-run.
    """
    n = len(a)
    # Per-case means (1/3 vs 0.333...37) must not break ties by float noise.
    differences = [round(y - x, 12) for x, y in zip(a, b, strict=True)]
    binary = all(v in (0, 1) for v in (*a, *b))
    if binary:
        pairs = list(zip(a, b, strict=True))
        p_value = mcnemar_exact(sum(1 for x, y in pairs if x > y), sum(1 for x, y in pairs if y > x))
    else:
        p_value = wilcoxon_signed_rank(differences)
    return Delta(metric=metric, n=n, mean_a=sum(a) / n if n else 0.0, mean_b=sum(b) / n if n else 0.0,
                 delta=sum(differences) / n if n else 0.0, ci=bootstrap_mean_interval(differences, seed=seed),
                 p_value=p_value, test="mcnemar-exact" if binary else "wilcoxon")


def significant(row: Delta, alpha: float) -> int:
    """+1 or -1 when b - a is significantly positive or negative, else 0 (see Delta.direction)."""
    return row.direction(alpha)


def _per_case(items: Iterable[Outcome], *, errors_fail: bool = False) -> dict[str, dict[str, float]]:
    """Per case (averaged over repeats): the pass rate and each scorer's mean.

    Errored trials are left out, or, when ``errors_fail``, count as failures (a candidate
    that stopped answering must not look unchanged to a gate).
    """
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for o in items:
        if o.errored:
            if errors_fail:
                sums[o.case_id][PASS].append(0.0)
            continue
        sums[o.case_id][PASS].append(float(o.passed))
        for name, value in (*o.scores.items(), *o.metrics.items()):
            sums[o.case_id][f"{name}.mean"].append(value)
    return {case: {metric: sum(v) / len(v) for metric, v in metrics.items()} for case, metrics in sums.items()}


def _deltas(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> list[Delta]:
    """A delta per metric, over the shared cases both sides have it for (a scorer that errored on every
    repeat of a case has no value there); a scorer left with one such case says nothing, and is not
    tested (each test makes Holm's correction of the others stricter).

    A scorer whose per-case values equal the pass rate's (the only scorer, and binary) says
    nothing new; testing it again would only make Holm's correction needlessly stricter.
    """
    shared = sorted(set(a) & set(b))
    metrics = dict.fromkeys(m for case in shared for m in a[case] if m in b[case])
    both = {m: [c for c in shared if m in a[c] and m in b[c]] for m in metrics}
    metrics = [m for m in metrics if m == PASS or len(both[m]) > 1]
    columns = {m: ([a[c][m] for c in both[m]], [b[c][m] for c in both[m]]) for m in metrics}
    distinct = [m for m in columns if m == PASS or columns[m] != columns.get(PASS)]
    return [paired_delta(m, *columns[m]) for m in distinct]


# --- A/B within a run -------------------------------------------------------------------------

def compare_variants(items: Sequence[Outcome], *, alpha: float = 0.05) -> ABComparison | None:
    """Every pair of variants on every metric, Holm-corrected per metric, and the winner if there is one."""
    by_variant: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for o in items:
        by_variant[o.variant].append(o)
    variants = list(by_variant)
    if len(variants) < 2:
        return None
    per_case = {v: _per_case(by_variant[v]) for v in variants}
    pairs = []
    for i, first in enumerate(variants):
        for second in variants[i + 1:]:
            changes = _flips(by_variant[first], by_variant[second])
            for d in _deltas(per_case[first], per_case[second]):
                pairs.append(PairDelta(a=_name(first), b=_name(second), **d.model_dump(), **changes))
    metrics = []
    for metric in dict.fromkeys(p.metric for p in pairs) or {PASS: None}:
        rows = [p for p in pairs if p.metric == metric]
        for row, adjusted in zip(rows, holm([r.p_value for r in rows]), strict=True):
            row.p_adjusted = adjusted
        metrics.append(_verdict(metric, rows, variants, alpha))
    return ABComparison(alpha=alpha, metrics=metrics)


def _verdict(metric: str, rows: list[PairDelta], variants: list[tuple[str, str]], alpha: float) -> MetricVerdict:
    """Name a winner only when it beats every other variant significantly."""
    for candidate in map(_name, variants):
        own = [r for r in rows if candidate in (r.a, r.b)]
        if len(own) < len(variants) - 1:
            continue  # not compared with every other variant (no shared cases): it cannot be named best
        if all(significant(r, alpha) == (1 if r.b == candidate else -1) for r in own):
            worst = max(own, key=lambda r: r.p_adjusted)
            over = f"closest: over {worst.a if worst.b == candidate else worst.b}, " if len(variants) > 2 else ""
            verdict = f"{candidate} is best on {metric} ({over}p={p_value(worst.p_adjusted)}, n={worst.n})"
            return MetricVerdict(metric=metric, pairs=rows, winner=candidate, verdict=verdict)
    if not rows:
        return MetricVerdict(metric=metric, pairs=rows, verdict=f"no cases shared by the variants on {metric}")
    closest = min(rows, key=lambda r: r.p_adjusted)
    pair = f"closest: {closest.b} vs {closest.a}, " if len(variants) > 2 else ""  # with two, the pair is plain
    return MetricVerdict(metric=metric, pairs=rows,
                         verdict=f"no significant difference on {metric} ({pair}p={p_value(closest.p_adjusted)}, "
                                 f"n={closest.n})")


def _flips(a: list[Outcome], b: list[Outcome]) -> dict[str, list[str]]:
    """The cases (with repeats) that pass under one variant and fail under the other."""
    first = {(o.case_id, o.repeat): o for o in a if not o.errored}
    second = {(o.case_id, o.repeat): o for o in b if not o.errored}
    shared = [k for k in first if k in second]
    return {"a_only": [_trial(k) for k in shared if first[k].passed and not second[k].passed],
            "b_only": [_trial(k) for k in shared if second[k].passed and not first[k].passed]}


# --- a run against its baseline -----------------------------------------------------------------

def compare_to_baseline(base: Sequence[Outcome], candidate: Sequence[Outcome], gates: Gates, *,
                        model_map: dict[str, str] | None = None) -> BaselineComparison:
    """Match trials by (case, prompt, model role, repeat) and list what changed, with metric deltas and gates."""
    model_map = model_map or {}
    base_models = {o.model_id for o in base}
    for old, new in model_map.items():
        if old not in base_models:
            raise HarnessError(f"--model {old}={new}: the baseline has no model '{old}'",
                               hint="baseline models: " + ", ".join(sorted(base_models)))
        if new in base_models and new not in model_map:
            raise HarnessError(f"--model {old}={new}: the baseline already has a model '{new}'; its trials would mix")
    base_by_key = {(o.case_id, o.prompt_id, model_map.get(o.model_id, o.model_id), o.repeat): o for o in base}
    cand_by_key = {(o.case_id, o.prompt_id, o.model_id, o.repeat): o for o in candidate}
    shared = [k for k in cand_by_key if k in base_by_key]
    result = BaselineComparison(matched=len(shared),
                                new=[_trial(k) for k in cand_by_key if k not in base_by_key],
                                removed=[_trial(k) for k in base_by_key if k not in cand_by_key])
    for key in shared:
        before, after = base_by_key[key], cand_by_key[key]
        if after.errored:
            result.errored.append(_trial(key))
            if before.passed and not before.errored:  # an answer lost to an error is a regression too
                result.regressions.append(_change(key, ["pass → error"], before, after))
            continue
        if before.errored:
            continue
        worse, better = _score_changes(before, after, gates.score_tolerance)
        if before.passed and not after.passed:
            worse.insert(0, "pass → fail")
        if after.passed and not before.passed:
            better.insert(0, "fail → pass")
        if worse:
            result.regressions.append(_change(key, worse, before, after))
        elif better:
            result.improvements.append(_change(key, better, before, after))
    mapped_base = [Outcome(o.case_id, o.prompt_id, model_map.get(o.model_id, o.model_id), o.repeat, o.passed,
                           o.errored, o.scores, o.output, o.metrics) for o in base]
    result.deltas = _variant_deltas(mapped_base, candidate)
    result.alpha = gates.alpha
    result.gates = _check_gates(result, gates)
    return result


def _change(key: tuple[str, str, str, int], reasons: list[str], before: Outcome, after: Outcome) -> Change:
    case_id, prompt_id, model_id, repeat = key
    return Change(case_id=case_id, prompt_id=prompt_id, model_id=model_id, repeat=repeat, reasons=reasons,
                  base_output=before.output, candidate_output=after.output)


def _score_changes(before: Outcome, after: Outcome, tolerance: float) -> tuple[list[str], list[str]]:
    worse, better = [], []
    for name in before.scores.keys() & after.scores.keys():
        change = after.scores[name] - before.scores[name]
        if change < -tolerance:
            worse.append(f"{name} {before.scores[name]:.2f} → {after.scores[name]:.2f}")
        elif change > tolerance:
            better.append(f"{name} {before.scores[name]:.2f} → {after.scores[name]:.2f}")
    return worse, better


def _variant_deltas(base: Sequence[Outcome], candidate: Sequence[Outcome]) -> list[VariantDelta]:
    groups_base: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    groups_cand: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for o in base:
        groups_base[o.variant].append(o)
    for o in candidate:
        groups_cand[o.variant].append(o)
    rows = []
    for variant in groups_cand:
        if variant in groups_base:
            for d in _deltas(_per_case(groups_base[variant]), _per_case(groups_cand[variant], errors_fail=True)):
                rows.append(VariantDelta(variant=_name(variant), **d.model_dump()))
    for row, adjusted in zip(rows, holm([r.p_value for r in rows]), strict=True):
        row.p_adjusted = adjusted
    return rows


def _check_gates(result: BaselineComparison, gates: Gates) -> list[GateCheck]:
    # A comparison of nothing proves nothing: a wrong --model map or another suite must not pass.
    checks = [GateCheck(gate="matched", limit=1, value=result.matched, passed=result.matched > 0,
                        detail=f"{result.matched} trials matched the baseline")]
    regressions = len(result.regressions)
    if gates.max_regressions is not None:
        checks.append(GateCheck(gate="max_regressions", limit=gates.max_regressions, value=regressions,
                                detail=f"{regressions} regressions (limit {gates.max_regressions})",
                                passed=regressions <= gates.max_regressions))
    if gates.max_regression_rate is not None:
        rate = regressions / result.matched if result.matched else 0.0
        checks.append(GateCheck(gate="max_regression_rate", limit=gates.max_regression_rate, value=rate,
                                detail=f"{rate:.1%} of matched trials regressed "
                                       f"(limit {gates.max_regression_rate:.1%})",
                                passed=rate <= gates.max_regression_rate))
    if gates.max_drop is not None:
        drops = [d for d in result.deltas if significant(d, gates.alpha) < 0 and d.delta < -gates.max_drop]
        worst = min(drops, key=lambda d: d.delta) if drops else None
        smallest_n = min((d.n for d in result.deltas if d.metric == PASS), default=0)  # a scorer's n may be less
        note = ""
        if 2 * 0.5**smallest_n >= gates.alpha:  # even n changes all one way would not reach alpha
            note = f" (note: with {smallest_n} cases no drop can be significant at alpha={gates.alpha})"
        checks.append(GateCheck(gate="max_drop", limit=gates.max_drop, alpha=gates.alpha,
                                value=worst.delta if worst else 0.0,
                                detail=(f"{worst.metric} of {worst.variant} fell {worst.delta:+.3f} "
                                        f"(p={p_value(worst.p_adjusted)})") if worst else "no significant drop" + note,
                                passed=worst is None))
    return checks


# --- formatting helpers ----------------------------------------------------------------------

def _name(variant: tuple[str, str]) -> Variant:
    return Variant(prompt_id=variant[0], model_id=variant[1])


def _trial(key: tuple) -> str:
    return "|".join(str(k) for k in key)
