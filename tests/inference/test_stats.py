"""The significance tests give the textbook numbers."""

from math import sqrt

import numpy as np
import pytest
from scipy import stats as sps

from inference import analytics, stats


def _hanley_mcneil_ct_ratings():
    # Hanley & McNeil (1982), Radiology 143:29, table 1: CT ratings 1-5 of 58 normal
    # and 51 abnormal patients; the published area is 0.893.
    normal = [33, 6, 6, 11, 2]
    abnormal = [3, 2, 2, 11, 33]
    y, scores = [], []
    for rating, count in enumerate(normal, start=1):
        y += [0] * count
        scores += [rating] * count
    for rating, count in enumerate(abnormal, start=1):
        y += [1] * count
        scores += [rating] * count
    return y, scores


def _delong_by_definition(y, scores_a, scores_b):
    """DeLong et al. (1988) written out pair by pair, O(m*n): the independent reference."""
    y = np.asarray(y)

    def psi(x, z):
        return 1.0 if x > z else 0.5 if x == z else 0.0

    result = []
    for s in (np.asarray(scores_a, float), np.asarray(scores_b, float)):
        pos, neg = s[y == 1], s[y == 0]
        v10 = np.array([np.mean([psi(x, z) for z in neg]) for x in pos])
        v01 = np.array([np.mean([psi(x, z) for x in pos]) for z in neg])
        result.append((v10, v01))
    (a10, a01), (b10, b01) = result
    m, n = len(a10), len(a01)
    var_a = a10.var(ddof=1) / m + a01.var(ddof=1) / n
    var_b = b10.var(ddof=1) / m + b01.var(ddof=1) / n
    cov = np.cov(a10, b10)[0, 1] / m + np.cov(a01, b01)[0, 1] / n
    return a10.mean(), b10.mean(), var_a, var_b, cov


def test_delong_gives_the_published_ct_area():
    y, scores = _hanley_mcneil_ct_ratings()
    result = stats.delong_unpaired(y, scores, y, scores)
    assert result.auc_a == pytest.approx(0.893, abs=5e-4)
    assert analytics.auc_roc(y, scores) == pytest.approx(result.auc_a, abs=1e-12)


def test_paired_delong_equals_the_pairwise_definition():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 120)
    a = np.round(y * 0.3 + rng.random(120), 1)  # rounded: plenty of ties
    b = np.round(y * 0.5 + rng.random(120), 1)
    auc_a, auc_b, var_a, var_b, cov = _delong_by_definition(y, a, b)
    result = stats.delong_paired(y, a, b)
    assert result.auc_a == pytest.approx(auc_a, abs=1e-12)
    assert result.auc_b == pytest.approx(auc_b, abs=1e-12)
    assert result.variance_a == pytest.approx(var_a, abs=1e-12)
    assert result.variance_b == pytest.approx(var_b, abs=1e-12)
    assert result.covariance == pytest.approx(cov, abs=1e-12)
    z = (auc_b - auc_a) / sqrt(var_a + var_b - 2 * cov)
    assert result.statistic == pytest.approx(z, abs=1e-9)
    assert result.p_value == pytest.approx(2 * sps.norm.sf(abs(z)), abs=1e-12)


def test_unpaired_delong_adds_the_two_variances():
    rng = np.random.default_rng(3)
    y1, y2 = rng.integers(0, 2, 80), rng.integers(0, 2, 60)
    s1, s2 = y1 * 0.4 + rng.random(80), y2 * 0.8 + rng.random(60)
    a1, _, v1, _, _ = _delong_by_definition(y1, s1, s1)
    a2, _, v2, _, _ = _delong_by_definition(y2, s2, s2)
    result = stats.delong_unpaired(y1, s1, y2, s2)
    assert result.covariance == 0
    assert result.statistic == pytest.approx((a2 - a1) / sqrt(v1 + v2), abs=1e-9)
    assert result.statistic > 0  # the second scorer separates better


def test_delong_needs_two_of_each_class():
    assert stats.delong_paired([1, 1, 0], [0.9, 0.8, 0.1], [0.5, 0.4, 0.3]) is None


