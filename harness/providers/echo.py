"""``echo``: a model that answers with the prompt's last user message, calling nothing.

It replays fixed outputs written into a template through the scorers (checking a judge against
human labels), and shows exactly what a template renders. A message written as content parts is
answered as readable text: its text parts one after another, an image as ``[image: path or URL]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from harness.messages import last_user_text
from harness.providers import Endpoint, provider
from harness.records import Response
from harness.spec import ModelSpec


async def _echo(messages: list[dict[str, Any]], _params: dict[str, Any], _variables: dict[str, Any]) -> Response:
    return Response(text=last_user_text(messages), finish_reason="stop")


@provider("echo")
@contextlib.asynccontextmanager
async def open_echo(spec: ModelSpec) -> AsyncIterator[Endpoint]:
    yield Endpoint(model="echo", send=_echo, address="echo")
