"""An endpoint: how to reach one model, as a provider hands it to the call (harness.providers.call), and
whether it can be reached at all."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError
from harness.records import Response

LOCAL = "local"
# Keys of a model's params that configure the transport, not the request: they never enter
# the cache key or the results (an api_key would be a leak; a base URL may change per run).
TRANSPORT_PARAMS = ("api_key", "api_base", "base_url", "timeout", "num_retries", "max_retries")

# A provider that answers by itself (echo, a python: function) or sends its own requests (http:):
# (messages, request params, the case's vars) -> the answer. It raises HttpStatusError (or a connection error) to
# be retried as a litellm call is; anything it cannot make of an answer it returns as the Response's error.
Send = Callable[[list[dict[str, Any]], dict[str, Any], dict[str, Any]], Awaitable[Response]]


class HttpStatusError(Exception):
    """An endpoint answered with an HTTP error: retried on rate limits and server errors (see RETRYABLE_STATUS),
    after its Retry-After."""

    def __init__(self, status_code: int, message: str, headers: Any = None):
        super().__init__(message)
        self.status_code, self.message, self.headers = status_code, message, headers or {}


@dataclass(frozen=True)
class Endpoint:
    """How to reach one model: litellm's model string and call kwargs (which may hold secrets).

    ``send`` replaces litellm for providers that answer themselves or send their own requests (see Send);
    ``answer`` is its simplest form, for a plugin whose reply is a function of the messages alone (the text);
    ``secrets`` are values of theirs no error may show.
    ``inline_sync_half``: litellm's synchronous half of a call to this model only builds the request
    (see INLINE_PROVIDERS), so it can run on the event loop's thread. ``address`` says where it is, for
    messages (never a credential). ``capacity``: requests the server answers at once (the bundled model's
    slots): more would wait in the server's queue, where their wait would be counted as the model's latency.
    """

    model: str
    kwargs: dict[str, Any] = field(default_factory=dict, repr=False)
    send: Send | None = field(default=None, repr=False)
    answer: Callable[[list[dict[str, Any]]], str] | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    inline_sync_half: bool = False
    address: str = ""
    capacity: int | None = None
    # Read tool calls a model writes as JSON in its text (see harness.providers.tool_calls).
    tool_calls_from_text: bool = False
    reach: Reachability = field(default_factory=lambda: Reachability(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.answer is not None and self.send is None:
            answer = self.answer

            async def send(messages: list[dict[str, Any]], _params: dict[str, Any],
                           _variables: dict[str, Any]) -> Response:
                return Response(text=answer(messages))

            object.__setattr__(self, "send", send)


class Unreachable(HarnessError):
    """The endpoint refused or failed every connection for a while: the run stops instead of retrying each trial."""


class Reachability:
    """Whether an endpoint can be reached: several connection failures in a row, over a second or more, with no
    answer in between, mean it cannot (a dead server, a wrong port), and the run stops with exit 2 instead of
    spending every trial's retries on it. One answer resets the count, so a short blip is retried as usual."""

    FAILURES = 3
    SPAN_S = 1.0

    def __init__(self) -> None:
        self._streak = 0
        self._since = 0.0
        self._answers = 0
        self._reason: str | None = None

    def answered(self) -> None:
        self._streak = 0
        self._answers += 1

    def failed_to_connect(self, address: str, reason: str) -> None:
        """Count a connection failure; raises Unreachable when the endpoint has kept failing."""
        now = time.monotonic()
        if self._streak == 0:
            self._since = now
        self._streak += 1
        self._reason = reason
        if self._streak >= self.FAILURES and now - self._since >= self.SPAN_S:
            raise self._unreachable(address)

    def check_reached(self, address: str) -> None:
        """At the end of a run: an endpoint that failed to connect and never answered could not be reached at all
        (too few calls to stop the run early), which is not the prompts' failure either."""
        if self._reason is not None and not self._answers:
            raise self._unreachable(address)

    def _unreachable(self, address: str) -> Unreachable:
        return Unreachable(f"cannot reach {address or 'the model'}: {self._reason}",
                           hint="is the server running, and is its address (api_base, OPENAI_BASE_URL, ...) right? "
                                "What was recorded is kept: finish with harness run --resume RUN_DIR")
