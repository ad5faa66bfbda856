"""Running a suite: expand trials, answer what the cache can, call models for the rest, score, store.

Every trial is rendered before the first model call, so a template error costs nothing.
Cached trials are answered without opening any endpoint: a fully cached re-run neither
imports litellm nor starts the local model.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.metadata
import platform
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from harness import batch, prompts, scorers, workers
from harness.cache import Cache, cache_key, open_cache
from harness.compare import Outcome, compare_to_baseline, compare_variants, load_outcomes, outcomes
from harness.errors import HarnessError, did_you_mean
from harness.limits import Throttle, split
from harness.metrics import check_thresholds, summarize
from harness.models import (
    LOCAL,
    EndpointPool,
    ModelSpec,
    Response,
    RetryPolicy,
    complete,
    default_model,
    litellm_module,
    model_identity,
    public_params,
    remote,
    request_params,
    tuned_for_calls,
)
from harness.report import write_report
from harness.results import (
    REPORT_FILE,
    SUMMARY_FILE,
    ResultsWriter,
    Run,
    TrialResult,
    load_run,
    read_results,
    rewrite_results,
    write_manifest,
)
from harness.suite import Bound, Case, Suite, load_suite
from harness.summary import run_summary


@dataclass(frozen=True)
class Trial:
    """One (case, prompt, model, repeat) to run, already rendered."""

    case: Case
    prompt_id: str
    model: ModelSpec
    repeat: int
    messages: list[dict[str, str]]
    params: dict[str, Any]


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
    # Send the calls through the provider's batch API (see harness.batch), polling every batch_poll_s.
    batch: bool = False
    batch_poll_s: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class Observer(Protocol):
    """Told what a run will do and each result as it lands (the CLI draws its progress bar from this)."""

    def planned(self, suite: Suite, models: Sequence[ModelSpec], models_reason: str, trials: int) -> None: ...

    def finished(self, result: TrialResult) -> None: ...


def resolve_models(suite: Suite, names: Sequence[str] | str = ()) -> tuple[list[ModelSpec], str]:
    """The models to run, each with the suite's params under its own, and why these.

    --model replaces the suite's models: a suite model's id picks that model as configured;
    ``ROLE=MODEL`` runs MODEL in the place of ROLE (its results keep ROLE as model id), which
    is how a model upgrade lines up with a baseline of the old model. With neither, the
    default model.
    """
    names = [names] if isinstance(names, str) else list(names)
    by_id = {m.id: m for m in suite.models}
    if names:
        specs = []
        for name in names:
            role, _, model = name.partition("=") if "=" in name else (name, "", "")
            base = by_id.get(role)
            if model:
                specs.append(ModelSpec(id=role, model=model, params=base.params if base else {}))
            else:
                specs.append(base or ModelSpec(model=name))
        reason = "from --model"
    elif suite.models:
        specs, reason = list(suite.models), "from the suite"
    else:
        name, reason = default_model()
        specs = [ModelSpec(model=name)]
    ids = [s.id for s in specs]
    for i, model_id in enumerate(ids):
        if model_id in ids[:i]:
            raise HarnessError(f"model '{model_id}' is given twice", hint="give each model a distinct id")
    return [s.model_copy(update={"params": {**suite.params, **s.params}}) for s in specs], reason


# A judge should be deterministic and have room for its reasoning; the suite's judge params override these.
JUDGE_PARAMS = {"temperature": 0, "max_tokens": 400}


def resolve_judge(suite: Suite, name: str | None = None) -> ModelSpec:
    """The judge model: --judge, else the suite's ``judge:``, else the default model (the bundled one without keys)."""
    if name:
        return judge_spec(ModelSpec(model=name))
    return judge_spec(suite.judge or ModelSpec(model=default_model()[0]))


def judge_spec(spec: ModelSpec) -> ModelSpec:
    """A model as a judge: deterministic, room for its reasoning; the spec's own params win."""
    defaults = dict(JUDGE_PARAMS)
    if spec.model == LOCAL:
        # llama.cpp constrains the small model to valid JSON (far fewer unreadable verdicts), and a
        # shorter leash stops it rambling: the verdict comes first, so a cut-off reply is still read.
        defaults.update(response_format={"type": "json_object"}, max_tokens=200)
    return spec.model_copy(update={"params": {**defaults, **spec.params}})


