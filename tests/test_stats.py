"""Statistics checked against published values and hand computation."""

from __future__ import annotations

import math
import random

import pytest

from harness.stats import (
    classification_metrics,
    clustered_wilson_interval,
    cohen_kappa,
    macro_f1_interval,
    percentile,
    wilson_interval,
)


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


def test_repeated_cases_count_for_as_many_draws_as_their_spread_shows():
    import statsmodels.api as sm

    cases = [[True, True, False], [True, True, True], [False, False, True], [True, False, True],
             [True, True, True], [False, False, False]]  # equal repeats: the jackknife equals statsmodels' form
    y = [float(hit) for trials in cases for hit in trials]
    groups = [i for i, trials in enumerate(cases) for _ in trials]
    fit = sm.OLS(y, [[1.0]] * len(y)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    p = sum(y) / len(y)
    effective = p * (1 - p) / fit.bse[0] ** 2  # cluster-robust variance, as statsmodels computes it
    assert len(cases) < effective < len(y)
    assert clustered_wilson_interval(cases) == pytest.approx(wilson_interval(p * effective, effective))


def test_repeats_that_always_agree_count_once_and_never_shrink_the_interval_to_a_point():
    assert clustered_wilson_interval([[True] * 10] * 7 + [[False] * 10] * 3) == pytest.approx(wilson_interval(7, 10))
    assert clustered_wilson_interval([[True] * 10] * 10) == pytest.approx(wilson_interval(10, 10))  # not [1, 1]
    assert clustered_wilson_interval([[True], [False], [True]]) == wilson_interval(2, 3)  # no repeats: plain Wilson
    assert clustered_wilson_interval([[True, False, True, False]] * 5) == pytest.approx(wilson_interval(10, 20))
    # One case asked 50 times, nine once: the 59 trials are worth n²/Σm² = 1.4 draws, not ten.
    uneven = [[True] * 50] + [[False]] * 9
    effective = 59 ** 2 / (50 ** 2 + 9)
    assert clustered_wilson_interval(uneven) == pytest.approx(wilson_interval(50 / 59 * effective, effective))


def test_the_repeats_interval_covers_the_true_rate_95_times_in_100():
    """Cases of very different difficulty, each repeated 5 times: Wilson over the trials misses the true rate
    about a quarter of the time; counting the dependence, about one time in twenty."""
    rng = random.Random(7)
    hits = {"clustered": 0, "trials": 0}
    for _ in range(400):
        cases = [[rng.random() < p for _ in range(5)] for p in (rng.betavariate(0.5, 0.5) for _ in range(30))]
        low, high = clustered_wilson_interval(cases)
        hits["clustered"] += low <= 0.5 <= high
        low, high = wilson_interval(sum(map(sum, cases)), 150)
        hits["trials"] += low <= 0.5 <= high
    assert 0.92 <= hits["clustered"] / 400 <= 0.98 and hits["trials"] / 400 < 0.85


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


# --- paired comparisons, checked against scipy and statsmodels -------------------------------


import numpy as np  # noqa: E402
from scipy import stats as scipy_stats  # noqa: E402
from statsmodels.stats.contingency_tables import mcnemar  # noqa: E402
from statsmodels.stats.multitest import multipletests  # noqa: E402

from harness.stats import (  # noqa: E402
    bootstrap_mean_interval,
    holm,
    mcnemar_exact,
    pass_at_k,
    pass_hat_k,
    wilcoxon_signed_rank,
)


@pytest.mark.parametrize("b, c", [(0, 0), (1, 0), (3, 9), (10, 10), (2, 15), (40, 61)])
def test_mcnemar_exact_matches_statsmodels(b, c):
    table = [[5, b], [c, 7]]
    assert mcnemar_exact(b, c) == pytest.approx(mcnemar(table, exact=True).pvalue, abs=1e-12)


@pytest.mark.parametrize("seed, n, ties", [(1, 8, False), (2, 20, False), (3, 45, False), (4, 30, True),
                                           (5, 80, False), (6, 200, True)])
def test_wilcoxon_matches_scipy(seed, n, ties):
    rng = random.Random(seed)
    diffs = [round(rng.gauss(0.1, 1), 1 if ties else 6) for _ in range(n)]
    expected = scipy_stats.wilcoxon(diffs).pvalue
    assert wilcoxon_signed_rank(diffs) == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_wilcoxon_with_zero_differences_matches_scipy_and_all_zero_is_no_evidence():
    diffs = [0, 0, 0.5, -0.2, 0.3, 0.4, 0.1, 0.6, -0.1, 0.7]
    assert wilcoxon_signed_rank(diffs) == pytest.approx(scipy_stats.wilcoxon(diffs).pvalue, rel=1e-6)
    assert wilcoxon_signed_rank([0, 0, 0]) == 1.0


def test_bootstrap_interval_agrees_with_scipy_and_is_reproducible():
    rng = np.random.default_rng(7)
    diffs = rng.normal(0.05, 0.3, 120)
    ours = bootstrap_mean_interval(diffs, seed=3)
    theirs = scipy_stats.bootstrap((diffs,), np.mean, method="percentile", n_resamples=20000, random_state=1)
    assert ours == pytest.approx((theirs.confidence_interval.low, theirs.confidence_interval.high), abs=0.01)
    assert bootstrap_mean_interval(diffs, seed=3) == ours


def test_bootstrap_interval_of_a_constant_sample_is_that_constant():
    """Found without resampling (nor importing numpy): every resample of it has the same mean."""
    assert bootstrap_mean_interval([0.1] * 1000) == (0.1, 0.1)  # resampled: 0.09999999999999999
    assert bootstrap_mean_interval(np.zeros(5)) == (0.0, 0.0)
    assert all(math.isnan(x) for x in bootstrap_mean_interval([1.0, math.nan]))
    assert bootstrap_mean_interval([]) == (0.0, 0.0)


def test_holm_matches_statsmodels():
    p = [0.01, 0.04, 0.03, 0.2, 0.001]
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))


