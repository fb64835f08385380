"""Latency percentiles from 1% log buckets: within 1% of numpy's exact percentiles, and
histograms that add up across hours."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference import latency_sketch
from inference.latency_sketch import histogram_add, histogram_of, histograms_sum, percentiles

# 1%, and the last bit of float rounding at a bucket's edge.
REL = latency_sketch.RELATIVE_ACCURACY * (1 + 1e-9)

latencies = st.lists(
    st.one_of(
        st.floats(min_value=1e-3, max_value=1e6, allow_nan=False),
        st.sampled_from([0.0, 0.001, 1.0, 2.5, 10.0, 250.0]),  # ties and the zero bucket
    ),
    min_size=1,
    max_size=300,
)
quantiles = st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(latencies, quantiles)
def test_every_percentile_is_within_one_percent_of_numpys(values, qs):
    found = percentiles(histogram_of(values), qs)
    for q, value in zip(qs, found, strict=True):
        exact = float(np.percentile(values, q * 100))
        assert value == pytest.approx(exact, rel=REL, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(latencies, latencies)
def test_histograms_of_two_parts_add_up_to_the_histogram_of_the_whole(first, second):
    merged = histogram_of(first)
    histogram_add(merged, histogram_of(second))
    assert merged == histogram_of(first + second)


@settings(max_examples=200, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=8))
def test_histograms_summed_at_once_equal_the_histogram_of_all_their_values(parts):
    summed = histograms_sum([histogram_of(part) for part in parts])
    assert summed == histogram_of([value for part in parts for value in part])


def test_a_bucket_answers_within_one_percent_of_both_its_edges():
    gamma = latency_sketch.GAMMA
    for index in (-300, -1, 0, 1, 57, 400):
        value = latency_sketch.representative(str(index))
        assert value == pytest.approx(gamma**index, rel=REL)  # upper edge, included
        assert value == pytest.approx(gamma ** (index - 1), rel=REL)  # lower edge, excluded


def test_zero_and_negative_latencies_share_the_zero_bucket_which_answers_zero():
    assert histogram_of([0.0, -1.0]) == {latency_sketch.ZERO: 2}
    assert percentiles({latency_sketch.ZERO: 2}, [0.5]) == (0.0,)


def test_an_empty_histogram_has_no_percentiles():
    assert percentiles({}, [0.5, 0.99]) == (None, None)
    assert percentiles({"12": 0}, [0.5]) == (None,)


def test_one_value_is_every_percentile():
    (p0, p50, p100) = percentiles(histogram_of([42.0]), [0, 0.5, 1])
    assert p0 == p50 == p100 == pytest.approx(42.0, rel=REL)
