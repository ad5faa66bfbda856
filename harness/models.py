"""Model calls: providers turn a ModelSpec into an endpoint; every call goes through litellm.

litellm is imported on first use only (it costs ~2-3 s), so ``harness --help``,
``harness validate`` and fully cached runs never pay for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import email.utils
import functools
import gc
import importlib
import os
import random
import re
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError
from harness.limits import Throttle, estimate_tokens
from harness.suite import ModelSpec

LOCAL = "local"
# Keys of a model's params that configure the transport, not the request: they never enter
# the cache key or the results (an api_key would be a leak; a base URL may change per run).
TRANSPORT_PARAMS = ("api_key", "api_base", "base_url", "timeout", "num_retries", "max_retries")


@dataclass(frozen=True)
class Response:
    text: str
    finish_reason: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    cached: bool = False
    error: str | None = None
    attempts: int = 1


@dataclass(frozen=True)
class Endpoint:
    """How to reach one model: litellm's model string and call kwargs (which may hold secrets).

    ``answer`` short-circuits the call for providers that compute their reply themselves (echo).
    ``inline_sync_half``: litellm's synchronous half of a call to this model only builds the request
    (see INLINE_PROVIDERS), so it can run on the event loop's thread.
    """

    model: str
    kwargs: dict[str, Any] = field(default_factory=dict, repr=False)
    answer: Callable[[list[dict[str, str]]], str] | None = None
    inline_sync_half: bool = False


Provider = Callable[[ModelSpec], contextlib.AbstractAsyncContextManager[Endpoint]]
PROVIDERS: dict[str, Provider] = {}


def provider(name: str):
    """Register a provider for model strings equal to ``name`` or starting with ``name/``.

    A provider is an async context manager factory, so it can start a server for the run
    and stop it afterwards (that is how ``local`` works).
    """

    def register(factory: Provider) -> Provider:
        PROVIDERS[name] = factory
        return factory

    return register


def open_endpoint(spec: ModelSpec) -> contextlib.AbstractAsyncContextManager[Endpoint]:
    head = spec.model.split("/", 1)[0]
    factory = PROVIDERS.get(spec.model) or PROVIDERS.get(head) or _litellm_endpoint
    return factory(spec)


def remote(spec: ModelSpec) -> bool:
    """Whether the model is reached over the network through litellm (not a provider living in this process)."""
    head = spec.model.split("/", 1)[0]
    return spec.model not in PROVIDERS and head not in PROVIDERS


class EndpointPool:
    """Opens each endpoint once, when first needed, and closes them all at the end of the run.

    Opened lazily so that a run answered from the cache starts no server and imports no
    litellm; shared so that the model under test and a judge that are both ``local`` use
    one server.
    """

    def __init__(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self._endpoints: dict[str, Endpoint | BaseException] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> EndpointPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def get(self, spec: ModelSpec) -> Endpoint:
        key = spec.model + repr(sorted((k, str(v)) for k, v in spec.params.items() if k in TRANSPORT_PARAMS))
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key not in self._endpoints:
                try:
                    self._endpoints[key] = await self._stack.enter_async_context(open_endpoint(spec))
                except Exception as exc:  # every caller waiting on this endpoint gets the same error, once
                    self._endpoints[key] = exc
        endpoint = self._endpoints[key]
        if isinstance(endpoint, BaseException):
            raise endpoint
        return endpoint


@contextlib.asynccontextmanager
async def _litellm_endpoint(spec: ModelSpec) -> AsyncIterator[Endpoint]:
    """Any litellm model string; keys and base URLs come from litellm's usual environment variables.

    An unknown provider or a missing key fails here, before any call, with what to set.
    """
    transport = {k: v for k, v in spec.params.items() if k in TRANSPORT_PARAMS}
    litellm = litellm_module()
    try:
        provider_name = litellm.get_llm_provider(spec.model)[1]
    except Exception:
        raise HarnessError(f"model '{spec.model}': litellm knows no provider for it",
                           hint="write provider/model, e.g. openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, "
                                "or 'local' for the bundled model") from None
    if "api_key" not in transport:
        missing = [k for k in litellm.validate_environment(model=spec.model).get("missing_keys", [])
                   if k.endswith(("_KEY", "_TOKEN"))]
        if missing:
            raise HarnessError(f"model '{spec.model}' needs {' and '.join(missing)} in the environment",
                               hint="set it (or the model's params.api_key), or run the bundled model: --model local")
    yield Endpoint(model=spec.model, kwargs=transport, inline_sync_half=provider_name in INLINE_PROVIDERS)


def model_identity(spec: ModelSpec) -> str:
    """The public identity of a model for the cache key: known without opening the model (or starting a server)."""
    if spec.model == LOCAL:
        from harness import local_model

        return local_model.IDENTITY
    base = spec.params.get("api_base") or spec.params.get("base_url") or _env_base_url(spec.model)
    return spec.model + (f"@{base}" if base else "")


def _env_base_url(model: str) -> str | None:
    """The base URL litellm would take from the environment for this provider (OPENAI_BASE_URL, ...)."""
    provider_name = model.split("/", 1)[0].upper() if "/" in model else "OPENAI"
    for suffix in ("_API_BASE", "_BASE_URL"):
        if os.environ.get(provider_name + suffix):
            return os.environ[provider_name + suffix]
    return None


SECRET_PARAM = re.compile(r"key|token|secret|auth|header|credential|password", re.IGNORECASE)


def public_params(params: dict[str, Any]) -> dict[str, Any]:
    """A model's params as they may be written down: nothing that could hold a credential."""
    return {k: v for k, v in params.items() if not SECRET_PARAM.search(k)}


