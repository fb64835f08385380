"""The live side's metric maths per task (inference/metrics): every number equals
scikit-learn's, and every test scipy.stats', on the same rows (hypothesis-generated)."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from sklearn import metrics as skm

from inference import stats
from inference.metrics import counts, differences
from registry import task_metrics

TOL = {"rel": 1e-9, "abs": 1e-9}
# Prices, counts, scores: to three decimals (a denominator of 1e-300 tests float overflow).
values = st.floats(min_value=-1000, max_value=1000, allow_nan=False).map(lambda v: round(v, 3))
pairs = st.lists(st.tuples(values, values), min_size=2, max_size=200)
CLASSES = ["bundle", "discount", "none", "upgrade"]  # sorted, as scikit-learn orders them
class_pairs = st.lists(
    st.tuples(st.sampled_from(CLASSES), st.sampled_from(CLASSES)), min_size=1, max_size=300
)


@settings(max_examples=60, deadline=None)
@given(pairs)
def test_regression_metrics_from_sums_equal_scikit_learns_on_the_rows(rows):
    y_true = np.array([a for a, _ in rows])
    y_pred = np.array([p for _, p in rows])
    sums = counts.ErrorSums.of(y_true, y_pred)
    assert sums.mae == pytest.approx(skm.mean_absolute_error(y_true, y_pred), **TOL)
    assert sums.rmse == pytest.approx(skm.root_mean_squared_error(y_true, y_pred), **TOL)
    assert sums.mean_error == pytest.approx(float(np.mean(y_pred - y_true)), **TOL)
    spread = float(np.var(y_true))
    if spread > 1e-3:  # R² of a (nearly) constant target is a convention, not a number
        assert sums.r2 == pytest.approx(skm.r2_score(y_true, y_pred), rel=1e-9, abs=1e-7)
    expected_mape = task_metrics.mape_guarded(y_true, y_pred)
    if expected_mape is None:
        assert sums.mape is None
    else:
        assert sums.mape == pytest.approx(expected_mape, **TOL)


def test_mape_leaves_out_the_rows_whose_actual_value_is_zero():
    sums = counts.ErrorSums.of([0.0, 10.0, 20.0], [5.0, 11.0, 18.0])
    assert sums.ape_rows == 2
    assert sums.mape == pytest.approx(skm.mean_absolute_percentage_error([10, 20], [11, 18]))
    assert counts.ErrorSums.of([0.0, 0.0], [1.0, 2.0]).mape is None


@settings(max_examples=50, deadline=None)
@given(pairs)
def test_sums_add_up_like_the_rows_they_summarise(rows):
    """The roll-ups add hours up: the sums of two halves give the whole's numbers."""
    y_true = [a for a, _ in rows]
    y_pred = [p for _, p in rows]
    half = len(rows) // 2
    first = counts.ErrorSums.of(y_true[:half], y_pred[:half])
    second = counts.ErrorSums.of(y_true[half:], y_pred[half:])
    added = counts.ErrorSums.from_totals(
        {k: getattr(first, k) + getattr(second, k) for k in first.__dataclass_fields__}
    )
    assert added.mae == pytest.approx(skm.mean_absolute_error(y_true, y_pred), **TOL)


def test_mae_interval_is_students_t_interval_of_the_absolute_errors():
    rng = np.random.default_rng(1)
    y = rng.normal(50, 10, 80)
    p = y + rng.normal(0, 3, 80)
    interval = counts.ErrorSums.of(y, p).mae_interval
    errors = np.abs(p - y)
    low, high = sps.t.interval(0.95, len(errors) - 1, loc=errors.mean(), scale=sps.sem(errors))
    assert (interval.low, interval.high) == pytest.approx((low, high), **TOL)


def test_interval_coverage_is_the_share_of_actuals_inside_their_interval():
    assert counts.interval_coverage([1, 2, 3, 4], [0, 2.5, 2, 5], [2, 3, 3, 6]) == 0.5
    assert counts.interval_coverage([], [], []) is None


# One class alone is a case to check, on which scikit-learn warns whatever `labels` says.
@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
@settings(max_examples=60, deadline=None)
@given(class_pairs)
def test_multiclass_metrics_from_counts_equal_scikit_learns_on_the_rows(rows):
    y_pred = [p for p, _ in rows]
    y_true = [a for _, a in rows]
    cells = Counter(rows)  # (predicted, actual) -> rows: what the roll-ups keep
    got = counts.multiclass_from_counts(cells)
    labels = got["labels"]
    assert labels == sorted(set(y_true) | set(y_pred))  # what scikit-learn takes by default
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), **TOL)
    assert got["f1_macro"] == pytest.approx(
        skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0), **TOL
    )
    assert got["f1_weighted"] == pytest.approx(
        skm.f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0), **TOL
    )
    precision, recall, _, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    assert got["precision"] == pytest.approx(list(precision), **TOL)
    assert got["recall"] == pytest.approx(list(recall), **TOL)
    assert got["support"] == list(support)
    assert got["matrix"] == skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    right, n = counts.correct_rows(cells)
    assert right / n == pytest.approx(skm.accuracy_score(y_true, y_pred), **TOL)


@st.composite
def probability_rows(draw):
    n = draw(st.integers(min_value=3, max_value=120))
    k = len(CLASSES)
    raw = draw(
        st.lists(st.lists(st.floats(0.01, 1.0), min_size=k, max_size=k), min_size=n, max_size=n)
    )
    proba = np.array(raw) / np.array(raw).sum(axis=1, keepdims=True)
    actual = draw(st.lists(st.sampled_from(CLASSES), min_size=n, max_size=n))
    return actual, proba


