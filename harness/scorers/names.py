"""The names a trial's scores are kept under: each scorer's own, and the named metrics (``metric:``) that pool the
scores of several scorers.

A scorer is called by its ``name:``, else by its type (tool_call's ``name:`` is the tool it checks, not a name for
the scorer: it is called after the tool, as another is after its type). Names key the scores, so the scorers of a
trial (the suite's, then the case's own) are never called alike: a name the suite gives twice is refused, and a
type (or tool) used again is numbered, ``contains``, ``contains_2``, ``contains_3``. The suite's scorers are named
first, so each has the same name in every case, and a case's own after them.

``metric: NAME`` counts a scorer's scores under a named metric as well, with those of every other scorer that
names it (harness.metrics aggregates them, harness.derived_metrics sums them). A metric is never called like a
scorer, a run metric or ``trials``: a threshold (``NAME.mean``) or a derived metric naming it would be ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from harness.derived_metrics import TRIALS
from harness.errors import HarnessError
from harness.scorers import named_by_suite
from harness.spec import RUN_METRICS, Case, ScorerSpec, Suite, scorer_names

# Where the suite wrote what is at a path such as ("scorers", 0, "metric") or ("cases", 2, "scorers", 1): the file
# and line (a data file's case at its row).
Where = Callable[[tuple[Any, ...]], tuple[str | Path | None, int | None]]


def name_scorers(suite: Suite, where: Where) -> Suite:
    """The suite with each scorer's name as its trials' scores will carry it (numbered where its type is taken);
    a name given twice, or a metric called like a scorer or a run metric, is refused at its line."""
    clash = _given_twice(suite.scorers, (), suite)
    if clash is not None:
        file, line = where(("scorers", clash))
        raise HarnessError(f"two scorers are called '{suite.scorers[clash].name}'", file=file, line=line,
                           hint="give each a distinct 'name'")
    scorers = _numbered(suite.scorers, (), suite)
    inherited = [spec.name for spec in scorers]
    cases = [_case_named(case, i, inherited, suite, where) for i, case in enumerate(suite.cases)]
    named = suite.model_copy(update={"scorers": scorers, "cases": cases})
    _check_metrics(named, where)
    return named


def _case_named(case: Case, index: int, inherited: Sequence[str], suite: Suite, where: Where) -> Case:
    """A case's own scorers named after the suite's they add to (none, with ``inherit_scorers: false``)."""
    if not case.scorers:
        return case
    taken = inherited if case.inherit_scorers else ()
    clash = _given_twice(case.scorers, taken, suite)
    if clash is not None:
        name = case.scorers[clash].name
        from_suite = name in taken
        file, line = where(("cases", index))
        raise HarnessError(
            f"case '{case.id}': two scorers are called '{name}'"
            + (" (one of the suite's, and one of the case's own, which add to the suite's)" if from_suite else ""),
            file=file, line=line, hint=f"give the case's scorer a name of its own (name: {name}_2)"
            + (", or set inherit_scorers: false to use only the case's scorers" if from_suite else ""))
    # Numbered past the suite's names even when it does not inherit them: a case's own unnamed `contains` is
    # another check than the suite's, and pooling the two under one name would mix them in every figure.
    return case.model_copy(update={"scorers": _numbered(case.scorers, inherited, suite)})


def _given_twice(specs: Sequence[ScorerSpec], taken: Collection[str], suite: Suite) -> int | None:
    """The index of the first scorer whose given name is taken (by ``taken`` or a scorer before it), or None."""
    seen = set(taken)
    for i, spec in enumerate(specs):
        if named_by_suite(spec, suite.directory):
            if spec.name in seen:
                return i
            seen.add(spec.name)
    return None


def _numbered(specs: Sequence[ScorerSpec], taken: Collection[str], suite: Suite) -> list[ScorerSpec]:
    """The scorers with names none of ``taken`` has and no two share: a given name stays (it is checked apart), a
    type (or tool) already taken is numbered with the first free number from 2."""
    used = {*taken, *(spec.name for spec in specs if named_by_suite(spec, suite.directory))}
    named = []
    for spec in specs:
        if not named_by_suite(spec, suite.directory):
            name, number = spec.name, 1
            while name in used:
                number += 1
                name = f"{spec.name}_{number}"
            used.add(name)
            spec = spec if name == spec.name else spec.model_copy(update={"name": name})
        named.append(spec)
    return named


def _check_metrics(suite: Suite, where: Where) -> None:
    """A metric must not be called like a scorer of the suite, a run metric or ``trials``, at its ``metric:``; no
    name or metric written holds a '.' (``a.b.mean`` would be ambiguous)."""
    scorers = set(scorer_names(suite))
    placed = [(("scorers", i), spec) for i, spec in enumerate(suite.scorers)]
    placed += [(("cases", i, "scorers", j), spec) for i, case in enumerate(suite.cases)
               for j, spec in enumerate(case.scorers or [])]
    for loc, spec in placed:
        for key, given in (("name", spec.written_name), ("metric", spec.metric)):
            if given and "." in given:
                file, line = where((*loc, key))
                raise HarnessError(f"{key} '{given}' holds a '.': thresholds name a figure as NAME.mean, so it "
                                   "would be ambiguous", file=file, line=line,
                                   hint=f"write {key}: {given.replace('.', '_')}")
        metric = spec.metric
        if not metric or metric not in scorers and metric not in (*RUN_METRICS, TRIALS):
            continue
        file, line = where((*loc, "metric"))
        if metric in scorers:
            raise HarnessError(f"metric '{metric}' is called like a scorer: a threshold on '{metric}.mean', or "
                               f"'{metric}' in a derived metric, could mean either", file=file, line=line,
                               hint=f"call the metric something else (metric: {metric}_metric), or give the scorer a "
                               "name: of its own")
        raise HarnessError(f"metric '{metric}' is called like a run metric", file=file, line=line,
                           hint=f"call it something else: {', '.join((*RUN_METRICS, TRIALS))} are the run's own")
