from __future__ import annotations

import asyncio

from harness.scorers import embeddings


def test_the_least_recently_used_vectors_are_dropped_first(monkeypatch):
    """A reference asked for on every trial stays cached while one-off outputs come and go."""
    monkeypatch.setattr(embeddings, "MAX_VECTORS", 2)
    monkeypatch.setattr(embeddings, "_vectors", {("m", "reference"): [1.0], ("m", "output 1"): [2.0]})
    assert asyncio.run(embeddings.embed(["reference"], model="m")) == [[1.0]]
    embeddings._vectors[("m", "output 2")] = [3.0]  # as encoding a new output adds it
    assert asyncio.run(embeddings.embed(["output 2", "reference"], model="m")) == [[3.0], [1.0]]
    assert set(embeddings._vectors) == {("m", "reference"), ("m", "output 2")}
