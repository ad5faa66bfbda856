"""The suite schema: typed, frozen records of what a ``suites/*.yaml`` file may say.

Pure data and its own rules (types, ranges, defaults, derived ids); reading files and mapping
errors back to YAML lines is harness.suite's job.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from harness.chat import Message, MessageItem, ResponseFormat, Tool, ToolChoice


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_steps(value: Any) -> Any:
    """``transform: strip`` is a list of one step; nothing (null) is no step."""
    steps = [] if value is None else value if isinstance(value, list) else [value]
    for step in steps:
        if not isinstance(step, str | dict):
            raise ValueError(f"a transform step is a name (such as strip) or a mapping (such as {{json_path: $.a}}), "
                             f"not {step!r}")
    return steps


# An output transform as the suite writes it: steps applied in order, each a name (``strip``) or a one-key mapping
# (``{json_path: $.a}``). Their names and arguments are checked, and compiled, when the suite loads
# (harness.scorers.transforms); here they stay as written, so that a suite dumped and read back is the same.
Transforms = Annotated[list[str | dict[str, Any]], BeforeValidator(_as_steps)]

OWN_SCORER_KEYS = ("type", "name", "metric", "threshold", "weight", "not", "negate", "turn", "transform", "any",
                   "all")
GROUPS = ("any", "all")


class ScorerSpec(_Strict):
    """One scorer as the suite names it: ``label`` or ``{type: label, labels: [...], threshold: 0.5}``.

    Keys other than type/name/threshold/weight/not are the scorer's own arguments; they are
    checked against the scorer's signature at load. ``name`` is the metric the scores are
    reported (and thresholded) under; ``not: true`` negates the scorer; ``weight`` is its
    share of the trial's weighted score (0: reported, never decides the verdict).

    A group, ``{any: [scorer, ...]}`` or ``{all: [...]}``, is one scorer made of its members (full scorer specs,
    groups too): its type is ``any`` or ``all`` and it takes no arguments (see harness.scorers.groups).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: str
    name: str = ""
    # The metric its scores are reported and thresholded under, when not its name (a scorer whose own argument
    # is called `name`, as tool_call's is, takes its name from there, and this names its metric).
    metric: str = ""
    # The name: as the suite wrote it (set from name; not read from the suite as such).
    written_name: str | None = Field(default=None, exclude=True)
    threshold: float | None = Field(default=None, ge=0, le=1)
    weight: float = Field(default=1.0, ge=0)
    negate: bool = Field(default=False, alias="not")
    # Which of a conversation's answers it scores: the Nth (from 0), each ("all"), or (None) the last.
    turn: int | Literal["all"] | None = Field(default=None)
    # Applied to the output this scorer alone sees, after the trial's own transforms.
    transform: Transforms = Field(default_factory=list)
    arguments: dict[str, Any] = Field(default_factory=dict)
    # A group's members: it passes when any of them does, or all of them (see harness.scorers.groups).
    any: list[ScorerSpec] | None = None
    all: list[ScorerSpec] | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_args(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"type": data}
        if isinstance(data, dict):
            own = {k: data[k] for k in OWN_SCORER_KEYS if k in data}
            rest = {k: v for k, v in data.items() if k not in own}
            group = next((key for key in GROUPS if key in data), None)
            if group and "type" not in own:
                own["type"] = group
            own["written_name"] = data["name"] if isinstance(data.get("name"), str) and data["name"] else None
            if set(rest) == {"arguments"} and isinstance(rest["arguments"], dict):  # already split (a dump)
                return {**own, "arguments": rest["arguments"]}
            return {**own, "arguments": rest}
        return data

    # pydantic may run a recursive model's after-validators twice on one instance: these must not mind.
    @model_validator(mode="after")
    def _default_name(self) -> ScorerSpec:
        if self.metric or not self.name:
            object.__setattr__(self, "name", self.metric or self.name or self.type)
        return self

    @model_validator(mode="after")
    def _one_group(self) -> ScorerSpec:
        given = [key for key in GROUPS if getattr(self, key) is not None]
        if len(given) > 1:
            raise ValueError("a group is either 'any' or 'all', not both: nest one in the other")
        if given and self.type != given[0]:
            raise ValueError(f"a group ({given[0]}: [...]) has no type: its members have theirs")
        if given and not self.members:
            raise PydanticCustomError("group", "a group needs at least one scorer in its list", {"key": given[0]})
        return self

    @property
    def group(self) -> str | None:
        """``any`` or ``all`` for a group, None for a scorer."""
        return self.type if self.any is not None or self.all is not None else None

    @property
    def members(self) -> list[ScorerSpec]:
        return self.any or self.all or []

    def leaves(self) -> list[ScorerSpec]:
        """The scorers it runs: itself, or its members' leaves (a group's groups included)."""
        return [leaf for member in self.members for leaf in member.leaves()] if self.group else [self]


class PromptSpec(_Strict):
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


# Request parameters whose type we know: a wrong one fails at load, not on every call.
KNOWN_PARAMS: dict[str, tuple[type, ...]] = {
    "temperature": (int, float), "top_p": (int, float), "max_tokens": (int,), "max_completion_tokens": (int,),
    "seed": (int,), "n": (int,), "presence_penalty": (int, float), "frequency_penalty": (int, float),
    "timeout": (int, float), "stop": (str, list), "api_base": (str,), "base_url": (str,), "api_key": (str,),
}
URL_PARAMS = ("api_base", "base_url")
# Params whose values are credentials: an error about one never shows its value.
SECRET_PARAMS = ("api_key",)


