"""A trial's records: a model's Response, a scorer's Verdict and Score, the TrialResult of results.jsonl, and the
compact TrialFacts that aggregates work from.

Records are plain frozen dataclasses (cheap to make on the hot path of a run); they are written
and read through this module only, so a results line always has the same shape and carries
its schema version (``v``), and a line of an older version is read as what it meant then.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from pydantic import TypeAdapter

from harness.files import json_text

# The version of a results line's shape; bumped when a field changes meaning (a new optional field does not).
RESULTS_SCHEMA = 1
# How a trial (or a scorer) says its output transform could not be applied.
TRANSFORM_FAILED = "transform failed"
# Fields a results line carries only when set (older lines have none of them).
_WHEN_SET = ("transformed_output", "transform_error")


@dataclass(frozen=True)
class ToolCall:
    """A function the model called: its name, its arguments parsed from their JSON (None, with ``error``, when they
    are not a JSON object) and as sent, and the call's id (which the tool's result answers)."""

    name: str
    arguments: dict[str, Any] | None
    raw: str = ""
    id: str = ""
    error: str | None = None


@dataclass(frozen=True)
class Response:
    """A model's answer to one request (or the error that stood in for it). Over a conversation, the last answer
    with the usage of every call summed."""

    text: str
    finish_reason: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    cached: bool = False
    error: str | None = None
    attempts: int = 1
    # Time waiting for a slot of the model's (or the run's) concurrency before the answering attempt, apart from
    # latency_ms: a queue on our side is not the model's slowness.
    queue_ms: float = 0.0
    tool_calls: list[ToolCall] = field(default_factory=list)
    # The calls were read from the answer's text (a small model writing JSON), not sent as tool calls.
    tool_calls_from_text: bool = False


@dataclass(frozen=True)
class Verdict:
    """What a scorer may return when a bare number is not enough."""

    value: float
    explanation: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    # Set when the scorer could not reach a verdict (a judge that never gave a parseable answer):
    # the score is recorded as an error, never as a pass.
    error: str | None = None
    # Pass or fail as the scorer decided it (a check returning {score, passed}), rather than its value against
    # the threshold.
    passed: bool | None = None


@dataclass(frozen=True)
class Score:
    name: str
    value: float
    passed: bool
    threshold: float
    explanation: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    # Weight in the trial's weighted score; 0 records the metric without letting it decide the verdict.
    weight: float = 1.0
    # Tokens, cost and calls of the judge model behind this score, counted apart from the model under test.
    judge: dict[str, Any] | None = None
    # The named metric (the scorer's `metric:`) it counts under as well as under its name; in a results line only
    # when set.
    metric: str | None = None


@dataclass(frozen=True)
class TrialResult:
    case_id: str
    prompt_id: str
    model_id: str
    repeat: int
    messages: list[dict[str, Any]]
    vars: dict[str, Any]
    expected: Any
    response: Response
    scores: list[Score]
    tags: list[str] = field(default_factory=list)
    # The case's passing mark on the weighted score (None: every weighted scorer must pass).
    threshold: float | None = None
    # What followed the first request's messages: the model's answers (with their tool calls), the tools'
    # results, the case's later user turns. Empty for a single answer with no tool calls.
    transcript: list[dict[str, Any]] = field(default_factory=list)
    # The final answer as the suite's, prompt's and case's transforms left it (what the scorers read), when they
    # changed it; response.text stays the answer as the model gave it.
    transformed_output: str | None = None
    # Why those transforms could not be applied: the trial fails, unscored, its raw output kept.
    transform_error: str | None = None
    # The case must pass whatever the suite's thresholds allow (must_pass: true on the case or the suite).
    must_pass: bool = False

    def answers(self) -> list[str]:
        """The model's answer to each user turn, in order (its last message before the next turn)."""
        return conversation_answers(self.transcript, self.response.text)

    @property
    def trial_id(self) -> str:
        return trial_id(self.case_id, self.prompt_id, self.model_id, self.repeat)

    @property
    def score(self) -> float | None:
        """The weighted mean of the trial's scores (weight-0 scores left out); None with nothing to weigh."""
        weighed = [s for s in self.scores if s.weight > 0]
        total = sum(s.weight for s in weighed)
        return sum(s.value * s.weight for s in weighed) / total if total else None

    @property
    def passed(self) -> bool:
        """The model answered, its output transformed, no scorer failed to reach a verdict, and either the weighted
        score reaches the case's threshold or (with none set) every scorer that has weight passed."""
        if self.response.error is not None or self.transform_error is not None or \
                any(s.error for s in self.scores if s.weight > 0):
            return False
        if self.threshold is not None:
            return (self.score if self.score is not None else 1.0) >= self.threshold
        return all(s.passed for s in self.scores if s.weight > 0)

    @property
    def verdict(self) -> str:
        """One line: why the trial failed (what a test runner shows in its short summary)."""
        if self.response.error:
            return self.response.error
        if self.transform_error is not None:
            return f"{TRANSFORM_FAILED}: {self.transform_error}"
        if self.passed:
            return "passed"
        failed = [s for s in self.scores if s.weight > 0 and (s.error or not s.passed)]
        reasons = "; ".join(f"{s.name}: {s.explanation or s.value}" for s in failed)
        if self.threshold is not None and not any(s.error for s in failed):
            return f"weighted score {self.score:.2f} < {self.threshold}" + (f" ({reasons})" if reasons else "")
        return reasons

    def describe(self) -> str:
        """The trial for a person reading a failure: the verdict, the rendered prompt, the output, every score."""
        lines = [self.verdict, ""] + [f"[{m['role']}] {m['content']}" for m in self.messages]
        lines += ["", f"output: {self.response.text}"]
        if self.transformed_output is not None:
            lines.append(f"transformed output: {self.transformed_output}")
        lines += [f"{'PASS' if s.passed else 'FAIL'} {s.name} = {s.value:.2f} (threshold {s.threshold})"
                  + (f": {s.explanation}" if s.explanation else "") for s in self.scores]
        if self.response.error:
            lines.append(f"error: {self.response.error}")
        if self.transform_error is not None:
            lines.append(f"{TRANSFORM_FAILED}: {self.transform_error}")
        return "\n".join(lines)

    def facts(self) -> TrialFacts:
        """The trial without its texts: what aggregates need (see TrialFacts)."""
        return TrialFacts(
            case_id=sys.intern(self.case_id), prompt_id=sys.intern(self.prompt_id), model_id=sys.intern(self.model_id),
            repeat=self.repeat, passed=self.passed,
            error=sys.intern(self.response.error) if self.response.error is not None else None,
            transform_error=self.transform_error,
            cached=self.response.cached, latency_ms=self.response.latency_ms,
            prompt_tokens=self.response.prompt_tokens, completion_tokens=self.response.completion_tokens,
            cost_usd=self.response.cost_usd, output_chars=len(self.response.text), must_pass=self.must_pass,
            scores=tuple(ScoreFacts(name=sys.intern(s.name), value=s.value, passed=s.passed, error=s.error,
                                    weight=s.weight, judge=s.judge,
                                    metadata={k: s.metadata[k] for k in AGGREGATED_METADATA if k in s.metadata},
                                    metric=sys.intern(s.metric) if s.metric is not None else None)
                         for s in self.scores))

    def to_json(self) -> str:
        """Its results.jsonl line (the weighted score and the verdict included, for readers without harness)."""
        # Shallow records, which json.dumps walks itself: dataclasses.asdict deep-copies every value first,
        # and was the largest part of writing a result.
        record = {"v": RESULTS_SCHEMA, "trial_id": self.trial_id, **vars(self), "response": vars(self.response),
                  "scores": [_score_fields(s) for s in self.scores], "score": self.score, "passed": self.passed}
        for key in _WHEN_SET:
            if record[key] is None:
                del record[key]
        return json_text(record, default=_jsonable)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> TrialResult:
        """A results line read back, checked against its types (a line of any earlier version too)."""
        return _RESULT.validate_python(record)


