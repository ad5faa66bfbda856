"""The suite schema: typed, frozen records of what a ``suites/*.yaml`` file may say.

Pure data and its own rules (types, ranges, defaults, derived ids); reading files and mapping
errors back to YAML lines is harness.suite's job.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from harness.chat import Message, MessageItem, ResponseFormat, Tool, ToolChoice


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScorerSpec(_Strict):
    """One scorer as the suite names it: ``label`` or ``{type: label, labels: [...], threshold: 0.5}``.

    Keys other than type/name/threshold/weight/not are the scorer's own arguments; they are
    checked against the scorer's signature at load. ``name`` is the metric the scores are
    reported (and thresholded) under; ``not: true`` negates the scorer; ``weight`` is its
    share of the trial's weighted score (0: reported, never decides the verdict).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: str
    name: str = ""
    threshold: float | None = Field(default=None, ge=0, le=1)
    weight: float = Field(default=1.0, ge=0)
    negate: bool = Field(default=False, alias="not")
    # Which of a conversation's answers it scores: the Nth (from 0), each ("all"), or (None) the last.
    turn: int | Literal["all"] | None = Field(default=None)
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_args(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"type": data}
        if isinstance(data, dict) and "args" not in data:
            own = {k: data[k] for k in ("type", "name", "threshold", "weight", "not", "negate", "turn") if k in data}
            own["args"] = {k: v for k, v in data.items() if k not in own}
            return own
        return data

    @model_validator(mode="after")
    def _default_name(self) -> ScorerSpec:
        if not self.name:
            object.__setattr__(self, "name", self.type)
        return self


class PromptSpec(_Strict):
    """A prompt variant: a Jinja template file under ``prompts/``, inline ``text``, or chat ``messages`` (a list,
    or a YAML/JSON file holding one). Its own tools, tool choice, response format and tool rounds replace
    the suite's."""

    id: str
    template: str | None = None
    text: str | None = None
    messages: list[MessageItem] | str | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    max_tool_rounds: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"id": Path(data).stem, "template": data}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> PromptSpec:
        if sum(source is not None for source in (self.template, self.text, self.messages)) != 1:
            raise ValueError("give exactly one of 'template' (a file under prompts/), 'text' (inline) "
                             "or 'messages' (a chat)")
        return self


# Request parameters whose type we know: a wrong one fails at load, not on every call.
KNOWN_PARAMS: dict[str, tuple[type, ...]] = {
    "temperature": (int, float), "top_p": (int, float), "max_tokens": (int,), "max_completion_tokens": (int,),
    "seed": (int,), "n": (int,), "presence_penalty": (int, float), "frequency_penalty": (int, float),
    "timeout": (int, float), "stop": (str, list), "api_base": (str,), "base_url": (str,), "api_key": (str,),
}
URL_PARAMS = ("api_base", "base_url")
# Params whose values are credentials: an error about one never shows its value.
SECRET_PARAMS = ("api_key",)
# Params that say where and how to reach one model's server: they never carry over to another model.
CONNECTION_PARAMS = (*URL_PARAMS, *SECRET_PARAMS, "api_version", "extra_headers")


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """Known params have their types (a number where a number belongs), base URLs are URLs; the error names the key."""
    for name, types in KNOWN_PARAMS.items():
        value = params.get(name)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            kinds = " or ".join("number" if t is float else {int: "integer", str: "text", list: "list"}[t]
                                for t in types if not (t is int and float in types))
            shown = "" if name in SECRET_PARAMS else f", not {value!r}"
            raise PydanticCustomError("param", "must be {kinds}{shown}", {"key": name, "kinds": kinds, "shown": shown})
    for name in URL_PARAMS:
        value = params.get(name)
        if isinstance(value, str) and not value.startswith(("http://", "https://")):
            raise PydanticCustomError("param", "must be an http:// or https:// URL, not {value}",
                                      {"key": name, "value": repr(value)})
    return params


class ModelSpec(_Strict):
    """A model under test: any litellm model string, or ``local`` for the bundled model."""

    id: str = ""
    model: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    # Read tool calls the model writes as JSON in its text (small self-hosted models do; on for `local`).
    tool_calls_from_text: bool = False
    # Limits for this model: requests at once (else the run's -j), requests and tokens per minute.
    concurrency: int | None = Field(default=None, ge=1)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"model": data}
        return data

    _params_types = field_validator("params")(classmethod(lambda cls, v: check_params(v)))

    @model_validator(mode="after")
    def _default_id(self) -> ModelSpec:
        if not self.id:
            object.__setattr__(self, "id", self.model)
        return self


class Bound(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _can_be_met(self) -> Bound:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}: no value can meet it")
        return self


class Gates(_Strict):
    """When a run compared with its baseline fails (exit 1). Floors on the run's own metrics are `thresholds`."""

    max_regressions: int | None = Field(default=None, ge=0)
    max_regression_rate: float | None = Field(default=None, ge=0, le=1)
    # A metric that falls significantly (Holm-corrected p < alpha) by more than this fails the gate.
    max_drop: float | None = Field(default=0.0, ge=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    # A trial whose score falls by more than this counts as a regression even if it still passes.
    score_tolerance: float = Field(default=0.1, ge=0, le=1)


class Case(_Strict):
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
    scorers: list[ScorerSpec] | None = None
    # Passing mark for the weighted mean of the case's scores; when unset every scorer must pass.
    threshold: float | None = Field(default=None, ge=0, le=1)
    # This case fails the run when it does not pass, whatever the thresholds allow (unset: the suite's must_pass).
    must_pass: bool | None = None
    # Human labels for judged scorers, by scorer name ({faithfulness: pass}): the run reports
    # how often the judge agrees with them (accuracy, Cohen's kappa).
    human: dict[str, Any] = Field(default_factory=dict)

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


class Suite(_Strict):
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
    # The model behind judge scorers (a litellm model string or `local`); else the default model.
    judge: ModelSpec | None = None
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
        """A case's own scorers replace the suite's defaults."""
        return case.scorers if case.scorers is not None else self.scorers

    def threshold_for(self, case: Case) -> float | None:
        return case.threshold if case.threshold is not None else self.threshold

    def must_pass_for(self, case: Case) -> bool:
        return case.must_pass if case.must_pass is not None else self.must_pass


SCORER_METRICS = ("mean", "pass_rate", "accuracy", "macro_f1", "agreement", "kappa")
RUN_METRICS = ("pass_rate", "error_rate", "latency_p50_ms", "latency_p95_ms", "cost_usd")


def metric_names(suite: Suite) -> list[str]:
    """Every metric a threshold may name for this suite."""
    names = list(RUN_METRICS)
    specs = list(suite.scorers) + [s for c in suite.cases if isinstance(c, Case) for s in c.scorers or []]
    for spec in specs:
        names += [f"{spec.name}.{m}" for m in SCORER_METRICS]
    return list(dict.fromkeys(names))