@pytest.mark.parametrize(
    ("x_a", "n_a", "x_b", "n_b"), [(150, 500, 80, 400), (45, 100, 56, 100), (9, 10, 3, 12)]
)
def test_z_test_equals_the_uncorrected_chi_square_on_the_2x2_table(x_a, n_a, x_b, n_b):
    result = stats.two_proportion_z(x_a, n_a, x_b, n_b)
    chi2, p, _, _ = sps.chi2_contingency([[x_a, n_a - x_a], [x_b, n_b - x_b]], correction=False)
    assert result.statistic**2 == pytest.approx(chi2, rel=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert (result.statistic > 0) == (x_b / n_b > x_a / n_a)


def test_mcnemar_gives_agrestis_presidential_approval_numbers():
    # Agresti, Categorical Data Analysis (2002), table 10.1: 150 approve->disapprove,
    # 86 disapprove->approve; with continuity correction chi-square = 16.82.
    result = stats.mcnemar(150, 86)
    assert abs(result.statistic) == pytest.approx((64 - 1) ** 2 / 236, rel=1e-12)
    assert abs(result.statistic) == pytest.approx(16.82, abs=0.01)
    assert result.p_value == pytest.approx(sps.chi2.sf(16.8178, 1), rel=1e-3)
    assert result.statistic < 0  # the second one was right less often


def test_mcnemar_is_exact_on_few_disagreements():
    result = stats.mcnemar(2, 9)
    assert result.p_value == pytest.approx(sps.binomtest(9, 11, 0.5).pvalue, rel=1e-12)


def test_welch_from_summaries_equals_scipy_on_the_rows():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.3, 0.1, 200), rng.normal(0.32, 0.2, 50)
    result = stats.welch_t(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b))
    expected = sps.ttest_ind(b, a, equal_var=False)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_sample_size_gives_80_percent_power_and_no_more():
    for p in (0.6, 0.75, 0.9):
        n = stats.sample_size_two_proportions(p)
        p2 = p + 0.02

        def power(rows, p=p, p2=p2):
            p_bar = (p + p2) / 2
            se0 = sqrt(2 * p_bar * (1 - p_bar) / rows)
            se1 = sqrt((p * (1 - p) + p2 * (1 - p2)) / rows)
            return sps.norm.cdf((0.02 - 1.959963984540054 * se0) / se1)

        assert power(n) >= 0.8 > power(n - 1)


def test_sample_size_peaks_near_one_half():
    sizes = [stats.sample_size_two_proportions(p) for p in (0.5, 0.7, 0.9)]
    assert sizes == sorted(sizes, reverse=True)
    assert 9000 < sizes[0] < 10500  # 0.50 vs 0.52: about 9,800 per arm


def test_verdict_names_the_winner_and_the_p_value():
    v = stats.verdict(test=stats.TestResult(3.0, 0.0027), difference=0.03, more_rows=0)
    assert v.text == "challenger better, p = 0.003"
    v = stats.verdict(test=stats.TestResult(-3.0, 0.0001), difference=-0.03, more_rows=0)
    assert v.text == "challenger worse, p < 0.001"
    v = stats.verdict(
        test=stats.TestResult(0.3, 0.02), difference=0.01, more_rows=0, higher_is_better=False
    )
    assert v.kind == "worse"


def test_verdict_says_how_many_more_rows_are_needed():
    v = stats.verdict(test=stats.TestResult(0.5, 0.6), difference=0.01, more_rows=12345)
    assert v.text == (
        "no difference yet: about 12,345 more labelled rows needed for a 2-point difference at 80% power"
    )
    assert stats.verdict(test=None, difference=None, more_rows=None).kind == "not_enough"


def test_more_rows_for_se_shrinks_to_the_target():
    target = 0.02 / (1.959963984540054 + 0.8416212335729143)
    more = stats.more_rows_for_se(2 * target, 1000)
    assert more == 3000  # four times the rows halve the standard error
    assert stats.more_rows_for_se(target / 2, 1000) == 0


def test_z_test_ignores_empty_arms():
    assert stats.two_proportion_z(0, 0, 1, 2) is None
