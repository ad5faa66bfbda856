"""litellm, the transport of every model call, and what harness does to it.

Imported on first use only (it costs ~2-3 s), so ``harness --help``, ``harness validate`` and fully
cached runs never pay for it. Besides the default provider (any litellm model string), this holds
the measured speed-ups of its import and calls (see bench/throughput.py): a paused collector while
importing, the cost calculation skipped for models it has no price for, and the synchronous half
of OpenAI-compatible calls run on the event loop's own thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import gc
import importlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from harness.errors import HarnessError, did_you_mean
from harness.providers.endpoint import TRANSPORT_PARAMS, Endpoint
from harness.redaction import mask_url
from harness.spec import ModelSpec


@contextlib.asynccontextmanager
async def open_endpoint(spec: ModelSpec) -> AsyncIterator[Endpoint]:
    """Any litellm model string; keys and base URLs come from litellm's usual environment variables.

    An unknown provider or a missing key fails here, before any call, with what to set.
    """
    transport = {k: v for k, v in spec.params.items() if k in TRANSPORT_PARAMS}
    provider_name = check_model(spec)
    missing = missing_credentials(spec)
    if missing:
        raise HarnessError(f"model '{spec.model}' needs {' and '.join(missing)} in the environment",
                           hint="set it (or the model's params.api_key), or run the bundled model: --model local")
    base = transport.get("api_base") or transport.get("base_url") or env_base_url(spec.model)
    yield Endpoint(model=spec.model, kwargs=transport, inline_sync_half=provider_name in INLINE_PROVIDERS,
                   address=mask_url(str(base)) if base else f"the {provider_name} API",
                   tool_calls_from_text=spec.tool_calls_from_text)


def check_model(spec: ModelSpec) -> str:
    """The litellm provider serving this model string; a HarnessError (with a did-you-mean) if there is none."""
    litellm = litellm_module()
    try:
        return litellm.get_llm_provider(spec.model)[1]
    except Exception:
        prefix = spec.model.split("/", 1)[0] if "/" in spec.model else spec.model
        known = [str(getattr(p, "value", p)) for p in litellm.provider_list]
        raise HarnessError(f"model '{spec.model}': litellm knows no provider '{prefix}'{did_you_mean(prefix, known)}",
                           hint="write provider/model, e.g. openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, "
                                "or 'local' for the bundled model") from None


def missing_credentials(spec: ModelSpec) -> list[str]:
    """The environment variables the provider needs for this model that are not set (none with params.api_key)."""
    if "api_key" in spec.params:
        return []
    found = litellm_module().validate_environment(model=spec.model).get("missing_keys", [])
    return [k for k in found if k.endswith(("_KEY", "_TOKEN"))]


def env_base_url(model: str) -> str | None:
    """The base URL litellm would take from the environment for this provider (OPENAI_BASE_URL, ...)."""
    provider_name = model.split("/", 1)[0].upper() if "/" in model else "OPENAI"
    for suffix in ("_API_BASE", "_BASE_URL"):
        if os.environ.get(provider_name + suffix):
            return os.environ[provider_name + suffix]
    return None


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


async def acompletion(litellm: Any, endpoint: Endpoint, messages: list[dict[str, str]],
                       kwargs: dict[str, Any]) -> Any:
    marked = _calling.set(endpoint)
    try:
        return await litellm.acompletion(model=endpoint.model, messages=messages, **kwargs)
    finally:
        _calling.reset(marked)


