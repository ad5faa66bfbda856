"""Statistics as pure functions: intervals, percentiles, classification metrics."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

Z95 = 1.959963984540054
UNPARSEABLE = "(none)"


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion: honest at small n and at 0% or 100%, unlike p ± 2se."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def classification_metrics(pairs: Sequence[tuple[str, str | None]], labels: Sequence[str]) -> dict:
    """Accuracy, per-class precision/recall/F1, macro-F1 and the confusion matrix.

    ``pairs`` are (expected, predicted); a predicted None is an unparseable answer: it counts
    as wrong, appears in the confusion matrix as its own column, and has its own rate.
    """
    n = len(pairs)
    correct = sum(1 for expected, predicted in pairs if expected == predicted)
    unparseable = sum(1 for _, predicted in pairs if predicted is None)
    confusion = {e: {p: 0 for p in [*labels, UNPARSEABLE]} for e in labels}
    for expected, predicted in pairs:
        confusion.setdefault(expected, {p: 0 for p in [*labels, UNPARSEABLE]})
        confusion[expected][predicted if predicted is not None else UNPARSEABLE] += 1
    predicted_counts = Counter(p for _, p in pairs)
    expected_counts = Counter(e for e, _ in pairs)
    per_class = {}
    for label in labels:
        tp = confusion[label][label]
        precision = tp / predicted_counts[label] if predicted_counts[label] else 0.0
        recall = tp / expected_counts[label] if expected_counts[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": expected_counts[label]}
    # Like scikit-learn's macro average: over the labels that occur as expected or predicted.
    present = [label for label in labels if expected_counts[label] or predicted_counts[label]]
    macro_f1 = sum(per_class[label]["f1"] for label in present) / len(present) if present else 0.0
    return {
        "n": n,
        "accuracy": correct / n if n else 0.0,
        "accuracy_ci": list(wilson_interval(correct, n)),
        "macro_f1": macro_f1,
        "unparseable": unparseable,
        "unparseable_rate": unparseable / n if n else 0.0,
        "per_class": per_class,
        "labels": list(labels),
        "confusion": confusion,
    }
