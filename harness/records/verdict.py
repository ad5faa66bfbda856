"""The suite's verdict: its thresholds, its baseline gates and its must-pass cases, decided once.

``harness run``'s exit code, the pytest plugin, the JUnit file, summary.md, the report's header and the
pull-request comment all read one RunVerdict (``RunManifest.verdict``), so a run is never green in one place
and red in another. Each check is told in one wording (``describe``), wherever it is told.

A trial that did not pass is a *failure* only when the suite says so: when the case (or the suite) says
``must_pass: true``, or when its variant misses a threshold (the trial is then part of why). Otherwise it is
*allowed*: the suite's thresholds say how many trials may fail (``pass_rate: 0.7``), and this one is within
them. An allowed trial stays visible everywhere (pytest: xfailed with the reason; JUnit: ``<skipped
type="harness.allowed">``, which is what pytest writes for an xfail), it just does not fail the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, computed_field

from harness.records.trial import TrialFacts

# What became of a trial under the suite's verdict.
PASSED, FAILED, ERRORED, ALLOWED = "passed", "failed", "errored", "allowed"
LISTED = 20  # must-pass failures named by trial id


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", ser_json_inf_nan="constants")


class ThresholdCheck(_Record):
    """A threshold checked on one variant, or (prompt and model None) on the whole run."""

    prompt_id: str | None
    model_id: str | None
    metric: str
    value: float | None
    min: float | None = None
    max: float | None = None
    bound: str
    passed: bool

    def describe(self) -> str:
        """One line, the same wherever a check is told: 'pass_rate = 0.583 for terse × fake (needs ≥ 0.7)'."""
        value = "n/a" if self.value is None else f"{self.value:.3g}"
        return f"{self.metric} = {value} for {self.where} (needs {self.bound})"

    @property
    def where(self) -> str:
        return f"{self.prompt_id} × {self.model_id}" if self.prompt_id is not None else "the whole run"

    def applies_to(self, prompt_id: str, model_id: str) -> bool:
        return self.prompt_id is None or (self.prompt_id, self.model_id) == (prompt_id, model_id)


class GateCheck(_Record):
    gate: str
    limit: float
    value: float
    passed: bool
    detail: str
    alpha: float | None = None

    def describe(self) -> str:
        """One line, the same wherever a gate is told: 'gate max_regressions: 3 regressions (limit 0)'."""
        return f"gate {self.gate}: {self.detail}"


class MustPassCheck(_Record):
    """The trials of cases that must pass (``must_pass: true`` on the case, or on the suite): every one has to."""

    trials: int
    failed_count: int = 0
    failed: list[str] = Field(default_factory=list)  # the first LISTED trial ids that did not pass

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return self.failed_count == 0

    def describe(self) -> str:
        """'must_pass: 2 of 12 trials that must pass did not (mochi|terse|fake|0, ...)'."""
        if self.passed:
            return f"must_pass: all {self.trials} trials that must pass passed"
        more = f", … and {self.failed_count - len(self.failed)} more" if self.failed_count > len(self.failed) else ""
        return (f"must_pass: {self.failed_count} of {self.trials} trials that must pass did not "
                f"({', '.join(self.failed)}{more})")


def must_pass_check(facts: Iterable[TrialFacts]) -> MustPassCheck | None:
    """The must-pass check of a run's trials (None when no case must pass)."""
    bound = [f for f in facts if f.must_pass]
    if not bound:
        return None
    failed = [f.trial_id for f in bound if not f.passed]
    return MustPassCheck(trials=len(bound), failed_count=len(failed), failed=failed[:LISTED])


@dataclass(frozen=True)
class TrialOutcome:
    """A trial under the verdict: its kind (PASSED, FAILED, ERRORED or ALLOWED) and why, in a line."""

    kind: str
    reason: str = ""