@settings(max_examples=40, deadline=None)
@given(probability_rows())
def test_per_row_log_losses_average_to_scikit_learns_log_loss(data):
    actual, proba = data
    rows = [dict(zip(CLASSES, row, strict=True)) for row in proba]
    losses = counts.row_log_losses(actual, rows)
    assert losses.mean() == pytest.approx(
        skm.log_loss(actual, proba, labels=CLASSES), rel=1e-9, abs=1e-9
    )
    got = task_metrics.multiclass_proba_metrics(actual, proba, CLASSES)
    assert got["top_2_accuracy"] == pytest.approx(
        skm.top_k_accuracy_score(actual, proba, k=2, labels=CLASSES), **TOL
    )


def test_macro_f1_bootstrap_interval_brackets_the_value_and_is_seeded():
    matrix = [[40, 5, 3], [6, 30, 4], [2, 3, 25]]
    first = counts.macro_f1_interval(matrix)
    assert first == counts.macro_f1_interval(matrix)  # seeded: the same every time
    labels = ["a", "b", "c"]
    cells = {(labels[j], labels[i]): n for i, row in enumerate(matrix) for j, n in enumerate(row)}
    value = counts.multiclass_from_counts(cells)["f1_macro"]
    assert first.low < value < first.high


# --- the tests of a difference: scipy.stats' own ----------------------------------------

samples = st.lists(st.floats(0, 100, allow_nan=False), min_size=3, max_size=80)


@settings(max_examples=50, deadline=None)
@given(samples, samples)
def test_unpaired_tests_are_welch_and_mann_whitney_of_scipy(a, b):
    assume(np.var(a) > 1e-6 and np.var(b) > 1e-6)
    t, rank = differences.mean_difference_tests(a, b, paired=False)
    welch = sps.ttest_ind(b, a, equal_var=False)
    mw = sps.mannwhitneyu(b, a, alternative="two-sided")
    assert t.name == "Welch's t-test" and rank.name == "Mann-Whitney U test"
    assert (t.statistic, t.p_value) == pytest.approx((welch.statistic, welch.pvalue), **TOL)
    assert (rank.statistic, rank.p_value) == pytest.approx((mw.statistic, mw.pvalue), **TOL)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100)), min_size=3, max_size=80))
def test_paired_tests_are_paired_t_and_wilcoxon_of_scipy(rows):
    a = [x for x, _ in rows]
    b = [y for _, y in rows]
    diff = np.array(b) - np.array(a)
    assume(np.var(diff) > 1e-6)
    t, rank = differences.mean_difference_tests(a, b, paired=True)
    paired = sps.ttest_rel(b, a)
    signed = sps.wilcoxon(b, a)
    assert t.name == "paired t-test" and rank.name == "Wilcoxon signed-rank test"
    assert (t.statistic, t.p_value) == pytest.approx((paired.statistic, paired.pvalue), **TOL)
    assert (rank.statistic, rank.p_value) == pytest.approx((signed.statistic, signed.pvalue), **TOL)


def test_bootstrap_interval_of_a_mean_difference_is_seeded_and_brackets_it():
    rng = np.random.default_rng(3)
    a, b = rng.exponential(4, 300), rng.exponential(5, 300)
    unpaired = differences.bootstrap_mean_difference(a, b, paired=False)
    assert unpaired == differences.bootstrap_mean_difference(a, b, paired=False)
    assert unpaired.low < b.mean() - a.mean() < unpaired.high
    paired = differences.bootstrap_mean_difference(a, b, paired=True)
    resampled = sps.bootstrap(
        (b - a,), np.mean, n_resamples=1000, method="percentile", random_state=0
    ).confidence_interval
    # Another resampler, the same distribution: the two intervals nearly agree.
    assert paired.low == pytest.approx(resampled.low, abs=0.15)
    assert paired.high == pytest.approx(resampled.high, abs=0.15)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60))
def test_mcnemar_is_scipys_binomial_or_chi_square_test(only_a, only_b):
    result = stats.mcnemar(only_a, only_b)
    discordant = only_a + only_b
    if discordant == 0:
        assert result is None
        return
    if discordant < 25:
        expected = sps.binomtest(only_b, discordant, 0.5).pvalue
    else:
        chi2 = (abs(only_b - only_a) - 1) ** 2 / discordant
        expected = sps.chi2.sf(chi2, 1)
    assert result.p_value == pytest.approx(expected, **TOL)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400), st.data())
def test_two_proportion_z_test_is_scipys_chi_square_on_the_two_by_two_table(n_a, n_b, data):
    right_a = data.draw(st.integers(0, n_a))
    right_b = data.draw(st.integers(0, n_b))
    table = [[right_a, n_a - right_a], [right_b, n_b - right_b]]
    assume(all(sum(col) > 0 for col in zip(*table, strict=True)))
    result = stats.two_proportion_z(right_a, n_a, right_b, n_b)
    chi2 = sps.chi2_contingency(table, correction=False)
    assert result.statistic**2 == pytest.approx(chi2.statistic, rel=1e-9, abs=1e-9)
    assert result.p_value == pytest.approx(chi2.pvalue, rel=1e-9, abs=1e-12)