@provider(LOCAL)
@contextlib.asynccontextmanager
async def _local_endpoint(spec: ModelSpec) -> AsyncIterator[Endpoint]:
    from harness import local_model

    server = await off_loop(local_model.LocalModelServer.start)
    try:
        yield Endpoint(model=f"openai/{local_model.ALIAS}",
                       kwargs={"api_base": server.base_url, "api_key": "local-no-key"}, inline_sync_half=True)
    finally:
        await off_loop(server.stop)


@provider("echo")
@contextlib.asynccontextmanager
async def _echo_endpoint(spec: ModelSpec) -> AsyncIterator[Endpoint]:
    """Answers with the prompt's user message: replays fixed outputs (written into the template) through
    the scorers, e.g. to check a judge against human labels."""
    yield Endpoint(model="echo", answer=lambda messages: messages[-1]["content"])


def default_model() -> tuple[str, str]:
    """The model to use when neither the suite nor the command line names one, and why."""
    if os.environ.get("HARNESS_MODEL"):
        return os.environ["HARNESS_MODEL"], "from HARNESS_MODEL"
    if os.environ.get("OPENAI_API_KEY"):
        return "openai/gpt-4o-mini", "OPENAI_API_KEY is set"
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic/claude-3-5-haiku-latest", "ANTHROPIC_API_KEY is set"
    return LOCAL, "no provider key is set: the bundled local model"


def request_params(spec: ModelSpec) -> dict[str, Any]:
    """The request parameters that shape the answer (and so enter the cache key)."""
    return {k: v for k, v in sorted(spec.params.items()) if k not in TRANSPORT_PARAMS}


# --- the call ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4
    timeout_s: float = 120.0
    backoff_s: float = 1.0
    max_wait_s: float = 60.0


RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


def litellm_module():
    """Import litellm once, configured for unattended use (no network cost map, no banners, no callbacks)."""
    if "litellm" not in sys.modules:
        _import_litellm()
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    _skip_cost_of_unpriced_calls()
    return litellm


# The endpoint the harness is calling in this task (set by _acompletion around litellm's call), or None:
# litellm's work for anyone else's calls in this process is left as it is.
_calling: contextvars.ContextVar[Endpoint | None] = contextvars.ContextVar("harness_calling", default=None)

# What litellm could not price: (its price list's size, model, provider, the model the answer names).
_UNPRICED: set[tuple[Any, ...]] = set()


def _skip_cost_of_unpriced_calls() -> None:
    """litellm works out the cost of every call, about a fifth of the CPU a call costs it, and for a model
    it has no price for (a self-hosted or local one) the answer is None, every time. So for the harness's
    own calls, once litellm has said None for a model answering as a given model, it is not asked again.

    Only when nothing but the model names can price the call: no price of the call's own (litellm's own
    test for one), no cost sent by the server, no litellm cache hit, no deployment metadata, a plain
    (not streamed) answer. The price list's size is part of what is remembered, so a price registered
    later (litellm.register_model) is used. Anyone else's litellm calls in this process are priced as
    usual, and a litellm release that moved the calculation is left as it is (slower, still right).
    """
    try:
        from litellm.litellm_core_utils.litellm_logging import Logging
    except ImportError:
        return
    calculate = getattr(Logging, "response_cost_calculator", None)
    if calculate is None or getattr(calculate, "skips_unpriced_calls", False):
        return

    @functools.wraps(calculate)
    def response_cost_calculator(self: Any, result: Any = None, *args: Any, **kwargs: Any) -> float | None:
        # A cache hit or a router deployment named by the caller is priced litellm's own way.
        if (args or any(v is not None for k, v in kwargs.items() if k != "litellm_model_name")
                or _calling.get() is None or not _priced_by_names_alone(self, result)):
            return calculate(self, result, *args, **kwargs)
        litellm = sys.modules["litellm"]
        key = (len(litellm.model_cost), kwargs.get("litellm_model_name") or self.model,
               self.model_call_details.get("custom_llm_provider"), getattr(result, "model", None))
        if key in _UNPRICED:
            return None
        cost = calculate(self, result, *args, **kwargs)
        if cost is None:
            _UNPRICED.add(key)
        return cost

    response_cost_calculator.skips_unpriced_calls = True  # type: ignore[attr-defined]
    Logging.response_cost_calculator = response_cost_calculator


