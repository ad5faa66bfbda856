"""Derived metrics: a suite's Python expressions over its named metrics (precision, recall, F1 over a suite).

``derived_metrics: {precision: "tp / (tp + fp)", f1: "2 * precision * recall / (precision + recall)"}``. In an
expression each scorer's name stands for the **sum** of its scores over the variant's scored trials (so a 0/1
scorer named ``tp`` counts them, as promptfoo's named metrics do), each named metric (``metric:``) for the sum of
the scores of every scorer under it, ``trials`` for how many trials were scored, and each derived metric written
before it for its value. A ratio of sums is the same whichever way it is read; a mean is ``name / trials``. Each
value comes with a 95% bootstrap interval over cases (a case's repeats resampled together), like every other
metric of a run. A value that cannot be computed (a division by zero: no positives at all) is None with the
reason, and a threshold on it fails.
"""

from __future__ import annotations

import builtins
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.errors import HarnessError, did_you_mean
from harness.expressions import MODULES, Expression, compile_expression, failure
from harness.records import DerivedValue, TrialFacts
from harness.spec import Suite, named_metrics, scorer_names
from harness.stats import BOOTSTRAP_RESAMPLES

TRIALS = "trials"


@dataclass(frozen=True)
class DerivedMetric:
    name: str
    expression: Expression


def derived_of(suite: Suite, lines: Callable[[str], int | None] = lambda _name: None) -> list[DerivedMetric]:
    """The suite's derived metrics, compiled in order; a name an expression uses must be a scorer's, a named
    metric's, ``trials``, or a derived metric's written before it (``lines`` gives the line each was written on)."""
    known, compiled, file = [*scorer_names(suite), *named_metrics(suite), TRIALS], [], suite.path
    for name, source in suite.derived_metrics.items():
        line = lines(name)
        what = f"derived metric '{name}'"
        if name in known:
            raise HarnessError(f"{what}: '{name}' is already a metric of the suite", file=file, line=line,
                               hint="give the derived metric a name of its own")
        expression = compile_expression(source, what=what, file=file, line=line)
        for used in _names(expression):
            if used not in known:
                raise HarnessError(f"{what}: '{used}' is not a metric of the suite{did_you_mean(used, known)}",
                                   file=file, line=line, hint="metrics: " + ", ".join(known))
        compiled.append(DerivedMetric(name, expression))
        known.append(name)
    return compiled


def _names(expression: Expression) -> list[str]:
    """The free names an expression reads, less Python's builtins and the modules every expression has."""
    return [n for n in expression.code.co_names if not hasattr(builtins, n) and n not in MODULES]


def derive(derived: Sequence[DerivedMetric], facts: Sequence[TrialFacts], *, seed: int = 0,
           resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, DerivedValue]:
    """Each derived metric's value on one variant's trials, with its interval over cases."""
    if not derived:
        return {}
    by_case: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for trial in facts:
        if trial.error is not None:
            continue
        sums = by_case[trial.case_id]
        sums[TRIALS] += 1
        for score in trial.scores:
            if not score.error:
                sums[score.name] += score.value
                if score.metric is not None:
                    sums[score.metric] += score.value
    names = sorted({n for sums in by_case.values() for n in sums} | {TRIALS})
    cases = [[sums.get(n, 0.0) for n in names] for sums in by_case.values()]
    totals = [sum(column) for column in zip(*cases, strict=True)] if cases else [0.0] * len(names)
    values = _evaluate(derived, dict(zip(names, totals, strict=True)))
    intervals = _intervals(derived, names, cases, seed, resamples)
    return {d.name: DerivedValue(value=values[d.name] if isinstance(values[d.name], float) else None,
                                 ci=intervals.get(d.name),
                                 error=values[d.name] if isinstance(values[d.name], str) else None)
            for d in derived}


def _evaluate(derived: Sequence[DerivedMetric], sums: dict[str, float]) -> dict[str, float | str]:
    """Each metric's value, or (a str) why it has none; a metric using one without a value has none either."""
    names: dict[str, object] = defaultdict(float, sums)  # a metric no trial of this variant scored sums to 0
    found: dict[str, float | str] = {}
    for metric in derived:
        try:
            value = float(metric.expression.evaluate(names))
            if not math.isfinite(value):
                raise ValueError(f"the value is {value}")
        except Exception as exc:  # noqa: BLE001 - the suite's expression: its failure is a finding, not a crash
            found[metric.name] = failure(exc)
            names[metric.name] = math.nan
            continue
        found[metric.name] = names[metric.name] = value
    return found


def _intervals(derived: Sequence[DerivedMetric], names: list[str], cases: list[list[float]], seed: int,
               resamples: int) -> dict[str, list[float]]:
    """95% percentile bootstrap intervals, resampling cases; a metric that cannot be computed in more than 5% of
    the resamples (too few positives to say) gets none."""
    if len(cases) < 2:
        return {}
    import numpy as np

    table = np.asarray(cases, dtype=float)
    rng = np.random.default_rng(seed)
    drawn: dict[str, list[float]] = defaultdict(list)
    for _ in range(resamples):
        counts = np.bincount(rng.integers(0, len(cases), len(cases)), minlength=len(cases))
        sums = dict(zip(names, (counts @ table).tolist(), strict=True))
        for name, value in _evaluate(derived, sums).items():
            if isinstance(value, float):
                drawn[name].append(value)
    return {name: [float(v) for v in np.percentile(values, [2.5, 97.5])]
            for name, values in drawn.items() if len(values) >= 0.95 * resamples}