def judge_models(suite: Suite, options: RunOptions) -> list[ModelSpec]:
    """Every judge the suite's scorers may ask: the run's judge, and any a scorer names with ``model:``."""
    specs = [*suite.scorers, *(s for c in suite.cases for s in c.scorers or [])]
    judged = [s for s in specs if scorers.resolve(s, base=suite.directory).uses_judge]
    if not judged:
        return []
    run_judge = resolve_judge(suite, options.judge)
    models = {run_judge.model: run_judge}
    for spec in judged:
        if spec.args.get("model"):
            models.setdefault(spec.args["model"], judge_spec(ModelSpec(model=spec.args["model"])))
    return list(models.values())


class Caller:
    """Model calls for one run (or one worker's share of it): the cache, each model's throttle (concurrency
    that adapts to 429s, requests and tokens per minute), the run's overall concurrency, retries."""

    def __init__(self, options: RunOptions, pool: EndpointPool, cache: Cache | None):
        self.options, self.pool, self.cache = options, pool, cache
        self.limit = asyncio.Semaphore(options.concurrency)
        self.throttles: dict[str, Throttle] = {}

    def throttle(self, spec: ModelSpec) -> Throttle:
        if spec.id not in self.throttles:
            index, count = self.options.worker
            self.throttles[spec.id] = Throttle(
                split(spec.concurrency, index, count) if spec.concurrency else self.options.concurrency,
                rpm=spec.rpm / count if spec.rpm else None, tpm=spec.tpm / count if spec.tpm else None,
                shared=self.limit)
        return self.throttles[spec.id]

    async def call(self, spec: ModelSpec, messages: list[dict[str, str]], params: dict[str, Any], key: str) -> Response:
        """The model's answer: from the cache when ``key`` is there, else asked."""
        cached = self.cache.get(key) if self.cache is not None else None
        return cached if cached is not None else await self.ask(spec, messages, params, key)

    async def ask(self, spec: ModelSpec, messages: list[dict[str, str]], params: dict[str, Any], key: str) -> Response:
        """Ask the model (known not to be in the cache), and cache its answer under ``key``."""
        endpoint = await self.pool.get(spec)
        response = await complete(endpoint, messages, params, self.options.retry, throttle=self.throttle(spec))
        if self.cache is not None:
            self.cache.put(key, response)
        return response


class Judges:
    """The run's judge models (see harness.scorers.JudgeClient), called like any model of the run."""

    def __init__(self, default: ModelSpec, caller: Caller):
        self.default, self.caller = default, caller

    def spec(self, model: str | None = None) -> ModelSpec:
        if model is None or model == self.default.model:
            return self.default
        return judge_spec(ModelSpec(model=model))

    def name(self, model: str | None = None) -> str:
        return self.spec(model).model

    async def ask(self, messages: list[dict[str, str]], model: str | None = None) -> Response:
        spec = self.spec(model)
        params = request_params(spec)
        return await self.caller.call(spec, messages, params, cache_key(model_identity(spec), messages, params, 0))


def plan(suite: Suite, models: Sequence[ModelSpec], options: RunOptions) -> list[Trial]:
    """Every trial of the run, rendered. Raises HarnessError on the first template problem."""
    compiled = prompts.compile_prompts(suite)
    prompt_ids = list(options.prompts) or list(compiled)
    for wanted in prompt_ids:
        if wanted not in compiled:
            raise HarnessError(f"no prompt '{wanted}' in the suite{did_you_mean(wanted, compiled)}",
                               file=suite.path, hint="prompts: " + ", ".join(compiled))
    repeats = options.repeats or suite.repeats
    trials = []
    for model in models:
        params = request_params(model)
        for prompt_id in prompt_ids:
            for case in suite.cases[: options.limit]:
                if options.only is not None and (case.id, prompt_id, model.id) not in options.only:
                    continue
                messages = prompts.render(compiled[prompt_id], case)
                trials.extend(Trial(case, prompt_id, model, r, messages, params) for r in range(repeats))
    return trials