class RunVerdict(_Record):
    """Whether the run passed, and every check that decided it."""

    status: str = "completed"
    thresholds: list[ThresholdCheck] = Field(default_factory=list)
    gates: list[GateCheck] = Field(default_factory=list)
    must_pass: MustPassCheck | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return self.status == "completed" and all(c.passed for c in self.checks())

    def checks(self) -> list[ThresholdCheck | GateCheck | MustPassCheck]:
        return [*self.thresholds, *self.gates, *([self.must_pass] if self.must_pass else [])]

    def holds(self, prompt_id: str, model_id: str) -> bool:
        """The variant meets every threshold set on it and on the whole run."""
        return all(c.passed for c in self.thresholds if c.applies_to(prompt_id, model_id))

    def trial(self, facts: TrialFacts) -> TrialOutcome:
        """What the verdict makes of one trial (see the module's docstring)."""
        if facts.passed:
            return TrialOutcome(PASSED)
        kind = ERRORED if facts.error else FAILED
        if facts.must_pass:
            return TrialOutcome(kind, "the case must pass (must_pass: true)")
        own = [c for c in self.thresholds if c.applies_to(facts.prompt_id, facts.model_id)]
        missed = [c for c in own if not c.passed]
        if missed:
            return TrialOutcome(kind, "not allowed: its variant missed a threshold: "
                                + "; ".join(c.describe() for c in missed))
        # A model-call error is allowed by the error rate; a failed score by the other thresholds, named as closely
        # as they go: the pass rate's, else those on the metrics of the scores it failed, else every other one.
        allowing = [c for c in own if (c.metric == "error_rate") == (kind == ERRORED)]
        failed = {s.name for s in facts.scores if not s.passed} | {s.metric for s in facts.scores if not s.passed}
        closest = ([c for c in allowing if c.metric == "pass_rate"]
                   or [c for c in allowing if c.metric.partition(".")[0] in failed])
        because = ("; ".join(c.describe() for c in closest or allowing)
                   or "the suite sets no threshold this trial breaks")
        return TrialOutcome(ALLOWED, f"allowed by the suite's thresholds: {because}")

    def tally(self, facts: Iterable[TrialFacts]) -> Counter[str]:
        """How many trials are of each kind."""
        return Counter(self.trial(f).kind for f in facts)

    def allowed(self, facts: Iterable[TrialFacts]) -> list[str]:
        """A line per variant (and reason) with allowed trials: '19 trials of terse × local did not pass, allowed
        by the suite's thresholds: pass_rate = 0.75 for terse × local (needs ≥ 0.7)'."""
        groups: Counter[tuple[str, str, bool, str]] = Counter()
        for f in facts:
            outcome = self.trial(f)
            if outcome.kind == ALLOWED:
                groups[(f.prompt_id, f.model_id, f.error is not None, outcome.reason)] += 1
        return [f"{n} trial{'s' if n != 1 else ''} of {prompt} × {model} "
                f"{'met a model-call error' if errored else 'did not pass'}, {reason}"
                for (prompt, model, errored, reason), n in groups.items()]

    def problems(self) -> list[str]:
        """Every reason the run did not pass, a line each."""
        lines = [] if self.status == "completed" else [f"the run was {self.status} before it completed"]
        lines += [f"threshold missed: {c.describe()}" for c in self.thresholds if not c.passed]
        lines += [f"gate failed: {g.describe()}" for g in self.gates if not g.passed]
        if self.must_pass and not self.must_pass.passed:
            lines.append(self.must_pass.describe())
        return lines

    def headline(self) -> str:
        """The verdict in a few words: 'all thresholds and gates met', '2 thresholds missed · 1 gate failed'."""
        if self.status != "completed":
            return f"the run {self.status} before it completed"
        if self.passed:
            return "all thresholds and gates met"
        counts = [(sum(not c.passed for c in self.thresholds), "threshold", "missed"),
                  (sum(not g.passed for g in self.gates), "gate", "failed"),
                  (self.must_pass.failed_count if self.must_pass else 0, "must-pass trial", "failed")]
        return " · ".join(f"{n} {what}{'s' if n != 1 else ''} {how}" for n, what, how in counts if n)
