"""The drift maths against scipy, on the same rows (1e-9), and the Evidently-style choice."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from monitoring import drift

numbers = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=200)


@settings(max_examples=60, deadline=None)
@given(numbers, numbers)
def test_ks_equals_scipy(reference, current):
    statistic, p_value = drift.ks(reference, current)
    expected = stats.ks_2samp(reference, current)
    assert statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert p_value == pytest.approx(expected.pvalue, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(numbers, numbers)
def test_wasserstein_is_scipys_divided_by_the_reference_std(reference, current):
    expected = stats.wasserstein_distance(reference, current) / max(
        np.std(reference), drift.STD_FLOOR
    )
    assert drift.wasserstein_normed(reference, current) == pytest.approx(
        expected, rel=1e-9, abs=1e-9
    )


categories = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=200)


@settings(max_examples=60, deadline=None)
@given(categories, categories)
def test_chi_square_and_jensen_shannon_equal_scipy(reference, current):
    keys = sorted(set(reference) | set(current))
    table = np.array([[reference.count(k) for k in keys], [current.count(k) for k in keys]])
    statistic, p_value = drift.chi_square(reference, current)
    if len(keys) > 1:
        expected = stats.chi2_contingency(table, correction=False)
        assert statistic == pytest.approx(expected.statistic, abs=1e-9)
        assert p_value == pytest.approx(expected.pvalue, abs=1e-9)
    shares = table / table.sum(axis=1, keepdims=True)
    assert drift.jensen_shannon(reference, current) == pytest.approx(
        jensenshannon(shares[0], shares[1], base=2), abs=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=200),
    st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=200),
)
def test_two_proportion_z_test_agrees_with_the_2x2_chi_square(reference, current):
    z, p_value = drift.z_test(reference, current)
    keys = sorted(set(reference) | set(current))
    if len(keys) < 2:
        assert p_value == 1.0
        return
    table = np.array([[reference.count(k) for k in keys], [current.count(k) for k in keys]])
    expected = stats.chi2_contingency(table, correction=False)
    assert z * z == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    assert p_value == pytest.approx(expected.pvalue, abs=1e-9)


def test_psi_uses_ten_reference_quantile_bins():
    rng = np.random.default_rng(1)
    reference, current = rng.normal(0, 1, 2000), rng.normal(0.5, 1, 2000)
    edges = np.concatenate(
        [[-np.inf], np.unique(np.quantile(reference, np.linspace(0, 1, 11))[1:-1]), [np.inf]]
    )
    ref = np.histogram(reference, edges)[0] / 2000
    cur = np.histogram(current, edges)[0] / 2000
    expected = float(np.sum((ref - cur) * np.log(ref / cur)))
    assert drift.psi(reference.tolist(), current.tolist()) == pytest.approx(expected, abs=1e-12)
    assert len(edges) - 1 == 10


@pytest.mark.parametrize(
    ("reference", "current", "method"),
    [
        (list(range(1000)), list(range(50)), drift.KS),
        ([1, 2, 3, 1, 2] * 100, [1, 2, 3], drift.CHI_SQUARE),
        ([0, 1] * 400, [0, 1], drift.Z_TEST),
        (["a", "b", "c"] * 300, ["a"], drift.CHI_SQUARE),
        (list(range(1001)), list(range(50)), drift.WASSERSTEIN),
        ([0, 1] * 600, [0, 1], drift.JENSEN_SHANNON),
        (["a", "b", "c"] * 400, ["a"], drift.JENSEN_SHANNON),
    ],
)
def test_method_is_chosen_by_type_and_reference_size(reference, current, method):
    assert drift.feature_drift("f", reference, current).method == method


def test_psi_option_and_per_feature_override():
    reference = list(np.random.default_rng(2).normal(size=500))
    assert (
        drift.feature_drift("f", reference, reference[:100], psi_default=True).method == drift.PSI
    )
    forced = drift.feature_drift(
        "f", reference, reference[:100], override=drift.Override(drift.WASSERSTEIN, 0.3)
    )
    assert (forced.method, forced.threshold) == (drift.WASSERSTEIN, 0.3)


def test_a_shift_of_sixty_percent_is_drift_and_missing_values_are_left_out():
    rng = np.random.default_rng(3)
    reference = rng.lognormal(10, 0.4, 800).tolist()
    current = (rng.lognormal(10, 0.4, 300) * 1.6).tolist() + [None, float("nan"), ""]
    result = drift.feature_drift("income", reference, current)
    assert result.method == drift.KS and result.drifted and result.p_value < 1e-10
    assert result.current_rows == 300


def test_attribution_weighting_ignores_drift_the_model_does_not_use():
    features = [
        drift.FeatureDrift("income", "ks", 0.5, 0.0, 0.05, True, 10, 10),
        drift.FeatureDrift("age", "ks", 0.01, 0.9, 0.05, False, 10, 10),
    ]
    shares = drift.shap_shares(
        [{"income": 0.1, "age": -0.9}, {"income": -0.1, "age": 0.9}], ["income", "age"]
    )
    assert shares == pytest.approx({"income": 0.1, "age": 0.9})
    assert drift.weighted_drift(features, shares) == pytest.approx(0.1)
    shift = drift.share_shift(shares, {"income": 0.05, "age": 0.95})
    assert shift["income"]["ratio"] == pytest.approx(2.0)
    assert math.isclose(drift.dataset_drift(features)[0], 0.5)
