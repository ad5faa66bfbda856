"""An endpoint: how to reach one model, as a provider hands it to the call (harness.providers.call)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LOCAL = "local"
# Keys of a model's params that configure the transport, not the request: they never enter
# the cache key or the results (an api_key would be a leak; a base URL may change per run).
TRANSPORT_PARAMS = ("api_key", "api_base", "base_url", "timeout", "num_retries", "max_retries")


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