def _priced_by_names_alone(logging: Any, result: Any) -> bool:
    """Whether litellm would price this answer from the model names and token counts alone."""
    try:
        hidden = getattr(result, "_hidden_params", None) or {}
        headers = hidden.get("additional_headers") or {}
        return (type(result).__name__ == "ModelResponse" and not logging.model_call_details.get("cache_hit")
                and hidden.get("response_cost") is None and not logging.custom_pricing_for(result)
                and not any("response-cost" in str(name).lower() for name in headers)
                and not (logging.litellm_params or {}).get("metadata"))
    except Exception:  # a litellm release that reads these differently: let it price the call
        return False


# What litellm imports lazily on its first call through the OpenAI SDK (found with python -X importtime).
FIRST_CALL_MODULES = ("openai.resources.chat", "litellm.proxy.openai_files_endpoints.common_utils")


def _import_litellm() -> None:
    """litellm's import builds thousands of classes, and the cyclic garbage collector would walk that growing
    heap some 700 times on the way: a fifth of the ~2 s import, which every run that calls a model waits for.
    Collection is paused for the import, and what it built is frozen (it lives as long as the process anyway),
    so later collections, and forked workers' copy-on-write pages, leave it alone.

    The modules litellm imports on its first OpenAI-compatible call (~0.3 s) are imported here too, so
    that forked workers do not each import them again."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    paused = gc.isenabled()
    gc.disable()
    try:
        import litellm  # noqa: F401

        for first_call_module in FIRST_CALL_MODULES:
            with contextlib.suppress(ImportError):  # a litellm or openai release that moved it: imported later
                importlib.import_module(first_call_module)
    finally:
        if paused:
            gc.enable()
    gc.freeze()


async def off_loop(function: Callable[..., Any], *args: Any) -> Any:
    """Run blocking work (starting a server, encoding with torch) on a thread of its own, not in the loop's
    default executor, where it would wait behind (or hold up) the synchronous halves of litellm's calls."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-blocking")
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
    finally:
        pool.shutdown(wait=False)


# Providers whose synchronous half of ``acompletion`` only builds the request: no network, no credential
# refresh (as Vertex's or Bedrock's may do), no provider that makes the whole call there.
INLINE_PROVIDERS = frozenset({"openai", "custom_openai", "hosted_vllm"})


class _CallExecutor(concurrent.futures.ThreadPoolExecutor):
    """The event loop's default executor during a run.

    ``litellm.acompletion`` hands the synchronous half of every call (about a millisecond of building
    the request) to the loop's default executor and waits for it. For the providers in
    INLINE_PROVIDERS that half runs right here on the loop's thread: a thread would only take turns
    with the loop for the GIL, and each turn adds up to a switch interval (5 ms) to the call. Measured
    with bench/throughput.py, that was 2-4% of a run. Anything else goes to the threads: other
    providers' calls, the OpenAI SDK's probe of the platform, aiohttp's DNS lookups, a litellm cache.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        endpoint = _calling.get()
        if not (endpoint is not None and endpoint.inline_sync_half and _is_litellm_sync_half(fn)):
            return super().submit(fn, *args, **kwargs)
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def _is_litellm_sync_half(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is what litellm's acompletion hands over: partial(context.run, partial(completion, ...)).
    A litellm release that hands it over differently gets a thread (slower, still right)."""
    main = sys.modules.get("litellm.main")
    inner = fn.args[0] if isinstance(fn, functools.partial) and fn.args else None
    return main is not None and isinstance(inner, functools.partial) and inner.func is main.completion


