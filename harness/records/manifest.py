"""run.json as typed records: the RunManifest and its parts.

The manifest of a run says what ran (suite, config, versions) and what came of it (metrics per
variant, threshold checks, A/B and baseline comparisons, the verdict). It is written and read
only as a RunManifest. Version 1 is the untyped run.json of harness 0.1 (the same fields, without
``schema_version``): it loads as it is.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from harness.files import json_text
from harness.formatting import listing, p_value
from harness.records.verdict import GateCheck, MustPassCheck, RunVerdict, ThresholdCheck

MANIFEST_SCHEMA = 2


class Record(BaseModel):
    """A part of run.json. Fields a newer harness added are ignored when an older one reads the file."""

    model_config = ConfigDict(extra="ignore", ser_json_inf_nan="constants")


Interval = tuple[float, float]


class SuiteRef(Record):
    name: str
    description: str = ""
    path: str | None = None


class ModelRef(Record):
    id: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)


class JudgeRef(Record):
    model: str
    params: dict[str, Any] = Field(default_factory=dict)


class Plan(Record):
    """What --resume needs to plan the same trials again."""

    models: list[str] = Field(default_factory=list)
    prompts: list[str] = Field(default_factory=list)
    repeats: int | None = None
    limit: int | None = None
    judge: str | None = None
    batch: bool = False


class RunConfig(Record):
    prompts: list[dict[str, Any]] = Field(default_factory=list)
    models: list[ModelRef] = Field(default_factory=list)
    max_error_rate: float = 0.1
    models_from: str = ""
    repeats: int = 1
    concurrency: int = 8
    cache: bool = True
    scorers: list[dict[str, Any]] = Field(default_factory=list)
    thresholds: dict[str, Any] = Field(default_factory=dict)
    gates: dict[str, Any] = Field(default_factory=dict)
    baseline: str | None = None
    judge: JudgeRef | None = None
    planned_trials: int = 0
    plan: Plan | None = None


class Environment(Record):
    python: str = ""
    litellm: str | None = None
    git_commit: str | None = None


class Counts(Record):
    planned: int = 0
    completed: int = 0
    cached: int = 0
    errors: int = 0  # trials whose model call failed
    judge_errors: int = 0  # scores a judge could not give (its call failed, or its answer stayed unreadable)
    scorer_errors: int = 0  # scores whose scorer raised (or whose own transform failed)
    transform_errors: int = 0  # trials whose output transforms failed (failed, unscored)

    def describe_errors(self) -> str:
        """Every kind of error, counted: '2 model-call errors · 1 judge error' (or 'no errors')."""
        kinds = [(self.errors, "model-call error"), (self.transform_errors, "transform error"),
                 (self.judge_errors, "judge error"), (self.scorer_errors, "scorer error")]
        told = [f"{n} {name}{'s' if n != 1 else ''}" for n, name in kinds if n]
        return " · ".join(told) or "no errors"


class Classification(Record):
    """Accuracy, per-class precision/recall/F1, macro-F1 and the confusion matrix of a classification scorer."""

    n: int
    accuracy: float
    macro_f1: float
    unparseable: int
    unparseable_rate: float
    per_class: dict[str, dict[str, float | int]]
    labels: list[str]
    confusion: dict[str, dict[str, int]]
    accuracy_ci: Interval | None = None
    macro_f1_ci: Interval | None = None
    unparseable_rate_ci: Interval | None = None


class Agreement(Record):
    """A judge's agreement with the human labels of the cases: confusion[human][judge]."""

    n: int
    accuracy: float
    accuracy_ci: Interval
    kappa: float | None
    labels: list[str]
    confusion: dict[str, dict[str, int]]


class JudgeUsage(Record):
    """The judge calls behind some scores, counted apart from the model under test."""

    judge_calls: int = 0
    judge_cached: int = 0
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    judge_cost_usd: float | None = None


class ScoreFigures(JudgeUsage):
    """What a set of scores comes to: how many, their mean and pass rate with 95% intervals over cases, errors, and
    (when they have them) classification figures, agreement with human labels and the judge calls behind them."""

    n: int
    mean: float | None = None
    mean_ci: Interval | None = None
    pass_rate: float
    pass_rate_ci: Interval
    errors: int = 0
    classification: Classification | None = None
    accuracy: float | None = None
    macro_f1: float | None = None
    human_agreement: Agreement | None = None
    agreement: float | None = None
    kappa: float | None = None


class ScorerMetrics(ScoreFigures):
    """A scorer's figures, over its scores in a variant."""

    weight: float = 1.0


class NamedMetric(ScoreFigures):
    """A named metric's figures (scorers' ``metric:``), over the scores of every scorer that counts under it, each
    score once (so ``mean`` is their sum over their number)."""

    scorers: list[str] = Field(default_factory=list)  # whose scores it pools, in the order they first scored


class RepeatMetrics(Record):
    k: int
    cases: int
    pass_probability: float
    pass_at_k: float
    pass_hat_k: float
    flaky: list[str]
    flaky_rate: float


class DerivedValue(Record):
    """A derived metric's value on one variant, its 95% bootstrap interval over cases, or why it has none."""

    value: float | None
    ci: Interval | None = None
    error: str | None = None


