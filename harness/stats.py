"""Statistics as pure functions: intervals, percentiles, classification metrics."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

Z95 = 1.959963984540054
UNPARSEABLE = "(none)"


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion: honest at small n and at 0% or 100%, unlike p ± 2se."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def clustered_wilson_interval(cases: Sequence[Sequence[bool]], z: float = Z95) -> tuple[float, float]:
    """95% Wilson interval of a rate whose trials come grouped in cases (a case's repeats).

    Repeats of a case are not independent draws (a hard case fails every time), so the trials
    count as only as many draws as the spread between cases shows: Kish's effective sample size,
    the binomial variance over the variance between cases. That is every trial when repeats vary like
    fresh draws, and one per case (with equal repeats; a much-repeated case counts for more) when
    each case always passes or always fails. At 0% or 100% the spread says nothing, and the
    careful reading is the latter. (A bootstrap over cases would say [100%, 100%] there.)
    With fewer than about ten cases it still runs narrow: 87-92% coverage at 3-5 cases in simulation.
    """
    sizes = [len(trials) for trials in cases if trials]
    hits = [sum(trials) for trials in cases if trials]
    n, k, count = sum(sizes), sum(hits), len(sizes)
    if count == n:  # one trial per case (or none)
        return wilson_interval(k, n, z)
    p = k / n
    fewest = n * n / sum(m * m for m in sizes)  # what the trials are worth when each case's repeats all agree
    if count == 1 or p in (0.0, 1.0):
        effective = fewest
    else:
        # Delete-one-case jackknife: the cluster-robust variance when repeats are equal, and unlike the
        # sandwich form not fooled by one much-repeated case (it pulls the rate toward itself).
        without = [(k - h) / (n - m) for h, m in zip(hits, sizes, strict=True)]
        centre = sum(without) / count
        variance = (count - 1) / count * sum((w - centre) ** 2 for w in without)
        effective = n if variance == 0 else min(n, max(fewest, p * (1 - p) / variance))
    return wilson_interval(p * effective, effective, z)


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
        "macro_f1": macro_f1,
        "unparseable": unparseable,
        "unparseable_rate": unparseable / n if n else 0.0,
        "per_class": per_class,
        "labels": list(labels),
        "confusion": confusion,
    }


def macro_f1_interval(cases: Sequence[Sequence[tuple[str, str | None]]], labels: Sequence[str], *, seed: int = 0,
                      resamples: int = 2000) -> tuple[float, float]:
    """95% percentile bootstrap interval of macro-F1, resampling cases (a case's repeats move together).

    Each case is reduced to per-label counts (true positives, predicted, expected); a resample
    is a multinomial weighting of the cases, so the whole bootstrap is a few matrix products.
    """
    import numpy as np

    if not cases:
        return (0.0, 1.0)
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(cases), 3, len(labels)))
    for row, pairs in enumerate(cases):
        for expected, predicted in pairs:
            if expected in index:
                counts[row, 2, index[expected]] += 1
            if predicted in index:
                counts[row, 1, index[predicted]] += 1
                if predicted == expected:
                    counts[row, 0, index[predicted]] += 1
    flat = counts.reshape(len(cases), -1)
    rng = np.random.default_rng(seed)
    scores = []
    for start in range(0, resamples, 500):
        weights = rng.multinomial(len(cases), [1 / len(cases)] * len(cases), size=min(500, resamples - start))
        tp, predicted, expected = (weights @ flat).reshape(-1, 3, len(labels)).transpose(1, 0, 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.nan_to_num(2 * tp / (predicted + expected))  # = 2PR/(P+R)
        present = (predicted + expected) > 0  # as classification_metrics: labels that occur
        scores.append((f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1))
    low, high = np.percentile(np.concatenate(scores), [2.5, 97.5])
    return (float(low), float(high))


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters (judge, human): agreement beyond what their label frequencies give by chance.

    None when chance agreement is already perfect (both always say the same one label).
    """
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for a, b in pairs if a == b) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    chance = sum(first[label] * second[label] for label in first) / (n * n)
    return None if chance == 1 else (observed - chance) / (1 - chance)


# --- paired comparisons ----------------------------------------------------------------------
# Two variants scored on the same cases are compared case by case: pairing removes the
# variance between cases, so real differences show with far fewer cases than two
# independent samples would need.

BOOTSTRAP_RESAMPLES = 4000


def mcnemar_exact(regressions: int, improvements: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs (pass->fail, fail->pass)."""
    n = regressions + improvements
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(regressions, improvements) + 1)) / 2**n
    return min(1.0, 2 * tail)


def wilcoxon_signed_rank(differences: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value; zero differences are dropped.

    Follows scipy's choice: the exact sign-flip distribution of the observed ranks for up to
    50 differences without ties or zeros (up to 13 with them), else the normal approximation
    with the tie correction.
    """
    had_zeros = any(d == 0 for d in differences)
    nonzero = [d for d in differences if d != 0]
    n = len(nonzero)
    if n == 0:
        return 1.0
    ranks = _average_ranks([abs(d) for d in nonzero])
    r_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    tie_sizes = Counter(ranks).values()
    has_ties = any(t > 1 for t in tie_sizes)
    if (n <= 50 and not has_ties and not had_zeros) or len(differences) <= 13:
        doubled = [int(round(2 * r)) for r in ranks]  # average ranks are multiples of 1/2
        counts = _subset_sum_counts(doubled)
        statistic = int(round(2 * r_plus))
        total = 2**n
        lower = sum(counts[: statistic + 1]) / total
        upper = sum(counts[statistic:]) / total
        return min(1.0, 2 * min(lower, upper))
    mean = n * (n + 1) / 4
    variance = n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in tie_sizes) / 48
    if variance <= 0:
        return 1.0
    z = (min(r_plus, n * (n + 1) / 2 - r_plus) - mean) / math.sqrt(variance)
    return min(1.0, math.erfc(abs(z) / math.sqrt(2)))


def _average_ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _subset_sum_counts(weights: Sequence[int]) -> list[int]:
    """How many of the 2^n sign patterns give each positive-rank sum: the statistic's null distribution."""
    counts = [1] + [0] * sum(weights)
    for weight in weights:
        for total in range(len(counts) - 1, weight - 1, -1):
            counts[total] += counts[total - weight]
    return counts


def bootstrap_mean_interval(differences: Sequence[float], *, seed: int = 0,
                            resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean paired difference (resampling cases; seeded)."""
    if len(differences) == 0:
        return (0.0, 0.0)
    first = differences[0]
    if all(d == first for d in differences):  # every resample has the same mean (a suite that all passed)
        return (float(first), float(first))
    import numpy as np

    values = np.asarray(differences, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // values.size)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        means[start:stop] = values[rng.integers(0, values.size, (stop - start, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return (float(low), float(high))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for position, index in enumerate(order):
        running = max(running, min(1.0, (m - position) * p_values[index]))
        adjusted[index] = running
    return adjusted


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of k draws (without replacement) from n attempts with c passes passes."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Chance that all k draws pass (pass^k): reliability rather than best-of-k."""
    return math.comb(c, k) / math.comb(n, k) if k <= n else 0.0
