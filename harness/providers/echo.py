"""``echo``: a model that answers with the prompt's last user message, calling nothing.

It replays fixed outputs written into a template through the scorers (checking a judge against
human labels), and shows exactly what a template renders.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from harness.providers import Endpoint, provider
from harness.spec import ModelSpec


@provider("echo")
@contextlib.asynccontextmanager
async def open_echo(spec: ModelSpec) -> AsyncIterator[Endpoint]:
    yield Endpoint(model="echo", answer=lambda messages: messages[-1]["content"])
