"""Batch mode (``--batch``): the run's calls go through the provider's batch API, not one request each.

OpenAI's batch API (litellm speaks it for OpenAI, Azure and OpenAI-compatible servers)
answers within 24 hours at half the price, outside the per-minute rate limits: the way to
run a very large suite. Per model, the run uploads one JSONL file of requests, creates a
batch, polls it, and downloads the answers; scoring (judges included) then runs as usual.

The batch ids are written to the run folder (``batch.json``) as soon as they exist, so a
run stopped while it waits (Ctrl-C, a closed laptop, a CI timeout) is picked up by
``harness run --resume RUN_DIR``, which polls the same batches instead of submitting again.
"""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.files import write_atomically
from harness.providers import EndpointPool, remote
from harness.providers._litellm import litellm_module
from harness.records import Response, trial_id
from harness.redaction import redact

if TYPE_CHECKING:
    from harness.run import Trial

BATCH_FILE = "batch.json"
ENDPOINT = "/v1/chat/completions"
# What the batch API charges, as a share of the per-request price (OpenAI: half).
PRICE_SHARE = 0.5
FINISHED = {"completed", "failed", "expired", "cancelled"}


def custom_id(trial: Trial) -> str:
    return trial_id(trial.case.id, trial.prompt_id, trial.model.id, trial.repeat)


# The request fields a batch line may carry (OpenAI's chat completion body); nothing else of a model's
# params (litellm-only switches, credentials, headers) belongs in a file uploaded to the provider.
BODY_FIELDS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "n", "stop",
               "presence_penalty", "frequency_penalty", "response_format", "logprobs", "top_logprobs",
               "logit_bias", "tools", "tool_choice", "user", "reasoning_effort")


async def answer(trials: Sequence[Trial], directory: Path, *, poll_s: float = 30.0) -> dict[int, Response]:
    """The batch API's answer to each trial (keyed by ``id(trial)``); a line that failed is an error Response.

    Every model's batch is submitted before any is waited on.
    """
    state = _load(directory)
    groups: dict[str, list[Trial]] = {}
    for trial in trials:
        groups.setdefault(trial.model.id, []).append(trial)
    async with EndpointPool() as pool:
        for group in groups.values():
            spec = group[0].model
            if not remote(spec):
                raise HarnessError(f"--batch: model '{spec.model}' has no batch API (it runs in this process)",
                                   hint="run it without --batch")
            await pool.get(spec)  # a model litellm does not know, or a missing key, stops here: nothing uploaded yet
    litellm = litellm_module()
    routes = {}
    for model_id, group in groups.items():
        spec = group[0].model
        model_name, provider, _, _ = litellm.get_llm_provider(spec.model)
        base = spec.params.get("api_base") or spec.params.get("base_url")
        transport = {k: v for k, v in (("api_base", base), ("api_key", spec.params.get("api_key"))) if v}
        routes[model_id] = (provider, transport)
        if model_id not in state:
            state[model_id] = await _submit(litellm, group, model_name, provider, transport)
            _save(directory, state)

    async def collect(model_id: str, group: list[Trial]) -> None:
        provider, transport = routes[model_id]
        batch = await _wait(litellm, state[model_id], provider, transport, poll_s)
        lines = await _lines(litellm, batch, provider, transport)
        for trial in group:
            answers[id(trial)] = _response(lines.get(custom_id(trial)), batch, trial.model.model, transport)

    answers: dict[int, Response] = {}
    await asyncio.gather(*(collect(model_id, group) for model_id, group in groups.items()))
    return answers


async def _submit(litellm: Any, group: list[Trial], model_name: str, provider: str,
                  transport: dict[str, Any]) -> dict[str, Any]:
    requests = "".join(json.dumps({"custom_id": custom_id(t), "method": "POST", "url": ENDPOINT,
                                   "body": {"model": model_name, "messages": t.messages,
                                            **{k: v for k, v in t.params.items() if k in BODY_FIELDS}}}) + "\n"
                       for t in group)
    uploaded = await litellm.acreate_file(file=("harness-batch.jsonl", requests.encode()), purpose="batch",
                                          custom_llm_provider=provider, **transport)
    created = await litellm.acreate_batch(completion_window="24h", endpoint=ENDPOINT, input_file_id=uploaded.id,
                                          custom_llm_provider=provider, **transport)
    return {"batch_id": created.id, "input_file_id": uploaded.id, "provider": provider, "requests": len(group),
            "submitted_at": time.time()}


async def _wait(litellm: Any, entry: dict[str, Any], provider: str, transport: dict[str, Any], poll_s: float) -> Any:
    while True:
        batch = await litellm.aretrieve_batch(entry["batch_id"], custom_llm_provider=provider, **transport)
        if batch.status in FINISHED:
            return batch
        await asyncio.sleep(poll_s)


async def _lines(litellm: Any, batch: Any, provider: str, transport: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Output and error lines by custom_id."""
    # litellm's afile_content leaves a coroutine of its own unawaited (harmless); keep its warning off the terminal.
    warnings.filterwarnings("ignore", message="coroutine 'OpenAIFilesAPI.afile_content' was never awaited")
    lines: dict[str, dict[str, Any]] = {}
    for file_id in (getattr(batch, "output_file_id", None), getattr(batch, "error_file_id", None)):
        if not file_id:
            continue
        content = await litellm.afile_content(file_id, custom_llm_provider=provider, **transport)
        for raw in content.content.decode().split("\n"):  # JSON Lines end at \n only
            if raw.strip():
                line = json.loads(raw)
                lines[line["custom_id"]] = line
    return lines


def _response(line: dict[str, Any] | None, batch: Any, model: str, transport: dict[str, Any]) -> Response:
    if line is None:
        return Response(text="", latency_ms=0.0, error=f"batch {batch.id} {batch.status}: no answer for this request")
    reply = line.get("response") or {}
    body = reply.get("body") or {}
    if line.get("error") or reply.get("status_code") != 200:
        problem = (line.get("error") or body.get("error") or {}).get("message", "failed")
        message = redact(f"batch request failed ({reply.get('status_code')}): {problem}", transport.get("api_key"))
        return Response(text="", latency_ms=0.0, error=message)
    choice = body["choices"][0]
    usage = body.get("usage") or {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return Response(text=choice["message"].get("content") or "", finish_reason=choice.get("finish_reason"),
                    latency_ms=0.0, prompt_tokens=prompt, completion_tokens=completion,
                    cost_usd=_cost(model, prompt, completion))


def _cost(model: str, prompt: int | None, completion: int | None) -> float | None:
    """litellm's per-request price for these tokens, at the batch discount; None for a model it has no price for."""
    if prompt is None or completion is None:
        return None
    try:
        cost_in, cost_out = litellm_module().cost_per_token(model=model, prompt_tokens=prompt,
                                                            completion_tokens=completion)
    except Exception:  # an unknown model: no price rather than a made-up one
        return None
    return (cost_in + cost_out) * PRICE_SHARE


def _load(directory: Path) -> dict[str, Any]:
    path = directory / BATCH_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _save(directory: Path, state: dict[str, Any]) -> None:
    write_atomically(directory / BATCH_FILE, json.dumps(state, indent=2))
