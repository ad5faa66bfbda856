"""The suite schema: typed, frozen records of what a ``suites/*.yaml`` file may say.

Pure data and its own rules (types, ranges, defaults, derived ids); reading files and mapping
errors back to YAML lines is harness.suite's job.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, field_validator, model_validator

from harness.chat import Message, MessageItem, ResponseFormat, Tool, ToolChoice
from harness.spec._base import CONNECTION_PARAMS, KNOWN_PARAMS, Strict, check_params, check_reference
from harness.spec.model import HttpSpec, ModelSpec

__all__ = ["CONNECTION_PARAMS", "KNOWN_PARAMS", "RUN_METRICS", "SCORER_METRICS", "Bound", "Case", "Gates", "HttpSpec",
           "ModelSpec", "PromptSpec", "ScorerSpec", "Suite", "metric_names", "named_metrics", "scorer_names"]
from harness.spec.scorer import ScorerSpec, Transforms


class PromptSpec(Strict):
    """A prompt variant: a Jinja template file under ``prompts/``, inline ``text``, or chat ``messages`` (a list,
    or a YAML/JSON file holding one), or a ``python`` prompt function (``file.py:build`` or ``module:build``)
    returning a case's messages. Its own tools, tool choice, response format and tool rounds replace the suite's."""

    id: str
    template: str | None = None
    text: str | None = None
    messages: list[MessageItem] | str | None = None
    python: str | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    max_tool_rounds: int | None = Field(default=None, ge=1)
    # Applied to this prompt's outputs, after the suite's transform.
    transform: Transforms = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"id": Path(data).stem, "template": data}
        return data

    _python_reference = field_validator("python")(classmethod(lambda cls, v: check_reference(v)))

    @model_validator(mode="after")
    def _one_source(self) -> PromptSpec:
        if sum(source is not None for source in (self.template, self.text, self.messages, self.python)) != 1:
            raise ValueError("give exactly one of 'template' (a file under prompts/), 'text' (inline), "
                             "'messages' (a chat) or 'python' (a prompt function)")
        return self


class Bound(Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _can_be_met(self) -> Bound:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}: no value can meet it")
        return self


class Gates(Strict):
    """When a run compared with its baseline fails (exit 1). Floors on the run's own metrics are `thresholds`."""

    max_regressions: int | None = Field(default=None, ge=0)
    max_regression_rate: float | None = Field(default=None, ge=0, le=1)
    # A metric that falls significantly (Holm-corrected p < alpha) by more than this fails the gate.
    max_drop: float | None = Field(default=0.0, ge=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    # A trial whose score falls by more than this counts as a regression even if it still passes.
    score_tolerance: float = Field(default=0.1, ge=0, le=1)


class Case(Strict):
    """One test case. Its id is stable: given, or derived from its content (never its row)."""

    id: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)
    expected: Any = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Later user turns (templates), each sent after the model's answer to the one before.
    turns: list[str] = Field(default_factory=list)
    # The case's own input (a history, content parts): it takes the place of the prompt's last user message.
    messages: list[Message] | None = None
    # The case's own scorers: they add to the suite's, unless inherit_scorers is false (then they are all it has).
    scorers: list[ScorerSpec] | None = None
    inherit_scorers: bool = True
    # Passing mark for the weighted mean of the case's scores; when unset every scorer must pass.
    threshold: float | None = Field(default=None, ge=0, le=1)
    # This case fails the run when it does not pass, whatever the thresholds allow (unset: the suite's must_pass).
    must_pass: bool | None = None
    # Human labels for judged scorers, by scorer name ({faithfulness: pass}): the run reports
    # how often the judge agrees with them (accuracy, Cohen's kappa).
    human: dict[str, Any] = Field(default_factory=dict)
    # Applied to this case's outputs, after the suite's and the prompt's transforms.
    transform: Transforms = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _derive_id(self) -> Case:
        if not self.id:
            content = json.dumps({"vars": self.vars, "expected": self.expected}, sort_keys=True, default=str)
            object.__setattr__(self, "id", "case-" + hashlib.sha256(content.encode()).hexdigest()[:10])
        return self


