"""Executing a run: answer what the cache (or a batch) can, call models for the rest, score, record.

Cached trials are answered without opening any endpoint: a fully cached re-run neither imports
litellm nor starts the local model. Calls run in this process, through the batch API, or sharded
over worker processes (harness.run.workers) once there are enough of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from harness import scorers
from harness.cache import Cache, cache_key, open_cache
from harness.errors import HarnessError
from harness.messages import for_request
from harness.providers import Endpoint, EndpointPool, model_identity, remote, request_of, request_params
from harness.providers._litellm import litellm_module, tuned_for_calls
from harness.providers.call import complete
from harness.providers.limits import Throttle, split
from harness.records import Response, RunManifest, TrialResult
from harness.records.trial import conversation_answers
from harness.results import ResultsWriter
from harness.run import batch, workers
from harness.run.conversation import converse
from harness.run.plan import RunOptions, Trial
from harness.scorers.judge import judge_models, judge_spec, resolve_judge
from harness.spec import ModelSpec, Suite


class Observer(Protocol):
    """Told what a run will do and each result as it lands (the CLI draws its progress bar from this)."""

    def planned(self, suite: Suite, models: Sequence[ModelSpec], models_reason: str, trials: int) -> None: ...

    def finished(self, result: TrialResult) -> None: ...

    def notice(self, message: str) -> None: ...


class Caller:
    """Model calls for one run (or one worker's share of it): the cache, each model's throttle (concurrency
    that adapts to 429s, requests and tokens per minute), the run's overall concurrency, retries."""

    def __init__(self, options: RunOptions, pool: EndpointPool, cache: Cache | None, directory: Path):
        self.options, self.pool, self.cache, self.directory = options, pool, cache, directory
        self.limit = asyncio.Semaphore(options.concurrency)
        self.throttles: dict[str, Throttle] = {}

    def throttle(self, spec: ModelSpec, endpoint: Endpoint) -> Throttle:
        """The model's limits: its own concurrency (else the run's), never above what its server answers at
        once (a request past that waits in the server's queue, timed as the model's latency), per minute."""
        if spec.id not in self.throttles:
            index, count = self.options.worker
            concurrency = split(spec.concurrency, index, count) if spec.concurrency else self.options.concurrency
            if endpoint.capacity:
                concurrency = min(concurrency, split(endpoint.capacity, index, count) or 1)
            self.throttles[spec.id] = Throttle(concurrency, rpm=spec.rpm / count if spec.rpm else None,
                                               tpm=spec.tpm / count if spec.tpm else None, shared=self.limit)
        return self.throttles[spec.id]

    async def call(self, spec: ModelSpec, messages: list[dict[str, str]], params: dict[str, Any], key: str,
                   variables: dict[str, Any] | None = None) -> Response:
        """The model's answer: from the cache when ``key`` is there, else asked."""
        cached = self.cache.get(key) if self.cache is not None else None
        return cached if cached is not None else await self.ask(spec, messages, params, key, variables)

    async def ask(self, spec: ModelSpec, messages: list[dict[str, str]], params: dict[str, Any], key: str,
                  variables: dict[str, Any] | None = None) -> Response:
        """Ask the model (known not to be in the cache), and cache its answer under ``key``. ``variables``: the
        case's vars, for a provider whose request is a template over them (http:)."""
        endpoint = await self.pool.get(spec)
        response = await complete(endpoint, for_request(messages, self.directory), params, self.options.retry,
                                  throttle=self.throttle(spec, endpoint), variables=variables)
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
        return await self.caller.call(spec, messages, params, key_of(spec, model_identity(spec), messages, params, 0))


def run_coroutine(coroutine: Any) -> Any:
    """asyncio.run, also from a thread that already runs an event loop (a Jupyter notebook, playwright)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-run") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def execute_run(suite: Suite, trials: list[Trial], options: RunOptions, writer: ResultsWriter,
                 observer: Observer | None, manifest: RunManifest) -> None:
    """Run the trials: in this process, through the batch API, or sharded over worker processes.

    The cache is read once, here: what it (or a batch) answers is passed down as ``known``.
    """
    keys = _cache_keys(trials)
    cache = open_cache(options.cache_path) if options.use_cache else None
    try:
        known = {id(t): r for t in trials if cache is not None and (r := cache.get(keys[id(t)])) is not None}
        uncached = [t for t in trials if id(t) not in known]
        if options.batch and uncached:
            answers = run_coroutine(batch.answer(uncached, writer.path.parent, poll_s=options.batch_poll_s))
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
    manifest.workers = count
    if count == 1:
        run_coroutine(_execute(suite, trials, options, writer, observer, known, keys))
        return
    answered = [t for t in trials if id(t) in known]
    if answered:
        run_coroutine(_execute(suite, answered, options, writer, observer, known, keys))
    # Imported once here, the workers inherit litellm (~2 s of import) instead of each importing it anew.
    litellm_module()
    dealer = workers.Dealer(uncached)
    workers.run_sharded(count,
                        lambda index, out: run_coroutine(workers.first_ctrl_c_only(
                            _execute(suite, uncached, workers.share(options, index, count), out, None, {}, keys,
                                     take=dealer.take))),
                        lambda result: _deliver(result, writer, observer))


def _shardable(suite: Suite, trials: list[Trial], options: RunOptions) -> bool:
    """Worker processes help only for models reached over the network (a local server would start per worker)."""
    specs = {t.model.id: t.model for t in trials}.values()
    return all(remote(spec) for spec in [*specs, *judge_models(suite, options.judge)])


def _cache_keys(trials: list[Trial]) -> dict[int, str]:
    identities = {t.model.id: model_identity(t.model) for t in trials}
    return {id(t): key_of(t.model, identities[t.model.id], t.messages, t.params, t.repeat, t.case.vars)
            for t in trials}


def key_of(spec: ModelSpec, identity: str, messages: list[dict[str, Any]], params: dict[str, Any], repeat: int,
           variables: dict[str, Any] | None = None) -> str:
    """The cache key of one request: what reaches the model (see harness.cache). A request an http: model cannot
    render (a later step of a conversation) is keyed by its error: its call records the same error, uncached."""
    try:
        request = request_of(spec, messages, params, variables or {})
    except HarnessError as exc:
        request = {"error": exc.message}
    return cache_key(identity, messages, params, repeat, request)


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
                caller = Caller(options, pool, cache, suite.directory)
                judges = Judges(resolve_judge(suite, options.judge), caller)
                identities = {t.model.id: model_identity(t.model) for t in trials}

                async def run_one(trial: Trial) -> None:
                    variables = trial.case.vars
                    first = known.get(id(trial)) or await caller.ask(trial.model, trial.messages, trial.params,
                                                                     keys[id(trial)], variables)

                    def ask(messages: list[dict[str, Any]]) -> Awaitable[Response]:
                        key = key_of(trial.model, identities[trial.model.id], messages, trial.params, trial.repeat,
                                     variables)
                        return caller.call(trial.model, messages, trial.params, key, variables)

                    response, transcript = await converse(trial.chat, trial.case, trial.messages, trial.turns,
                                                          first, ask)
                    await _record(suite, trial, response, transcript, writer, observer, judges)

                if take is None:
                    await asyncio.gather(*(run_one(t) for t in trials))
                else:
                    async def lane() -> None:
                        while (trial := take()) is not None:
                            await run_one(trial)

                    await asyncio.gather(*(lane() for _ in range(options.concurrency)))
                pool.check_reached()
    finally:
        if cache is not None:
            cache.close()


async def _record(suite: Suite, trial: Trial, response: Response, transcript: list[dict[str, Any]],
                  writer: ResultsWriter, observer: Observer | None, judges: Judges) -> None:
    scored = scorers.Scored([])
    if response.error is None:
        chat = trial.chat
        context = scorers.ScoringContext(response=response, messages=trial.messages, directory=suite.directory,
                                         judge=judges, transcript=transcript, tools=chat.tools if chat else [],
                                         response_format=chat.response_format if chat else None)
        scored = await scorers.score_trial(suite.scorers_for(trial.case),
                                           suite.transform_for(trial.prompt_id, trial.case),
                                           conversation_answers(transcript, response.text), trial.case, context)
    result = TrialResult(case_id=trial.case.id, prompt_id=trial.prompt_id, model_id=trial.model.id,
                         repeat=trial.repeat, messages=trial.messages, vars=trial.case.vars,
                         expected=trial.case.expected, tags=trial.case.tags, response=response, scores=scored.scores,
                         threshold=suite.threshold_for(trial.case), transcript=transcript,
                         transformed_output=scored.transformed, transform_error=scored.transform_error,
                         must_pass=suite.must_pass_for(trial.case))
    _deliver(result, writer, observer)


def _deliver(result: TrialResult, writer: ResultsWriter, observer: Observer | None) -> None:
    """A finished trial: to results.jsonl at once, then to whoever watches the run."""
    writer.write(result)
    if observer is not None:
        observer.finished(result)
