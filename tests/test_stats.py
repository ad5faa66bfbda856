"""Statistics checked against published values and hand computation."""

from __future__ import annotations

import pytest

from harness.stats import classification_metrics, percentile, wilson_interval


@pytest.mark.parametrize("k, n, low, high", [
    (8, 10, 0.4902, 0.9433),   # Wilson 95% for 8/10 (Newcombe 1998, and statsmodels proportion_confint)
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (81, 263, 0.2553, 0.3662),
])
def test_wilson_interval_matches_reference_values(k, n, low, high):
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_of_nothing_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_percentile_interpolates_like_numpy():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20, 30, 40, 50], 95) == pytest.approx(48.0)
    assert percentile([], 50) is None


def test_classification_metrics_by_hand():
    pairs = [("pos", "pos"), ("pos", "pos"), ("pos", "neg"), ("neg", "neg"), ("neg", "pos"), ("neg", None)]
    m = classification_metrics(pairs, ["neg", "pos"])
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["unparseable"] == 1 and m["unparseable_rate"] == pytest.approx(1 / 6)
    assert m["confusion"] == {"pos": {"neg": 1, "pos": 2, "(none)": 0}, "neg": {"neg": 1, "pos": 1, "(none)": 1}}
    # pos: precision 2/3, recall 2/3 -> F1 2/3; neg: precision 1/2, recall 1/3 -> F1 0.4
    assert m["per_class"]["pos"]["f1"] == pytest.approx(2 / 3)
    assert m["per_class"]["neg"]["f1"] == pytest.approx(0.4)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.4) / 2)