def run_suite(suite: Suite | str | Path, options: RunOptions | None = None, *,
              observer: Observer | None = None, **overrides: Any) -> Run:
    """Run a suite end to end and return the stored Run (results, metrics, report path).

    ``run_suite("suites/sentiment.yaml", models=["openai/gpt-4o-mini"], concurrency=16)``
    """
    options = options or RunOptions()
    if overrides:
        if isinstance(overrides.get("models"), str):
            overrides["models"] = [overrides["models"]]
        options = RunOptions(**{**options.__dict__, **overrides})
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    models, models_reason = resolve_models(suite, options.models)
    trials = plan(suite, models, options)
    baseline = _load_baseline(options.baseline, suite, trials) if options.baseline else None
    pending = trials
    if options.resume:
        recorded = read_results(options.out_dir)
        rewrite_results(options.out_dir, recorded)  # drops a line torn by the kill, so appending stays valid
        done = {(r.case_id, r.prompt_id, r.model_id, r.repeat) for r in recorded}
        pending = [t for t in trials if (t.case.id, t.prompt_id, t.model.id, t.repeat) not in done]
    elif options.out_dir and options.out_dir.exists() and (
            not options.out_dir.is_dir() or any(options.out_dir.iterdir())):
        raise HarnessError(f"--out {options.out_dir} already exists and is not an empty folder",
                           hint="choose a new --out folder, or --resume it")
    if observer is not None:
        observer.planned(suite, models, models_reason, len(pending))
    directory = options.out_dir or _new_run_directory(options.reports_dir, suite.name)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(suite, models, models_reason, options, len(trials))
    write_manifest(directory, manifest)

    writer = ResultsWriter(directory)
    try:
        _execute_run(suite, pending, options, writer, observer, manifest)
        manifest["status"] = "completed"
    except KeyboardInterrupt:
        manifest["status"] = "interrupted"
        raise
    except BaseException:
        manifest["status"] = "failed"
        raise
    finally:
        # Whatever happened, what completed is aggregated and reported.
        writer.close()
        _finish(directory, manifest, suite, trials, baseline)
        run = load_run(directory)
        write_report(run, directory / REPORT_FILE)
        (directory / SUMMARY_FILE).write_text(run_summary(run.manifest), encoding="utf-8")
    return run


def resume_run(directory: str | Path, options: RunOptions | None = None, *, observer: Observer | None = None) -> Run:
    """Complete a run that was interrupted or killed: only the trials not yet in its results.jsonl are run."""
    directory = Path(directory)
    manifest = load_run(directory).manifest
    config, suite_path = manifest.get("config", {}), manifest.get("suite", {}).get("path")
    if suite_path is None or "plan" not in config:
        raise HarnessError("this run cannot be resumed (it records no suite file or plan)", file=directory)
    plan_ = config["plan"]
    options = RunOptions(**{**(options or RunOptions()).__dict__, "models": plan_["models"],
                            "prompts": plan_["prompts"], "repeats": plan_["repeats"], "limit": plan_["limit"],
                            "judge": plan_.get("judge"), "batch": plan_.get("batch", False),
                            "out_dir": directory, "resume": True,
                            "baseline": Path(config["baseline"]) if config.get("baseline") else None})
    return run_suite(suite_path, options, observer=observer)


