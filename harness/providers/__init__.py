"""Providers: how a model string becomes an endpoint to call.

A registered provider (``@provider("name")``, fed by the ``harness.providers`` entry points, as
``local``, ``echo``, ``http`` and ``python`` are) serves model strings equal to its name or starting with ``name/``;
any other model string goes to litellm (harness.providers._litellm). The call itself, with its
retries, is harness.providers.call; per-model rate limits are harness.providers.limits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import plugins
from harness.errors import HarnessError, did_you_mean
from harness.providers import _litellm
from harness.providers.endpoint import LOCAL, TRANSPORT_PARAMS, Endpoint
from harness.redaction import mask_url
from harness.spec import ModelSpec

__all__ = ["LOCAL", "TRANSPORT_PARAMS", "Endpoint", "EndpointPool", "ProviderInfo", "check", "default_model",
           "describe", "model_identity", "off_loop", "open_endpoint", "provider", "registered", "remote", "request_of",
           "request_params"]

Opener = Callable[[ModelSpec], contextlib.AbstractAsyncContextManager[Endpoint]]


# What a request adds to its cache key beyond its messages and params: (spec, messages, params, the case's vars).
RequestOf = Callable[[ModelSpec, list[dict[str, Any]], dict[str, Any], dict[str, Any]], Any]


@dataclass(frozen=True)
class ProviderInfo:
    """A registered provider: ``open(spec)`` is an async context manager giving the Endpoint (so it can
    start a server for the run and stop it after), ``identity(spec)`` what the cache key names (known
    without opening: the model string, unless the provider knows better, as ``local`` its weights).
    ``check(spec)``: what can be known without opening it (a HarnessError, or warnings such as a missing
    environment variable). ``request(...)``: what else of a request reaches the model (an http: model's
    rendered body), for the cache key; a HarnessError when it cannot be made (checked for every case at plan)."""

    name: str
    open: Opener
    identity: Callable[[ModelSpec], str] | None = None
    check: Callable[[ModelSpec], list[str]] | None = None
    request: RequestOf | None = None


def provider(name: str, *, identity: Callable[[ModelSpec], str] | None = None,
             check: Callable[[ModelSpec], list[str]] | None = None, request: RequestOf | None = None):
    """Register a provider for model strings equal to ``name`` or starting with ``name/``."""

    def register(factory: Opener) -> Opener:
        plugins.PROVIDERS.register(name, ProviderInfo(name, factory, identity, check, request),
                                   module=factory.__module__)
        return factory

    return register


def registered(spec: ModelSpec) -> ProviderInfo | None:
    """The registered provider serving this model string, or None (litellm serves it)."""
    return plugins.PROVIDERS.get(spec.model) or plugins.PROVIDERS.get(spec.model.split("/", 1)[0])


def open_endpoint(spec: ModelSpec) -> contextlib.AbstractAsyncContextManager[Endpoint]:
    info = registered(spec)
    if info is not None:
        return info.open(spec)
    check(spec)  # a model string nothing serves fails here with its did-you-mean, before litellm is asked
    return _litellm.open_endpoint(spec)


def check(spec: ModelSpec) -> list[str]:
    """What can be known of a model without calling it: a HarnessError if nothing serves its model string (with a
    did-you-mean over registered providers and litellm's), else the credentials it lacks (as warnings)."""
    info = registered(spec)
    if info is not None:
        return info.check(spec) if info.check is not None else []
    prefix = spec.model.split("/", 1)[0]
    close = did_you_mean(prefix, plugins.PROVIDERS.names()) if "/" not in spec.model else ""
    if close:
        raise HarnessError(f"model '{spec.model}': no provider '{prefix}'{close}",
                           hint="registered providers: " + ", ".join(plugins.PROVIDERS.names()))
    _litellm.check_model(spec)
    return [f"model '{spec.model}' needs {name} in the environment; harness run stops before the first call "
            "without it" for name in _litellm.missing_credentials(spec)]


def remote(spec: ModelSpec) -> bool:
    """Whether the model is reached over the network through litellm (not a provider living in this process)."""
    return registered(spec) is None


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
        key = repr((spec.model, spec.http, spec.python,
                    sorted((k, str(v)) for k, v in spec.params.items() if k in TRANSPORT_PARAMS)))
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

    def check_reached(self) -> None:
        """Raise Unreachable for an endpoint that never answered a call it tried (see Reachability)."""
        for endpoint in self._endpoints.values():
            if isinstance(endpoint, Endpoint):
                endpoint.reach.check_reached(endpoint.address)


def model_identity(spec: ModelSpec) -> str:
    """The public identity of a model for the cache key: known without opening the model (or starting a server)."""
    info = registered(spec)
    if info is not None and info.identity is not None:
        return info.identity(spec)
    base = spec.params.get("api_base") or spec.params.get("base_url") or _litellm.env_base_url(spec.model)
    return spec.model + (f"@{base}" if base else "")


def request_of(spec: ModelSpec, messages: list[dict[str, Any]], params: dict[str, Any],
               variables: dict[str, Any]) -> Any:
    """What else of this request reaches the model, for its cache key (None: its messages and params say it all)."""
    info = registered(spec)
    return info.request(spec, messages, params, variables) if info is not None and info.request else None


def describe(spec: ModelSpec) -> str:
    """A model as a person reads it: its id, and what it is when the id does not say (never a credential)."""
    if spec.http is not None:
        return f"{spec.id} (http: {spec.http.method} {mask_url(spec.http.url)})"
    if spec.python is not None:
        return spec.id if spec.id == spec.python else f"{spec.id} (python: {spec.python})"
    return spec.id if spec.id == spec.model else f"{spec.id} ({spec.model})"


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


async def off_loop(function: Callable[..., Any], *args: Any) -> Any:
    """Run blocking work (starting a server, encoding with torch) on a thread of its own, not in the loop's
    default executor, where it would wait behind (or hold up) the synchronous halves of litellm's calls."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-blocking")
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
    finally:
        pool.shutdown(wait=False)