class Suite(Strict):
    name: str
    description: str = ""
    prompts: list[PromptSpec] = Field(min_length=1)
    models: list[ModelSpec] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    cases: list[Case] | str
    max_error_rate: float = Field(default=0.1, ge=0, le=1)
    scorers: list[ScorerSpec] = Field(default_factory=list)
    # Every case's passing mark on its weighted score, unless the case sets its own.
    threshold: float | None = Field(default=None, ge=0, le=1)
    # Every case must pass (else the thresholds say how many may fail); a case's own must_pass wins.
    must_pass: bool = False
    # Tools the model may call, and the rounds of calls the harness answers before it stops the loop.
    tools: list[Tool] = Field(default_factory=list)
    tool_choice: ToolChoice | None = None
    max_tool_rounds: int = Field(default=4, ge=1)
    response_format: ResponseFormat | None = None
    # Applied to every trial's output before it is scored (then the prompt's, then the case's).
    transform: Transforms = Field(default_factory=list)
    # The model behind judge scorers (a litellm model string or `local`); else the default model.
    judge: ModelSpec | None = None
    # Python expressions over the suite's named metrics, in order (see harness.derived_metrics).
    derived_metrics: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, float | Bound] = Field(default_factory=dict)
    gates: Gates = Field(default_factory=Gates)
    repeats: int = Field(default=1, ge=1)
    tags: list[str] = Field(default_factory=list)
    plugins: list[str] = Field(default_factory=list)
    # Folders outside the project this suite may read templates, data or plugins from (see harness.files).
    allow_outside: list[str] = Field(default_factory=list)
    path: Path | None = None
    # Where in the files each part was written ("prompts.<id>", "cases.<id>", "scorers.<i>", "models.<id>"):
    # set by harness.suite, so that problems found later still name the file and line.
    _where: dict[str, tuple[str, int | None]] = PrivateAttr(default_factory=dict)

    _params_types = field_validator("params")(classmethod(lambda cls, v: check_params(v)))

    def where(self, part: str) -> int | None:
        """The line in the suite file where ``part`` was written (see _where)."""
        found = self._where.get(part)
        return found[1] if found and found[0] == str(self.path) else None

    def located(self, part: str) -> tuple[str | None, int | None]:
        """The file and line where ``part`` was written: the suite file, or a data file's row."""
        return self._where.get(part, (str(self.path) if self.path else None, None))

    @property
    def directory(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def scorers_for(self, case: Case) -> list[ScorerSpec]:
        """The suite's scorers and the case's own, which add to them (as promptfoo's defaultTest and a test's
        asserts do), or only the case's own with ``inherit_scorers: false``."""
        own = case.scorers or []
        return [*self.scorers, *own] if case.inherit_scorers else list(own)

    def threshold_for(self, case: Case) -> float | None:
        return case.threshold if case.threshold is not None else self.threshold

    def transform_for(self, prompt_id: str, case: Case) -> list[str | dict[str, Any]]:
        """The steps a trial's output goes through before scoring: the suite's, then its prompt's, then its
        case's, each seeing what the one before left (they chain: a later one never replaces an earlier one)."""
        prompt = next((p for p in self.prompts if p.id == prompt_id), None)
        return [*self.transform, *(prompt.transform if prompt else []), *case.transform]

    def must_pass_for(self, case: Case) -> bool:
        return case.must_pass if case.must_pass is not None else self.must_pass


SCORER_METRICS = ("mean", "pass_rate", "accuracy", "macro_f1", "agreement", "kappa")
RUN_METRICS = ("pass_rate", "error_rate", "latency_p50_ms", "latency_p95_ms", "cost_usd")


def _all_scorers(suite: Suite) -> list[ScorerSpec]:
    """The suite's scorers and its cases' own (not a group's members: a group's score is its own)."""
    return list(suite.scorers) + [s for c in suite.cases if isinstance(c, Case) for s in c.scorers or []]


def scorer_names(suite: Suite) -> list[str]:
    """The names the suite's scores are kept under (the suite's scorers' and its cases' own)."""
    return list(dict.fromkeys(spec.name for spec in _all_scorers(suite)))


def named_metrics(suite: Suite) -> list[str]:
    """The named metrics the suite's scorers count under as well (their ``metric:``), in the order written."""
    return list(dict.fromkeys(spec.metric for spec in _all_scorers(suite) if spec.metric))


def metric_names(suite: Suite) -> list[str]:
    """Every metric a threshold may name for this suite: a scorer's and a named metric's figures alike."""
    pooled = [*scorer_names(suite), *named_metrics(suite)]
    names = [*RUN_METRICS, *(f"{name}.{m}" for name in pooled for m in SCORER_METRICS)]
    return [*names, *suite.derived_metrics]

