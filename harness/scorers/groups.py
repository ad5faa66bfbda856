"""Scorer groups: ``{any: [...]}`` and ``{all: [...]}``, one score made of their members' scores.

As promptfoo's assert-set (which its importer writes as an ``all``):

- ``all``: the score is the mean of the members' scores, weighted by their ``weight``; the group passes when that
  reaches its ``threshold`` or, with none set, when every member passes.
- ``any``: the score is the best member's; the group passes when that reaches its ``threshold`` or, with none set,
  when any member passes.

Members of weight 0 are shown but do not count, as in a trial's own score. A member that could not reach a verdict
(its scorer raised, its judge gave no answer) makes the group's verdict unknown too, and its error the group's,
unless an ``any`` group passed anyway. ``not: true`` turns the group round: 1 - its score, and it passes when it
would have failed. The group's explanation lists its members' results; their judge calls are counted in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.records import Score

if TYPE_CHECKING:
    from harness.spec import ScorerSpec

# What a group takes besides its list (and `turn`, given to the group, never to a member).
KEYS = ("name", "metric", "threshold", "weight", "not", "turn", "transform")
# The passing mark recorded on a group without a threshold (whose verdict its members decide).
DEFAULT_THRESHOLD = 1.0
# Groups of groups of ...: more than this is a suite written in a tangle, not a check.
MAX_DEPTH = 8


def combine(spec: ScorerSpec, members: list[Score]) -> Score | None:
    """The group's score from its members' (those that applied); None when no member that counts applied."""
    counted = [score for score in members if score.weight > 0]
    if not counted:
        return None
    if spec.group == "all":
        value = sum(s.value * s.weight for s in counted) / sum(s.weight for s in counted)
        passed = all(s.passed for s in counted)
    else:
        value = max(s.value for s in counted)
        passed = any(s.passed for s in counted)
    if spec.threshold is not None:
        passed = value >= spec.threshold
    errors = [f"{s.name}: {s.error}" for s in counted if s.error]
    error = "; ".join(errors) if errors and not (spec.group == "any" and passed) else None
    if spec.negate:
        value = 1.0 - value
        passed = value >= spec.threshold if spec.threshold is not None else not passed
    explanation = f"{sum(s.passed for s in counted)} of {len(counted)} passed: " + "; ".join(map(_result, members))
    return Score(name=spec.name, value=value, passed=passed and error is None,
                 threshold=spec.threshold if spec.threshold is not None else DEFAULT_THRESHOLD,
                 explanation=("not: " if spec.negate else "") + explanation, error=error, weight=spec.weight,
                 metadata={"negated": True} if spec.negate else {}, judge=_judge_calls(members))


def _result(score: Score) -> str:
    """One member's result as the group's explanation shows it."""
    outcome = "error" if score.error else "passed" if score.passed else "failed"
    value = "" if score.value in (0.0, 1.0) else f" {score.value:.2f}"
    weight = " (weight 0: not counted)" if score.weight == 0 else ""
    return f"{score.name} {outcome}{value}{weight}" + (f" ({score.explanation})" if score.explanation else "")


def _judge_calls(members: list[Score]) -> dict[str, Any] | None:
    """The judge calls behind the members' scores, added up (a Score's ``judge`` record, see JudgeCalls)."""
    usages = [score.judge for score in members if score.judge]
    if not usages:
        return None
    costs = [usage["cost_usd"] for usage in usages if usage.get("cost_usd") is not None]
    return {"model": ", ".join(dict.fromkeys(usage.get("model", "") for usage in usages)),
            **{key: sum(usage.get(key, 0) for usage in usages)
               for key in ("calls", "cached", "prompt_tokens", "completion_tokens")},
            "cost_usd": sum(costs) if costs else None}