@contextlib.contextmanager
def tuned_for_calls(young_threshold: int = 50_000) -> Iterator[None]:
    """This process and its running event loop set up for a run's worth of litellm calls (measured with
    bench/throughput.py):

    - the young-generation collector runs every ``young_threshold`` allocations instead of 700: a
      litellm call allocates thousands of short-lived containers, so at the default the collector runs
      several times a call, for garbage that reference counting frees anyway (about 4% of a run);
    - the loop's default executor runs the synchronous half of calls to OpenAI-compatible models
      inline (see _CallExecutor).
    """
    asyncio.get_running_loop().set_default_executor(_CallExecutor(thread_name_prefix="harness-litellm"))
    before = gc.get_threshold()
    gc.set_threshold(young_threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def complete(endpoint: Endpoint, messages: list[dict[str, str]], params: dict[str, Any],
                   policy: RetryPolicy, *, throttle: Throttle | None = None) -> Response:
    """One chat completion, retried on rate limits, server errors and timeouts; errors are returned, not raised.

    Each attempt (retries too) passes the model's ``throttle``, which hears how it went: a 429
    lowers the model's concurrency before the retry queues up again behind it.
    """
    if endpoint.answer is not None:
        return Response(text=endpoint.answer(messages), finish_reason="stop", latency_ms=0.0)
    litellm = litellm_module()
    tokens = estimate_tokens(messages, params) if throttle is not None else 0
    attempt = 0
    while True:
        attempt += 1
        epoch = await throttle.acquire(tokens) if throttle is not None else None
        started = time.perf_counter()  # latency is the answering attempt's, without retry waits
        # We retry (honouring Retry-After) ourselves, so the SDK's own retries stay off.
        kwargs = {"timeout": policy.timeout_s, **params, **endpoint.kwargs, "max_retries": 0, "num_retries": 0}
        try:
            reply = await _acompletion(litellm, endpoint, messages, kwargs)
        except asyncio.CancelledError:  # the run is stopping: the slot goes back
            if throttle is not None:
                await throttle.release(tokens, epoch=epoch, answered=False)
            raise
        except Exception as exc:  # litellm maps every provider error onto its own classes
            if throttle is not None:
                await throttle.release(tokens, epoch=epoch, answered=False,
                                       rate_limited=getattr(exc, "status_code", None) == 429)
            if attempt > policy.retries or not _retryable(exc):
                error = _describe(redact(str(getattr(exc, "message", "") or exc), endpoint.kwargs.get("api_key")), exc)
                return Response(text="", latency_ms=_ms(started), error=error, attempts=attempt)
            await asyncio.sleep(_wait_s(exc, attempt, policy))
            continue
        try:
            response = _response(reply, started, attempt)
        except (AttributeError, IndexError, TypeError) as exc:
            response = Response(text="", latency_ms=_ms(started), attempts=attempt,
                                error=f"malformed response: {type(exc).__name__}: {exc}")
        if throttle is not None:
            used = None if response.prompt_tokens is None else response.prompt_tokens + (
                response.completion_tokens or 0)
            await throttle.release(tokens, used, epoch=epoch)
        return response


async def _acompletion(litellm: Any, endpoint: Endpoint, messages: list[dict[str, str]],
                       kwargs: dict[str, Any]) -> Any:
    marked = _calling.set(endpoint)
    try:
        return await litellm.acompletion(model=endpoint.model, messages=messages, **kwargs)
    finally:
        _calling.reset(marked)


def _response(reply: Any, started: float, attempt: int) -> Response:
    choice = reply.choices[0]
    usage = getattr(reply, "usage", None)
    return Response(
        text=choice.message.content or "",
        finish_reason=choice.finish_reason,
        latency_ms=_ms(started),
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        cost_usd=(getattr(reply, "_hidden_params", None) or {}).get("response_cost"),
        attempts=attempt,
    )


def _retryable(exc: Exception) -> bool:
    status = getattr(exc, "status_code", None)
    if status in RETRYABLE_STATUS:
        return True
    name = type(exc).__name__
    return status is None and name in ("APIConnectionError", "Timeout", "APITimeoutError", "ServiceUnavailableError")


def _wait_s(exc: Exception, attempt: int, policy: RetryPolicy) -> float:
    """Retry-After when the server sends it, else exponential backoff with jitter."""
    retry_after = retry_after_s(getattr(exc, "litellm_response_headers", None) or {})
    if retry_after is not None:
        return min(retry_after, policy.max_wait_s)
    return min(policy.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random()), policy.max_wait_s)


def retry_after_s(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    getter = headers.get if hasattr(headers, "get") else (lambda _k: None)
    if (ms := getter("retry-after-ms")) is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(ms) / 1000)
    value = getter("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when else None


def _describe(message: str, exc: Exception) -> str:
    """One line for an error: its class, HTTP status and (already redacted) message, cut to 300 characters."""
    status = getattr(exc, "status_code", None)
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    return type(exc).__name__ + (f" ({status})" if status else "") + (f": {first_line[:300]}" if first_line else "")


SECRET_ENV_SUFFIXES = ("_API_KEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD")


def redact(text: str, *extra_secrets: str | None) -> str:
    """Mask every secret we know of (keys in the environment, the endpoint's key) in text bound for disk."""
    secrets = [v for k, v in os.environ.items() if k.upper().endswith(SECRET_ENV_SUFFIXES)]
    for secret in [*secrets, *extra_secrets]:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