def test_pass_at_k_and_pass_hat_k_by_hand():
    assert pass_at_k(n=5, c=0, k=1) == 0.0 and pass_at_k(n=5, c=5, k=3) == 1.0
    assert pass_at_k(n=4, c=1, k=2) == pytest.approx(1 - 3 / 6)   # 1 - C(3,2)/C(4,2)
    assert pass_hat_k(n=4, c=3, k=2) == pytest.approx(3 / 6)      # C(3,2)/C(4,2)
    assert pass_hat_k(n=4, c=4, k=4) == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cohen_kappa_matches_statsmodels(seed):
    from statsmodels.stats.inter_rater import cohens_kappa

    rng = random.Random(seed)
    labels = ["pass", "fail", "unsure"]
    pairs = [(rng.choice(labels), rng.choice(labels)) for _ in range(40)]
    pairs += [(a, a) for a, _ in pairs[:20]]  # some real agreement
    table = [[sum(1 for p in pairs if p == (a, b)) for b in labels] for a in labels]
    assert cohen_kappa(pairs) == pytest.approx(cohens_kappa(table).kappa)


def test_cohen_kappa_by_hand_and_degenerate_cases():
    # 2x2: agree on 20 pass + 15 fail of 50; judge says pass 25 times, humans 30 times.
    pairs = [("pass", "pass")] * 20 + [("pass", "fail")] * 5 + [("fail", "pass")] * 10 + [("fail", "fail")] * 15
    observed, chance = 35 / 50, (25 * 30 + 25 * 20) / 2500
    assert cohen_kappa(pairs) == pytest.approx((observed - chance) / (1 - chance))
    assert cohen_kappa([("pass", "pass")] * 5) is None  # one label only: agreement says nothing
    assert cohen_kappa([("pass", "fail")] * 3 + [("fail", "pass")] * 3) == pytest.approx(-1.0)


def test_macro_f1_interval_covers_the_estimate_and_narrows_with_more_cases():
    rng = random.Random(3)

    def cases(n):
        out = []
        for _ in range(n):
            expected = rng.choice(["pos", "neg"])
            wrong = "neg" if expected == "pos" else "pos"
            out.append([(expected, expected if rng.random() < 0.8 else rng.choice([wrong, None]))])
        return out

    small, large = cases(40), cases(1000)
    for sample in (small, large):
        estimate = classification_metrics([p for c in sample for p in c], ["neg", "pos"])["macro_f1"]
        low, high = macro_f1_interval(sample, ["neg", "pos"])
        assert low < estimate < high
    width = [macro_f1_interval(s, ["neg", "pos"]) for s in (small, large)]
    assert width[1][1] - width[1][0] < (width[0][1] - width[0][0]) / 3
    assert macro_f1_interval(small, ["neg", "pos"]) == macro_f1_interval(small, ["neg", "pos"])  # seeded
    assert macro_f1_interval([[("pos", "pos")]] * 10, ["pos"]) == (1.0, 1.0)