class VariantMetrics(Record):
    """The metrics of one variant (prompt x model)."""

    prompt_id: str
    model_id: str
    trials: int
    scored: int
    passed: int
    pass_rate: float | None
    pass_rate_ci: Interval
    errors: int
    error_rate: float
    cached: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    scorers: dict[str, ScorerMetrics] = Field(default_factory=dict)
    # The named metrics several scorers may count under (none in a run saved before they were).
    named_metrics: dict[str, NamedMetric] = Field(default_factory=dict)
    judge: JudgeUsage | None = None
    repeats: RepeatMetrics | None = None
    derived: dict[str, DerivedValue] = Field(default_factory=dict)

    def metric(self, name: str) -> float | None:
        """A value a threshold may name: 'pass_rate', '<scorer>.<metric>', '<named metric>.<metric>' or a derived
        metric's name (a suite's scorers and named metrics never share a name)."""
        if name in self.derived:
            return self.derived[name].value
        if "." in name:
            owner, _, metric = name.rpartition(".")
            found = self.scorers.get(owner, self.named_metrics.get(owner))
            return getattr(found, metric, None) if found is not None else None
        return getattr(self, name, None)


class Variant(Record):
    prompt_id: str
    model_id: str

    def __str__(self) -> str:
        return f"{self.prompt_id} × {self.model_id}"


class Delta(Record):
    """The paired difference b - a of one metric over the cases both sides have it for."""

    metric: str
    n: int
    mean_a: float
    mean_b: float
    delta: float
    ci: Interval
    p_value: float
    test: str
    p_adjusted: float | None = None

    def direction(self, alpha: float) -> int:
        """+1 or -1 when b - a is significantly positive or negative (Holm-adjusted p below alpha), else 0.

        The test's p-value and the interval must agree: a rank test can be significant while the
        mean moves the other way (many small gains, one large loss), and then nothing is claimed.
        """
        if self.p_adjusted is None or self.p_adjusted >= alpha:
            return 0
        low, high = self.ci
        return 1 if low > 0 and self.delta > 0 else -1 if high < 0 and self.delta < 0 else 0

    def describe(self, alpha: float) -> str:
        """'0.833 → 0.667 (-0.167 [-0.500, +0.000], p=1.000): not significant'."""
        moved = {1: "a significant rise", -1: "a significant drop", 0: "not significant"}[self.direction(alpha)]
        p = "n/a" if self.p_adjusted is None else p_value(self.p_adjusted)
        return (f"{self.mean_a:.3f} → {self.mean_b:.3f} ({self.delta:+.3f} [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}], "
                f"p={p}, n={self.n}): {moved}")


class PairDelta(Delta):
    a: Variant
    b: Variant
    a_only: list[str] = Field(default_factory=list)
    b_only: list[str] = Field(default_factory=list)


class MetricVerdict(Record):
    metric: str
    pairs: list[PairDelta]
    winner: Variant | None = None
    verdict: str


class ABComparison(Record):
    alpha: float
    metrics: list[MetricVerdict]


class VariantDelta(Delta):
    variant: Variant


class Change(Record):
    case_id: str
    prompt_id: str
    model_id: str
    repeat: int
    reasons: list[str]
    base_output: str = ""
    candidate_output: str = ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


class BaselineComparison(Record):
    source: str | None = None
    matched: int
    regressions: list[Change] = Field(default_factory=list)
    improvements: list[Change] = Field(default_factory=list)
    new: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    errored: list[str] = Field(default_factory=list)
    deltas: list[VariantDelta] = Field(default_factory=list)
    gates: list[GateCheck] = Field(default_factory=list)
    alpha: float = 0.05  # the gates' significance level

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def regressed_cases(self) -> list[str]:
        """The cases with a regressed trial, in the order they regressed."""
        return list(dict.fromkeys(c.case_id for c in self.regressions))

    def explain(self) -> list[str]:
        """Why the gates let this run through or stopped it, a line each: the regressions (how many, which cases),
        each variant's pass-rate change and whether it is significant (the paired test), and the deciding gates."""
        cases = self.regressed_cases()
        if cases:
            lines = [f"{_count(len(self.regressions), 'regression')} in {_count(len(cases), 'case')}: "
                     f"{listing(cases)}"]
        else:
            lines = ["no regressions"]
        lines += [f"pass rate of {d.variant}: {d.describe(self.alpha)}" for d in self.deltas if d.metric == "pass_rate"]
        return [*lines, self.decision()]

    def decision(self) -> str:
        """Which gates stopped the run, or which let it through."""
        failed = [g.describe() for g in self.gates if not g.passed]
        if failed:
            return "stopped by " + "; ".join(failed)
        checked = "; ".join(g.describe() for g in self.gates if g.gate != "matched") or "no gates are set"
        if not self.regressions:
            return f"gates passed: {checked}"
        unset = "" if any(g.gate == "max_regressions" for g in self.gates) else \
            " (gates: max_regressions: 0 would fail the run on any regression)"
        return f"let through by {checked}{unset}"


class RunManifest(Record):
    """run.json."""

    schema_version: int = MANIFEST_SCHEMA
    harness_version: str | None = None
    status: str = "running"
    started_at: str = ""
    ended_at: str | None = None
    duration_s: float | None = None
    suite: SuiteRef
    config: RunConfig = Field(default_factory=RunConfig)
    environment: Environment = Field(default_factory=Environment)
    workers: int | None = None
    counts: Counts | None = None
    variants: list[VariantMetrics] | None = None
    thresholds: list[ThresholdCheck] = Field(default_factory=list)
    ab: ABComparison | None = None
    baseline: BaselineComparison | None = None
    must_pass: MustPassCheck | None = None
    passed: bool | None = None
    # What a person reading the run should know about how it went (e.g. what --resume found).
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_version_1(cls, data: Any) -> Any:
        if isinstance(data, dict) and "schema_version" not in data:
            data = {**data, "schema_version": 1}
        return data

    @property
    def verdict(self) -> RunVerdict:
        """The run's verdict, which every output reads (see harness.records.verdict)."""
        return RunVerdict(status=self.status, thresholds=self.thresholds,
                          gates=self.baseline.gates if self.baseline else [], must_pass=self.must_pass)

    def to_json(self) -> str:
        return json_text(self.model_dump(mode="json"), indent=2)