def check_reference(target: str | None) -> str | None:
    """A Python function's reference, ``file.py:function`` or ``module:function`` (None passes)."""
    where, colon, name = (target or "").rpartition(":")
    if target is not None and not (colon and where.strip() and name.isidentifier()):
        raise ValueError(f"write the function as file.py:function or module:function, not {target!r}")
    return target


def check_json_path(path: str) -> str:
    """``path`` if it is a JSONPath (jsonpath-ng's extended syntax), else a ValueError saying where it is not."""
    from harness.jsonpaths import compile_path

    compile_path(path)
    return path


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


HTTP_METHODS = ("POST", "PUT", "PATCH", "GET")


class HttpSpec(_Strict):
    """Any JSON HTTP endpoint as a model: the request (``${ENV}`` references in the URL and headers, the body a
    sandboxed Jinja template over messages, vars, params and prompt) and JSONPaths to the answer in its response.
    Templates and paths are parsed here, so a syntax error fails at load at its own line."""

    url: str = Field(min_length=1)
    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    # JSON text (a template), or a mapping/list whose strings are templates; None: {"messages": ..., **params}.
    body: str | dict[str, Any] | list[Any] | None = None
    output: str
    usage: dict[Literal["prompt_tokens", "completion_tokens"], str] = Field(default_factory=dict)
    tool_calls: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method.upper() not in HTTP_METHODS:
            raise ValueError(f"method is one of {', '.join(HTTP_METHODS)}, not {method!r}")
        return method.upper()

    @field_validator("url")
    @classmethod
    def _a_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://", "${")):
            raise ValueError(f"url must start with http:// or https://, not {url!r}")
        return url

    @field_validator("body")
    @classmethod
    def _templates_parse(cls, body: Any) -> Any:
        for text in _strings(body):
            check_template_syntax(text)
        return body

    @field_validator("output", "tool_calls")
    @classmethod
    def _a_path(cls, path: str | None) -> str | None:
        return path if path is None else check_json_path(path)

    @field_validator("usage")
    @classmethod
    def _paths(cls, usage: dict[str, str]) -> dict[str, str]:
        return {name: check_json_path(path) for name, path in usage.items()}


def _strings(value: Any) -> list[str]:
    """Every string in a YAML value (a body's templates)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return [s for v in value for s in _strings(v)] if isinstance(value, list) else []


def check_template_syntax(source: str) -> str:
    """``source`` if Jinja can parse it, else a ValueError naming the line of the template."""
    import jinja2

    try:
        jinja2.Environment().parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"template syntax error (line {exc.lineno} of the template): {exc.message}") from None
    return source


class ModelSpec(_Strict):
    """A model under test: any litellm model string, ``local`` for the bundled model, an ``http:`` endpoint or a
    ``python:`` function (``file.py:function`` or ``module:function``), which set ``model`` to ``http``/``python``."""

    id: str = ""
    model: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    http: HttpSpec | None = None
    python: str | None = None
    # Read tool calls the model writes as JSON in its text (small self-hosted models do; on for `local`).
    tool_calls_from_text: bool = False
    # Limits for this model: requests at once (else the run's -j), requests and tokens per minute.
    concurrency: int | None = Field(default=None, ge=1)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)

    # The python: model's function, once the suite has imported it (see harness.suite).
    _function: Any = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"model": data}
        if isinstance(data, dict) and "model" not in data:
            kinds = [kind for kind in ("http", "python") if data.get(kind) is not None]
            if len(kinds) > 1:
                raise ValueError("a model is http: or python:, not both")
            if kinds:
                return {**data, "model": kinds[0]}
        return data

    _params_types = field_validator("params")(classmethod(lambda cls, v: check_params(v)))
    _python_reference = field_validator("python")(classmethod(lambda cls, v: check_reference(v)))

    @model_validator(mode="after")
    def _default_id(self) -> ModelSpec:
        for kind in ("http", "python"):
            if getattr(self, kind) is not None and self.model != kind:
                raise ValueError(f"an {kind} model is written `{kind}: ...` alone, without model:")
        if not self.id:
            object.__setattr__(self, "id", self.python or self.model)
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
    # The case's own scorers: they add to the suite's, unless inherit_scorers is false (then they are all it has).
    scorers: list[ScorerSpec] | None = None
    inherit_scorers: bool = True
    # Passing mark for the weighted mean of the case's scores; when unset every scorer must pass.
    threshold: float | None = Field(default=None, ge=0, le=1)
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


SCORER_METRICS = ("mean", "pass_rate", "accuracy", "macro_f1", "agreement", "kappa")
RUN_METRICS = ("pass_rate", "error_rate", "latency_p50_ms", "latency_p95_ms", "cost_usd")


def scorer_names(suite: Suite) -> list[str]:
    """The names the suite's scores are kept under (the suite's scorers' and its cases' own)."""
    specs = list(suite.scorers) + [s for c in suite.cases if isinstance(c, Case) for s in c.scorers or []]
    return list(dict.fromkeys(spec.name for spec in specs))


def metric_names(suite: Suite) -> list[str]:
    """Every metric a threshold may name for this suite."""
    names = [*RUN_METRICS, *(f"{name}.{m}" for name in scorer_names(suite) for m in SCORER_METRICS)]
    return [*names, *suite.derived_metrics]

