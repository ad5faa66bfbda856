"""One model call: retried on rate limits, server errors and timeouts; errors are returned, never raised."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import time
from dataclasses import dataclass, replace
from typing import Any

from harness.providers import tool_calls
from harness.providers._litellm import acompletion, litellm_module
from harness.providers.endpoint import Endpoint
from harness.providers.limits import Throttle, estimate_tokens
from harness.records import Response
from harness.redaction import redact, url_secrets


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4
    timeout_s: float = 120.0
    backoff_s: float = 1.0
    max_wait_s: float = 60.0


RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


async def complete(endpoint: Endpoint, messages: list[dict[str, str]], params: dict[str, Any],
                   policy: RetryPolicy, *, throttle: Throttle | None = None,
                   variables: dict[str, Any] | None = None) -> Response:
    """One chat completion, retried on rate limits, server errors and timeouts; errors are returned, not raised.

    Each attempt (retries too) passes the model's ``throttle``, which hears how it went: a 429
    lowers the model's concurrency before the retry queues up again behind it. The time spent waiting
    for the throttle is the response's ``queue_ms``, apart from its ``latency_ms`` (the answering
    attempt's own time). An endpoint that cannot be reached at all raises Unreachable (see Reachability).
    ``variables`` (the case's vars) are for providers that send requests of their own (see Endpoint.send).
    """
    litellm = litellm_module() if endpoint.send is None else None
    tokens = estimate_tokens(messages, params) if throttle is not None else 0
    attempt, queued = 0, 0.0
    while True:
        attempt += 1
        waiting = time.perf_counter()
        epoch = await throttle.acquire(tokens) if throttle is not None else None
        started = time.perf_counter()  # latency is the answering attempt's, without queue or retry waits
        queued += started - waiting
        try:
            reply = await _attempt(litellm, endpoint, messages, params, policy, variables)
        except asyncio.CancelledError:  # the run is stopping: the slot goes back
            if throttle is not None:
                await throttle.release(tokens, epoch=epoch, answered=False)
            raise
        except Exception as exc:  # litellm maps every provider error onto its own classes
            if throttle is not None:
                await throttle.release(tokens, epoch=epoch, answered=False,
                                       rate_limited=getattr(exc, "status_code", None) == 429)
            reason = connection_failure(exc)
            if reason is not None:
                endpoint.reach.failed_to_connect(endpoint.address, redact(reason, *_secrets(endpoint)))
            if attempt > policy.retries or not _retryable(exc):
                error = _describe(redact(str(getattr(exc, "message", "") or exc), *_secrets(endpoint)), exc)
                return Response(text="", latency_ms=_ms(started), error=error, attempts=attempt,
                                queue_ms=round(queued * 1000, 1))
            await asyncio.sleep(_wait_s(exc, attempt, policy))
            continue
        endpoint.reach.answered()
        response = _answer(reply, endpoint, params, started, attempt, queued)
        if throttle is not None:
            used = None if response.prompt_tokens is None else response.prompt_tokens + (
                response.completion_tokens or 0)
            await throttle.release(tokens, used, epoch=epoch)
        return response


async def _attempt(litellm: Any, endpoint: Endpoint, messages: list[dict[str, Any]], params: dict[str, Any],
                   policy: RetryPolicy, variables: dict[str, Any] | None) -> Any:
    """One try: the provider's own send, or litellm's call (its SDK's own retries off: we retry, honouring
    Retry-After, ourselves)."""
    if endpoint.send is not None:
        return await endpoint.send(messages, params, variables or {})
    kwargs = {"timeout": policy.timeout_s, **params, **endpoint.kwargs, "max_retries": 0, "num_retries": 0}
    return await acompletion(litellm, endpoint, messages, kwargs)


def _answer(reply: Any, endpoint: Endpoint, params: dict[str, Any], started: float, attempt: int,
            queued: float) -> Response:
    """The Response of an answered attempt: a provider's own (timed here), or litellm's reply read."""
    try:
        if isinstance(reply, Response):
            response = replace(reply, latency_ms=_ms(started), attempts=attempt, queue_ms=round(queued * 1000, 1),
                               error=redact(reply.error, *_secrets(endpoint)) if reply.error else None)
        else:
            response = _response(reply, started, attempt, queued)
        return _with_calls_from_text(response, endpoint, params)
    except (AttributeError, IndexError, TypeError) as exc:
        return Response(text="", latency_ms=_ms(started), attempts=attempt, queue_ms=round(queued * 1000, 1),
                        error=f"malformed response: {type(exc).__name__}: {exc}")


def _response(reply: Any, started: float, attempt: int, queued: float) -> Response:
    choice = reply.choices[0]
    usage = getattr(reply, "usage", None)
    return Response(
        text=choice.message.content or "",
        tool_calls=tool_calls.native(choice.message),
        finish_reason=choice.finish_reason,
        latency_ms=_ms(started),
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        cost_usd=(getattr(reply, "_hidden_params", None) or {}).get("response_cost"),
        attempts=attempt,
        queue_ms=round(queued * 1000, 1),
    )


def _with_calls_from_text(response: Response, endpoint: Endpoint, params: dict[str, Any]) -> Response:
    """With tools offered and none called, an endpoint that reads calls from text (see tool_calls) may find some."""
    offered = {t["function"]["name"] for t in params.get("tools") or [] if isinstance(t, dict) and "function" in t}
    if response.tool_calls or not offered or not endpoint.tool_calls_from_text:
        return response
    found = tool_calls.from_text(response.text, offered)
    return replace(response, tool_calls=found, tool_calls_from_text=True, text="") if found else response


def _secrets(endpoint: Endpoint) -> list[str]:
    """What of an endpoint's settings is a credential: its key, and a password in its base URL."""
    base = endpoint.kwargs.get("api_base") or endpoint.kwargs.get("base_url")
    return [endpoint.kwargs.get("api_key") or "", *(url_secrets(base) if isinstance(base, str) else []),
            *endpoint.secrets]


def connection_failure(exc: BaseException) -> str | None:
    """Why a call could not connect at all (refused, no such host, no route), or None: a failure after
    connecting, or a timeout (a slow server is there), is not one. litellm reports a refused connection as
    a 500 "Connection error."; what happened is further down the exception's chain."""
    chain, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    if any("timeout" in type(e).__name__.lower() for e in chain):
        return None
    failed = [e for e in chain if isinstance(e, OSError) or _names_a_connect_error(e)]
    if not failed:
        return None
    cause = ([e for e in failed if isinstance(e, OSError)] or failed)[-1]  # the operating system's own words
    return str(cause).strip() or type(cause).__name__


# The client libraries' names for "could not connect" (openai, httpx, aiohttp).
CONNECT_ERRORS = frozenset({"APIConnectionError", "ConnectError", "ClientConnectorError", "ClientConnectorDNSError"})


def _names_a_connect_error(exc: BaseException) -> bool:
    """Not litellm's own APIConnectionError: litellm gives that name to any failure it cannot place (a missing
    module of its own included); the openai client's is a failed transport (refused, or a URL it cannot use)."""
    kind = type(exc)
    return kind.__name__ in CONNECT_ERRORS and not kind.__module__.startswith("litellm")


def _retryable(exc: Exception) -> bool:
    status = getattr(exc, "status_code", None)
    if status in RETRYABLE_STATUS:
        return True
    name = type(exc).__name__
    return status is None and (name in ("APIConnectionError", "Timeout", "APITimeoutError", "ServiceUnavailableError")
                               or _is_transport_error(exc))


def _is_transport_error(exc: Exception) -> bool:
    """httpx's own failures to connect, send or hear back in time (an http: model's requests): worth a retry."""
    return type(exc).__module__.startswith("httpx") and type(exc).__name__ in (
        "ConnectError", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "ReadError",
        "RemoteProtocolError")


def _wait_s(exc: Exception, attempt: int, policy: RetryPolicy) -> float:
    """Retry-After when the server sends it, else exponential backoff with jitter."""
    retry_after = retry_after_s(getattr(exc, "litellm_response_headers", None) or getattr(exc, "headers", None) or {})
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


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
