"""Planning a run: the models and judges it uses, and every trial (case x prompt x model x repeat), rendered.

Every trial is rendered before the first model call, so a template error costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import messages, prompts, providers
from harness.errors import HarnessError, did_you_mean
from harness.messages import ChatPrompt
from harness.providers import default_model, request_params
from harness.providers.call import RetryPolicy
from harness.scorers.judge import judge_models
from harness.spec import CONNECTION_PARAMS, Case, ModelSpec, Suite


@dataclass(frozen=True)
class Trial:
    """One (case, prompt, model, repeat) to run, already rendered: the first request's messages and request
    parameters (the prompt's tools among them), and the case's later user turns."""

    case: Case
    prompt_id: str
    model: ModelSpec
    repeat: int
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    chat: ChatPrompt | None = None
    turns: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RunOptions:
    models: Sequence[str] = ()
    prompts: Sequence[str] = ()
    repeats: int | None = None
    limit: int | None = None
    # Only these (case id, prompt id, model id) run, when given (how pytest -k narrows a suite).
    only: frozenset[tuple[str, str, str]] | None = None
    concurrency: int = 8
    use_cache: bool = True
    cache_path: Path | str | None = None  # a redis:// URL shares the cache; None: $HARNESS_CACHE_URL, else SQLite
    out_dir: Path | None = None
    reports_dir: Path = Path("reports")
    baseline: Path | None = None
    # The model behind judge scorers (overrides the suite's judge:).
    judge: str | None = None
    # Continue the run in out_dir: trials already recorded there are not run again.
    resume: bool = False
    # Worker processes for the calls (None: one per core, when there are enough calls and the models are remote).
    workers: int | None = None
    # (index, count) of this process among the run's workers: its share of every limit.
    worker: tuple[int, int] = (0, 1)
    # Send the calls through the provider's batch API (see harness.run.batch), polling every batch_poll_s.
    batch: bool = False
    batch_poll_s: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        """Folders may be given as text (as from Python callers); one model or prompt as a bare string."""
        for name in ("out_dir", "reports_dir", "baseline"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, Path(getattr(self, name)))
        for name in ("models", "prompts"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, (getattr(self, name),))


def resolve_models(suite: Suite, names: Sequence[str] | str = ()) -> tuple[list[ModelSpec], str]:
    """The models to run, each with the suite's params under its own, and why these.

    --model replaces the suite's models: a suite model's id picks that model as configured;
    ``ROLE=MODEL`` runs MODEL in the place of ROLE (its results keep ROLE as model id), which
    is how a model upgrade lines up with a baseline of the old model; any other model string
    replaces only the model, keeping the request params the suite's models share (temperature,
    max_tokens, ...; not where or how to reach them). With neither, the default model.
    """
    names = [names] if isinstance(names, str) else list(names)
    by_id = {m.id: m for m in suite.models}
    if names:
        specs = []
        for name in names:
            role, equals, model = name.partition("=")
            if not name.strip() or (equals and not (role.strip() and model.strip())):
                raise HarnessError(f"--model '{name}': give a model string, or OLD=NEW with both sides",
                                   hint="e.g. --model openai/gpt-4o-mini, or --model gpt-4o-mini=openai/gpt-4.1-mini")
            base = by_id.get(role)
            if model:
                specs.append(ModelSpec(id=role, model=model, params=base.params if base else {}))
            else:
                specs.append(base or ModelSpec(model=name, params=_shared_params(suite.models)))
        reason = "from --model"
    elif suite.models:
        specs, reason = list(suite.models), "from the suite"
    else:
        name, reason = default_model()
        if not name.strip():
            raise HarnessError("HARNESS_MODEL is set but empty", hint="unset it, or name a model")
        specs = [ModelSpec(model=name)]
    ids = [s.id for s in specs]
    for i, model_id in enumerate(ids):
        if model_id in ids[:i]:
            raise HarnessError(f"model '{model_id}' is given twice", hint="give each model a distinct id")
    return [s.model_copy(update={"params": {**suite.params, **s.params}}) for s in specs], reason


def _shared_params(models: Sequence[ModelSpec]) -> dict[str, Any]:
    """The request params every one of the suite's models sets alike, without where and how to reach them."""
    if not models:
        return {}
    first, *others = models
    return {key: value for key, value in first.params.items() if key not in CONNECTION_PARAMS
            and all(key in m.params and m.params[key] == value for m in others)}