# What aggregates read of a score's metadata: a classification's labels, a judge's human label and verdict.
AGGREGATED_METADATA = ("kind", "expected", "predicted", "human", "judgement")


@dataclass(frozen=True, slots=True)
class ScoreFacts:
    """A Score without its explanation, and with only the metadata that aggregates read."""

    name: str
    value: float
    passed: bool
    error: str | None
    weight: float
    judge: dict[str, Any] | None
    metadata: dict[str, Any]
    metric: str | None = None


@dataclass(frozen=True, slots=True)
class TrialFacts:
    """A trial without its texts (no output, prompt, vars or explanations): what the metrics, comparisons and
    tallies need, a few hundred bytes, so a run of any size is aggregated without holding its outputs."""

    case_id: str
    prompt_id: str
    model_id: str
    repeat: int
    passed: bool
    error: str | None  # the model call's error (the trial counts as errored, apart from the pass rate)
    cached: bool
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    output_chars: int
    scores: tuple[ScoreFacts, ...]
    # Why the output transforms failed (the trial counts as failed, unscored).
    transform_error: str | None = None
    must_pass: bool = False

    @property
    def key(self) -> tuple[str, str, str, int]:
        """(case, prompt, model, repeat): what a plan and a baseline match trials by."""
        return (self.case_id, self.prompt_id, self.model_id, self.repeat)

    @property
    def trial_id(self) -> str:
        return trial_id(*self.key)

    def facts(self) -> TrialFacts:
        """Itself: so whatever takes trials takes a TrialResult or its facts alike."""
        return self


def _score_fields(score: Score) -> dict[str, Any]:
    """A score as its results line holds it: without a metric when it has none, as lines before metrics were."""
    fields = vars(score)
    return fields if score.metric is not None else {k: v for k, v in fields.items() if k != "metric"}


def _jsonable(value: Any) -> Any:
    """What a scorer left in its metadata that JSON has no type for: a dataclass as its fields, else its text."""
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else str(value)


def conversation_answers(transcript: list[dict[str, Any]], final: str) -> list[str]:
    """The model's answer to each user turn of a conversation: its last message before the next user message."""
    if not transcript:
        return [final]
    answers = [""]
    for message in transcript:
        if message.get("role") == "user":
            answers.append("")
        elif message.get("role") == "assistant":
            answers[-1] = message.get("content") or ""
    return answers


_RESULT = TypeAdapter(TrialResult)


def trial_id(case_id: str, prompt_id: str, model_id: str, repeat: int) -> str:
    return f"{case_id}|{prompt_id}|{model_id}|{repeat}"


def judge_usage(scores: Sequence[Score | ScoreFacts]) -> dict[str, Any] | None:
    """The judge calls behind these scores: counted apart from the model under test's tokens and cost."""
    usages = [s.judge for s in scores if s.judge]
    if not usages:
        return None
    costs = [u["cost_usd"] for u in usages if u.get("cost_usd") is not None]
    return {"judge_calls": sum(u["calls"] for u in usages), "judge_cached": sum(u["cached"] for u in usages),
            "judge_prompt_tokens": sum(u["prompt_tokens"] for u in usages),
            "judge_completion_tokens": sum(u["completion_tokens"] for u in usages),
            "judge_cost_usd": sum(costs) if costs else None}
