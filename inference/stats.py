"""Is the difference real? Significance tests for a challenger against the champion (pure).

- accuracy: two-proportion z-test (pooled), or McNemar's test when both models scored
  the same rows (shadow traffic), where only the disagreements carry information;
- AUC: DeLong's test, unpaired for split traffic, paired (with the covariance of the two
  AUCs) when both models scored the same rows;
- mean score: Welch's t-test from the SQL summary (mean, variance, n);
- how many more rows a 2-point difference would need at 80% power, and a plain verdict.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil, sqrt

import numpy as np
from scipy import stats as sps

from inference.analytics import below_and_ties

ALPHA = 0.05
POWER = 0.80
MIN_DIFFERENCE = 0.02  # "2 points" on a 0-1 scale
_Z_ALPHA = float(sps.norm.ppf(1 - ALPHA / 2))
_Z_POWER = float(sps.norm.ppf(POWER))


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p_value: float


@dataclass(frozen=True)
class AucTest:
    auc_a: float
    auc_b: float
    variance_a: float
    variance_b: float
    covariance: float
    statistic: float
    p_value: float

    @property
    def se_difference(self) -> float:
        return sqrt(max(self.variance_a + self.variance_b - 2 * self.covariance, 0.0))


@dataclass(frozen=True)
class Verdict:
    kind: str  # better / worse / no_difference / not_enough
    text: str
    p_value: float | None = None
    more_rows: int | None = None
    test: str = ""  # the test's name, shown with the verdict
    # Other tests of the same difference, as (name, statistic, p-value), and the difference's
    # bootstrap interval where one is made (regression and multiclass).
    companions: tuple[tuple[str, float, float], ...] = ()
    difference_ci: tuple[float, float] | None = None


def _two_sided(z: float) -> float:
    return float(2 * sps.norm.sf(abs(z)))


def two_proportion_z(successes_a: int, n_a: int, successes_b: int, n_b: int) -> TestResult | None:
    """Pooled two-proportion z-test of b against a (z > 0 when b's rate is higher)."""
    if n_a <= 0 or n_b <= 0:
        return None
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se = sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    diff = successes_b / n_b - successes_a / n_a
    if se == 0:
        return TestResult(0.0, 1.0)
    z = diff / se
    return TestResult(z, _two_sided(z))


def mcnemar(only_a_right: int, only_b_right: int) -> TestResult | None:
    """McNemar's test on the paired disagreements: exact binomial below 25 discordant
    pairs, chi-square with continuity correction above. Statistic > 0 when b is ahead."""
    discordant = only_a_right + only_b_right
    if discordant == 0:
        return None
    sign = 1.0 if only_b_right >= only_a_right else -1.0
    if discordant < 25:
        p = sps.binomtest(only_b_right, discordant, 0.5).pvalue
        return TestResult(sign * float(abs(only_b_right - only_a_right)), float(p))
    chi2 = (abs(only_b_right - only_a_right) - 1) ** 2 / discordant
    return TestResult(sign * chi2, float(sps.chi2.sf(chi2, 1)))


def welch_t(
    mean_a: float, variance_a: float, n_a: int, mean_b: float, variance_b: float, n_b: int
) -> TestResult | None:
    if n_a < 2 or n_b < 2:
        return None
    if variance_a <= 0 and variance_b <= 0:
        return TestResult(0.0, 1.0) if mean_a == mean_b else None
    result = sps.ttest_ind_from_stats(
        mean_b,
        sqrt(max(variance_b, 0.0)),
        n_b,
        mean_a,
        sqrt(max(variance_a, 0.0)),
        n_a,
        equal_var=False,
    )
    return TestResult(float(result.statistic), float(result.pvalue))


def _placements(
    y_true: np.ndarray, scores: np.ndarray, *, row_order: bool = False
) -> tuple[np.ndarray, np.ndarray, float]:
    """DeLong's structural components (Sun & Xu, 2014), O(n log n): V10 per positive (the
    share of negatives it outranks, ties half), V01 per negative (the share of positives
    that outrank it). What mid-ranks give, counted on each class sorted once.

    In sorted order unless `row_order` (the paired test, whose covariance pairs each row's
    components under the two models)."""
    positives = scores[y_true == 1]
    negatives = scores[y_true == 0]
    m, n = len(positives), len(negatives)
    by_score_p = np.argsort(positives, kind="stable") if row_order else None
    by_score_n = np.argsort(negatives, kind="stable") if row_order else None
    positives = positives[by_score_p] if row_order else np.sort(positives)
    negatives = negatives[by_score_n] if row_order else np.sort(negatives)
    below = below_and_ties(negatives, positives)  # exact: sums of halves
    v10 = below / n
    v01 = 1.0 - below_and_ties(positives, negatives) / m
    if row_order:
        v10[by_score_p], v01[by_score_n] = v10.copy(), v01.copy()
    return v10, v01, float(below.sum() / (m * n))


def _check(y_true: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
    t = np.asarray(y_true, dtype=int)
    s = np.asarray(scores, dtype=float)
    positives = int(t.sum())
    if positives < 2 or len(t) - positives < 2:
        return None  # a variance needs two of each class
    return t, s


def auc_variance(y_true: Sequence[int], scores: Sequence[float]) -> float | None:
    """DeLong's variance of one AUC (for its confidence interval), or None with fewer than
    two rows of either class."""
    checked = _check(y_true, scores)
    if checked is None:
        return None
    v10, v01, _ = _placements(*checked)
    return _variance(v10, v01)


def _variance(v10: np.ndarray, v01: np.ndarray) -> float:
    return float(v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01))


def delong_unpaired(
    y_a: Sequence[int], scores_a: Sequence[float], y_b: Sequence[int], scores_b: Sequence[float]
) -> AucTest | None:
    """Two AUCs from different rows (split traffic): the variances add."""
    a, b = _check(y_a, scores_a), _check(y_b, scores_b)
    if a is None or b is None:
        return None
    variances, aucs = [], []
    for t, s in (a, b):
        v10, v01, auc = _placements(t, s)
        variances.append(_variance(v10, v01))
        aucs.append(auc)
    return _auc_test(aucs[0], aucs[1], variances[0], variances[1], 0.0)


def delong_paired(
    y_true: Sequence[int], scores_a: Sequence[float], scores_b: Sequence[float]
) -> AucTest | None:
    """Two AUCs on the same rows (shadow traffic): DeLong's covariance is subtracted."""
    checked = _check(y_true, scores_a)
    if checked is None:
        return None
    t, s_a = checked
    s_b = np.asarray(scores_b, dtype=float)
    v10_a, v01_a, auc_a = _placements(t, s_a, row_order=True)
    v10_b, v01_b, auc_b = _placements(t, s_b, row_order=True)
    s10 = np.cov(np.vstack([v10_a, v10_b]), ddof=1)
    s01 = np.cov(np.vstack([v01_a, v01_b]), ddof=1)
    m, n = len(v10_a), len(v01_a)
    cov = s10 / m + s01 / n
    return _auc_test(auc_a, auc_b, float(cov[0, 0]), float(cov[1, 1]), float(cov[0, 1]))


def _auc_test(auc_a: float, auc_b: float, var_a: float, var_b: float, cov: float) -> AucTest:
    se = sqrt(max(var_a + var_b - 2 * cov, 0.0))
    if se == 0:
        z, p = 0.0, 1.0 if auc_a == auc_b else 0.0
    else:
        z = (auc_b - auc_a) / se
        p = _two_sided(z)
    return AucTest(auc_a, auc_b, var_a, var_b, cov, z, p)


def sample_size_two_proportions(
    p: float, *, difference: float = MIN_DIFFERENCE, alpha: float = ALPHA, power: float = POWER
) -> int:
    """Rows per arm to detect `p` against `p +/- difference` (two-sided), by the
    classic normal-approximation formula (Fleiss)."""
    p1 = min(max(p, 0.0), 1.0)
    p2 = p1 + difference if p1 + difference <= 1 else p1 - difference
    z_a = float(sps.norm.ppf(1 - alpha / 2))
    z_b = float(sps.norm.ppf(power))
    p_bar = (p1 + p2) / 2
    numerator = z_a * sqrt(2 * p_bar * (1 - p_bar)) + z_b * sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return max(2, ceil(numerator**2 / difference**2))


def more_rows_for_proportions(p: float, n_a: int, n_b: int) -> int:
    needed = sample_size_two_proportions(p)
    return max(0, needed - n_a) + max(0, needed - n_b)


def more_rows_for_se(se: float, rows: int, *, difference: float = MIN_DIFFERENCE) -> int:
    """Standard errors shrink as 1/sqrt(rows): how many more rows bring the standard error
    of the difference down to what a `difference` needs at 80% power."""
    if rows <= 0 or se <= 0:
        return 0
    target = difference / (_Z_ALPHA + _Z_POWER)
    factor = (se / target) ** 2
    return max(0, ceil(rows * factor) - rows)


def format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def verdict(
    *,
    test: TestResult | AucTest | None,
    difference: float | None,
    more_rows: int | None,
    higher_is_better: bool = True,
    rows_noun: str = "labelled rows",
    alpha: float = ALPHA,
    test_name: str = "",
    size: str = "2 points",
) -> Verdict:
    """One sentence a person can act on. `size`: the difference 'more rows' is about."""
    if test is None or difference is None:
        return Verdict("not_enough", f"not enough {rows_noun} yet to compare", test=test_name)
    p = test.p_value
    if p < alpha and difference != 0:
        better = (difference > 0) == higher_is_better
        kind = "better" if better else "worse"
        return Verdict(kind, f"challenger {kind}, {format_p(p)}", p_value=p, test=test_name)
    if more_rows:
        size_text = "a 2-point difference" if size == "2 points" else f"a difference of {size}"
        return Verdict(
            "no_difference",
            f"no difference yet: about {more_rows:,} more {rows_noun} needed for "
            f"{size_text} at 80% power",
            p_value=p,
            more_rows=more_rows,
            test=test_name,
        )
    return Verdict(
        "no_difference",
        f"no real difference ({format_p(p)}); enough {rows_noun} to see {size}",
        p_value=p,
        more_rows=0,
        test=test_name,
    )