def check_models(suite: Suite, models: Sequence[ModelSpec], reason: str) -> list[str]:
    """Every model and judge of the run checked without calling it (see harness.providers.check): an unknown
    one is a HarnessError saying where it was named; missing credentials are returned as warnings."""
    warnings = []
    for spec in [*models, *judge_models(suite)]:
        try:
            warnings += providers.check(spec)
        except HarnessError as exc:
            line = suite.where(f"models.{spec.id}")
            if line is not None:
                exc.file, exc.line = str(suite.path), line
            elif reason.startswith("from HARNESS_MODEL"):
                exc.message += " (the model named by HARNESS_MODEL)"
            raise HarnessError(exc.message, file=exc.file, line=exc.line, hint=exc.hint) from None
    return warnings


def plan(suite: Suite, models: Sequence[ModelSpec], options: RunOptions) -> list[Trial]:
    """Every trial of the run, rendered (each case once per prompt, its later turns too). Raises HarnessError on the
    first template problem, naming the template's line and the case."""
    compiled = messages.compile_prompts(suite)
    prompt_ids = list(options.prompts) or list(compiled)
    for wanted in prompt_ids:
        if wanted not in compiled:
            raise HarnessError(f"no prompt '{wanted}' in the suite{did_you_mean(wanted, compiled)}",
                               file=suite.path, hint="prompts: " + ", ".join(compiled))
    repeats = options.repeats or suite.repeats
    roots = prompts.allowed_roots(suite)
    rendered: dict[tuple[str, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    trials = []
    for model in models:
        for prompt_id in prompt_ids:
            chat = compiled[prompt_id]
            params = {**request_params(model), **messages.tools_param(chat)}
            for case in suite.cases[: options.limit]:
                if options.only is not None and (case.id, prompt_id, model.id) not in options.only:
                    continue
                if (prompt_id, case.id) not in rendered:
                    rendered[(prompt_id, case.id)] = _rendered(suite, chat, case, roots)
                first, turns = rendered[(prompt_id, case.id)]
                _check_request(suite, model, prompt_id, case, first, params)
                trials.extend(Trial(case, prompt_id, model, r, first, params, chat, turns) for r in range(repeats))
    return trials


def _rendered(suite: Suite, chat: ChatPrompt, case: Case, roots: list[Path]) -> tuple[list[Any], list[Any]]:
    """A case's first request and later turns; a template error on a case from a data file also names its row
    (a case without an id is known by a hash of its content, which says nothing of where it is)."""
    try:
        return (messages.render(chat, case, suite.directory, roots),
                [messages.render_turn(turn, case, chat, n) for n, turn in enumerate(case.turns, start=1)])
    except HarnessError as exc:
        file, line = suite.located(f"cases.{case.id}")
        if not (file and line and suite.path and Path(file) != suite.path):
            raise
        raise HarnessError(f"{exc.message} (the case at {Path(file).name}:{line})", file=exc.file, line=exc.line,
                           hint=exc.hint) from None


def _check_request(suite: Suite, model: ModelSpec, prompt_id: str, case: Case, messages: list[dict[str, Any]],
                   params: dict[str, Any]) -> None:
    """The first request of the case made as its provider would make it (an http: model's body rendered and
    checked), so a body that fails for a case fails here, at validate, naming the case."""
    try:
        providers.request_of(model, messages, params, case.vars)
    except HarnessError as exc:
        raise HarnessError(f"model '{model.id}', prompt '{prompt_id}', case '{case.id}': {exc.message}",
                           file=suite.path, line=suite.where(f"models.{model.id}"), hint=exc.hint) from None
