"""The metric maths gives scikit-learn's numbers on the same rows."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from inference import analytics

TOLERANCE = 1e-9

labels_and_scores = st.integers(min_value=2, max_value=300).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        # a coarse grid of scores makes ties common, which is where AUC goes wrong
        st.lists(
            st.one_of(
                st.floats(0, 1, allow_nan=False),
                st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0]),
            ),
            min_size=n,
            max_size=n,
        ),
    )
)


@settings(max_examples=150, deadline=None)
@given(labels_and_scores)
def test_accuracy_matches_scikit_learn(data):
    y, scores = data
    predicted = [int(s >= 0.5) for s in scores]
    assert abs(analytics.accuracy(y, predicted) - skm.accuracy_score(y, predicted)) < TOLERANCE


@settings(max_examples=150, deadline=None)
@given(labels_and_scores)
def test_precision_recall_f1_match_scikit_learn(data):
    y, scores = data
    predicted = [int(s >= 0.5) for s in scores]
    c = analytics.confusion(y, predicted)
    assert abs(c.precision - skm.precision_score(y, predicted, zero_division=0)) < TOLERANCE
    assert abs(c.recall - skm.recall_score(y, predicted, zero_division=0)) < TOLERANCE
    assert abs(c.f1 - skm.f1_score(y, predicted, zero_division=0)) < TOLERANCE


@settings(max_examples=200, deadline=None)
@given(labels_and_scores)
def test_auc_matches_scikit_learn_including_ties(data):
    y, scores = data
    ours = analytics.auc_roc(y, scores)
    if len(set(y)) < 2:
        assert ours is None
    else:
        assert abs(ours - skm.roc_auc_score(y, scores)) < TOLERANCE


@settings(max_examples=150, deadline=None)
@given(labels_and_scores)
def test_log_loss_matches_scikit_learn_with_clipping(data):
    y, scores = data
    expected = skm.log_loss(y, scores, labels=[0, 1])
    assert abs(analytics.log_loss(y, scores) - expected) < TOLERANCE


@settings(max_examples=150, deadline=None)
@given(labels_and_scores)
def test_brier_matches_scikit_learn(data):
    y, scores = data
    expected = skm.brier_score_loss(y, scores, pos_label=1)
    assert abs(analytics.brier(y, scores) - expected) < TOLERANCE


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0, 5000, allow_nan=False), min_size=1, max_size=200),
    st.sampled_from([0.5, 0.95, 0.99]),
)
def test_percentile_matches_numpy_linear_interpolation(values, q):
    assert analytics.percentile(values, q) == pytest.approx(
        np.percentile(values, q * 100), abs=1e-9
    )


def test_auc_is_undefined_with_one_class():
    assert analytics.auc_roc([1, 1, 1], [0.2, 0.5, 0.9]) is None


def test_wilson_interval_matches_the_textbook_example():
    # Newcombe (1998), method 3: 81 successes out of 263 -> 0.2553 to 0.3662
    interval = analytics.wilson_interval(81, 263)
    assert interval.low == pytest.approx(0.2553, abs=1e-4)
    assert interval.high == pytest.approx(0.3662, abs=1e-4)


def test_wilson_interval_stays_inside_zero_and_one():
    assert analytics.wilson_interval(0, 10).low == 0.0
    assert analytics.wilson_interval(10, 10).high == 1.0
    assert analytics.wilson_interval(0, 0) is None


def test_empty_rows_give_no_metric_rather_than_zero():
    assert analytics.accuracy([], []) is None
    assert analytics.log_loss([], []) is None
    assert analytics.brier([], []) is None
