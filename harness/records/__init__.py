"""What a run saves, as typed, versioned records; every saved file is written and read through these.

``results.jsonl``: a TrialResult per line (harness.records.trial). ``run.json``: a RunManifest
(harness.records.manifest), whose verdict every output reads (harness.records.verdict).
"""

from harness.records.manifest import (
    MANIFEST_SCHEMA,
    ABComparison,
    Agreement,
    BaselineComparison,
    Change,
    Classification,
    Counts,
    Delta,
    DerivedValue,
    Environment,
    JudgeRef,
    JudgeUsage,
    MetricVerdict,
    ModelRef,
    NamedMetric,
    PairDelta,
    Plan,
    RepeatMetrics,
    RunConfig,
    RunManifest,
    ScorerMetrics,
    SuiteRef,
    Variant,
    VariantDelta,
    VariantMetrics,
)
from harness.records.trial import (
    RESULTS_SCHEMA,
    TRANSFORM_FAILED,
    Response,
    Score,
    ScoreFacts,
    ToolCall,
    TrialFacts,
    TrialResult,
    Verdict,
    judge_usage,
    trial_id,
)
from harness.records.verdict import (
    ALLOWED,
    ERRORED,
    FAILED,
    PASSED,
    GateCheck,
    MustPassCheck,
    RunVerdict,
    ThresholdCheck,
    TrialOutcome,
    must_pass_check,
)

__all__ = [
    "ALLOWED", "ERRORED", "FAILED", "PASSED", "MustPassCheck", "RunVerdict", "TrialOutcome", "must_pass_check",
    "MANIFEST_SCHEMA", "RESULTS_SCHEMA", "ABComparison", "Agreement", "BaselineComparison", "Change", "Classification",
    "Counts", "Delta", "DerivedValue", "Environment", "GateCheck", "JudgeRef", "JudgeUsage", "MetricVerdict",
    "ModelRef", "NamedMetric", "PairDelta",
    "Plan", "RepeatMetrics", "Response", "RunConfig", "RunManifest", "Score", "ScoreFacts", "ScorerMetrics",
    "SuiteRef", "ThresholdCheck", "ToolCall", "TrialFacts", "TrialResult", "Variant", "VariantDelta",
    "VariantMetrics", "Verdict", "TRANSFORM_FAILED",
    "judge_usage", "trial_id",
]