def _run_coroutine(coroutine: Any) -> Any:
    """asyncio.run, also from a thread that already runs an event loop (a Jupyter notebook, playwright)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-run") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _load_baseline(path: Path, suite: Suite, trials: list[Trial]) -> list[Outcome]:
    """The baseline's trials that this run could match: those --prompt, --model or --limit left out are not
    'removed' (a case no longer in the suite is)."""
    items, baseline_suite = load_outcomes(path)
    if baseline_suite and baseline_suite != suite.name:
        raise HarnessError(f"the baseline is of suite '{baseline_suite}', not '{suite.name}'", file=path,
                           hint="compare with a baseline of the same suite (harness compare works across suites)")
    planned = {(t.case.id, t.prompt_id, t.model.id) for t in trials}
    variants = {(prompt_id, model_id) for _, prompt_id, model_id in planned}
    suite_cases = {c.id for c in suite.cases}
    return [o for o in items if o.variant in variants
            and ((o.case_id, o.prompt_id, o.model_id) in planned or o.case_id not in suite_cases)]


def _execute_run(suite: Suite, trials: list[Trial], options: RunOptions, writer: ResultsWriter,
                 observer: Observer | None, manifest: dict[str, Any]) -> None:
    """Run the trials: in this process, through the batch API, or sharded over worker processes.

    The cache is read once, here: what it (or a batch) answers is passed down as ``known``.
    """
    keys = _cache_keys(trials)
    cache = open_cache(options.cache_path) if options.use_cache else None
    try:
        known = {id(t): r for t in trials if cache is not None and (r := cache.get(keys[id(t)])) is not None}
        uncached = [t for t in trials if id(t) not in known]
        if options.batch and uncached:
            answers = _run_coroutine(batch.answer(uncached, writer.path.parent, poll_s=options.batch_poll_s))
            for trial in uncached if cache is not None else ():
                cache.put(keys[id(trial)], answers[id(trial)])
            known.update(answers)
            uncached = []
    finally:
        if cache is not None:
            cache.close()  # never open across a fork
    # No worker may be left without a slot of the run's, or of a model's, concurrency.
    slots = min([options.concurrency] + [t.model.concurrency for t in uncached if t.model.concurrency])
    count = min(slots, workers.worker_count(options.workers, len(uncached), _shardable(suite, uncached, options)))
    manifest["workers"] = count
    if count == 1:
        _run_coroutine(_execute(suite, trials, options, writer, observer, known, keys))
        return
    answered = [t for t in trials if id(t) in known]
    if answered:
        _run_coroutine(_execute(suite, answered, options, writer, observer, known, keys))
    # Imported once here, the workers inherit litellm (~2 s of import) instead of each importing it anew.
    litellm_module()
    dealer = workers.Dealer(uncached)
    workers.run_sharded(count,
                        lambda index, out: _run_coroutine(workers.first_ctrl_c_only(
                            _execute(suite, uncached, workers.share(options, index, count), out, None, {}, keys,
                                     take=dealer.take))),
                        lambda result: _deliver(result, writer, observer))


def _shardable(suite: Suite, trials: list[Trial], options: RunOptions) -> bool:
    """Worker processes help only for models reached over the network (a local server would start per worker)."""
    specs = {t.model.id: t.model for t in trials}.values()
    return all(remote(spec) for spec in [*specs, *judge_models(suite, options)])


def _cache_keys(trials: list[Trial]) -> dict[int, str]:
    identities = {t.model.id: model_identity(t.model) for t in trials}
    return {id(t): cache_key(identities[t.model.id], t.messages, t.params, t.repeat) for t in trials}


async def _execute(suite: Suite, trials: list[Trial], options: RunOptions, writer: ResultsWriter,
                   observer: Observer | None, known: dict[int, Response], keys: dict[int, str],
                   take: Callable[[], Trial | None] | None = None) -> None:
    """Call, score and record ``trials``; ``known`` answers (from the cache, or a batch) stand in for calls,
    and the others are cached under their ``keys``.

    A worker passes ``take``: it runs the trials the run's other workers have not taken yet, as many at
    once as its share of the concurrency, each taken when one of its own finishes.
    """
    cache = open_cache(options.cache_path) if options.use_cache else None
    try:
        with tuned_for_calls():
            async with EndpointPool() as pool:
                # Endpoints open only for models with calls to make (a missing key fails here, before any call);
                # a judge's opens on its first uncached question.
                for model in {t.model.id: t.model for t in trials if id(t) not in known}.values():
                    await pool.get(model)
                caller = Caller(options, pool, cache)
                judges = Judges(resolve_judge(suite, options.judge), caller)

                async def run_one(trial: Trial) -> None:
                    response = known.get(id(trial)) or await caller.ask(trial.model, trial.messages, trial.params,
                                                                        keys[id(trial)])
                    await _record(suite, trial, response, writer, observer, judges)

                if take is None:
                    await asyncio.gather(*(run_one(t) for t in trials))
                else:
                    async def lane() -> None:
                        while (trial := take()) is not None:
                            await run_one(trial)

                    await asyncio.gather(*(lane() for _ in range(options.concurrency)))
    finally:
        if cache is not None:
            cache.close()


async def _record(suite: Suite, trial: Trial, response: Response, writer: ResultsWriter, observer: Observer | None,
                  judges: Judges) -> None:
    scores: list[scorers.Score] = []
    if response.error is None:
        context = scorers.ScoringContext(response=response, messages=trial.messages, directory=suite.directory,
                                         judge=judges)
        applied = await asyncio.gather(*(scorers.apply(spec, response.text, trial.case, context)
                                         for spec in suite.scorers_for(trial.case)))
        scores = [score for score in applied if score is not None]
    result = TrialResult(case_id=trial.case.id, prompt_id=trial.prompt_id, model_id=trial.model.id,
                         repeat=trial.repeat, messages=trial.messages, vars=trial.case.vars,
                         expected=trial.case.expected, tags=trial.case.tags, response=response, scores=scores,
                         threshold=suite.threshold_for(trial.case))
    _deliver(result, writer, observer)


def _deliver(result: TrialResult, writer: ResultsWriter, observer: Observer | None) -> None:
    """A finished trial: to results.jsonl at once, then to whoever watches the run."""
    writer.write(result)
    if observer is not None:
        observer.finished(result)


def _finish(directory: Path, manifest: dict[str, Any], suite: Suite, trials: list[Trial],
            baseline: list[Outcome] | None) -> None:
    """Put results.jsonl in planned order (stable, diff-friendly), aggregate, and write the final run.json."""
    order = {(t.case.id, t.prompt_id, t.model.id, t.repeat): i for i, t in enumerate(trials)}
    results = sorted(read_results(directory), key=lambda r: order.get((r.case_id, r.prompt_id, r.model_id, r.repeat),
                                                                       len(order)))
    rewrite_results(directory, results)
    variants = summarize(results)
    # Provider errors are kept out of the pass rate, so their rate gets its own limit.
    checks = check_thresholds(variants, {"error_rate": Bound(max=suite.max_error_rate), **suite.thresholds})
    comparison = compare_to_baseline(baseline, outcomes(results), suite.gates) if baseline is not None else None
    ended = datetime.now(timezone.utc)
    manifest.update({
        "ended_at": ended.isoformat(timespec="seconds"),
        "duration_s": round((ended - datetime.fromisoformat(manifest["started_at"])).total_seconds(), 1),
        "counts": {"planned": len(trials), "completed": len(results),
                   "cached": sum(1 for r in results if r.response.cached),
                   "errors": sum(1 for r in results if r.response.error)},
        "variants": variants,
        "thresholds": checks,
        "ab": compare_variants(outcomes(results), alpha=suite.gates.alpha),
        "baseline": {"source": str(manifest["config"]["baseline"]), **comparison.to_dict()} if comparison else None,
        "passed": manifest["status"] == "completed" and all(c["passed"] for c in checks) and (
            comparison is None or comparison.passed),
    })
    write_manifest(directory, manifest)


def _manifest(suite: Suite, models: Sequence[ModelSpec], models_reason: str, options: RunOptions,
              planned: int) -> dict[str, Any]:
    return {
        "harness_version": _version("harness"),
        "status": "running",
        "started_at": _now(),
        "suite": {"name": suite.name, "description": suite.description,
                  "path": str(suite.path.resolve()) if suite.path else None},
        "config": {
            "prompts": [p.model_dump(exclude_none=True) for p in suite.prompts
                        if not options.prompts or p.id in options.prompts],
            "models": [{"id": m.id, "model": m.model, "params": public_params(m.params)} for m in models],
            "max_error_rate": suite.max_error_rate,
            "models_from": models_reason,
            "repeats": options.repeats or suite.repeats,
            "concurrency": options.concurrency,
            "cache": options.use_cache,
            "scorers": [s.model_dump() for s in suite.scorers],
            "thresholds": {k: v if isinstance(v, float | int) else v.model_dump() for k, v in suite.thresholds.items()},
            "gates": suite.gates.model_dump(),
            "baseline": str(options.baseline) if options.baseline else None,
            "judge": _judge_config(suite, options),
            "planned_trials": planned,
            # What --resume needs to plan the same trials again.
            "plan": {"models": list(options.models) or ([] if suite.models else [m.model for m in models]),
                     "prompts": list(options.prompts), "repeats": options.repeats, "limit": options.limit,
                     "judge": options.judge, "batch": options.batch},
        },
        "environment": {"python": platform.python_version(), "litellm": _version("litellm"),
                        "git_commit": _git_commit(suite.directory)},
    }


def _judge_config(suite: Suite, options: RunOptions) -> dict[str, Any] | None:
    """The judge as run.json records it, when any scorer of the suite may ask one."""
    if not judge_models(suite, options):
        return None
    judge = resolve_judge(suite, options.judge)
    return {"model": judge.model, "params": public_params(judge.params)}


def _new_run_directory(reports_dir: Path, suite_name: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", suite_name.lower()).strip("-") or "suite"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    reports_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        candidate = reports_dir / (f"{slug}-{stamp}" + (f"-{attempt}" if attempt > 1 else ""))
        with contextlib.suppress(FileExistsError):
            candidate.mkdir()
            return candidate
    raise HarnessError(f"cannot create a run folder in {reports_dir}")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit(directory: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
