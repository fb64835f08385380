"""The always-valid interval and mixture likelihood ratio (Johari et al. 2022), against
values worked out by hand from the formulas in rollouts/sequential.py."""

import math

import numpy as np
import pytest

from rollouts.sequential import (
    mixture_half_width,
    mixture_interval,
    mixture_log_likelihood_ratio,
    rows_to_exclude,
)


def test_half_width_matches_the_worked_value_for_unit_variance_and_mixture():
    # V = 1, tau = 1, alpha = 0.05: sqrt(1 * 2 / 1 * (ln 2 + 2 ln 20)) = sqrt(13.369223) = 3.656395
    assert mixture_half_width(1.0, alpha=0.05, tau=1.0) == pytest.approx(3.656395, abs=1e-6)


def test_half_width_matches_the_worked_value_when_the_variance_is_larger_than_the_mixture():
    # V = 4, tau = 1: sqrt(4 * 5 / 1 * (ln(5 / 4) + 2 ln 20)) = sqrt(20 * 6.214608) = 11.148639
    assert mixture_half_width(4.0, alpha=0.05, tau=1.0) == pytest.approx(11.148639, abs=1e-5)


def test_half_width_scales_with_the_standard_error_when_the_mixture_scales_too():
    # V = 1e-4, tau = 0.01: the first worked value times 0.01.
    assert mixture_half_width(1e-4, alpha=0.05, tau=0.01) == pytest.approx(0.03656395, abs=1e-8)


def test_likelihood_ratio_reaches_one_over_alpha_exactly_on_the_interval_edge():
    half = mixture_half_width(1.0, alpha=0.05, tau=1.0)
    assert mixture_log_likelihood_ratio(half, 1.0, tau=1.0) == pytest.approx(math.log(20), abs=1e-9)
    assert mixture_log_likelihood_ratio(0.0, 1.0, tau=1.0) == pytest.approx(0.5 * math.log(0.5))


def test_interval_is_wider_than_the_fixed_horizon_one():
    interval = mixture_interval(0.1, 0.0004, alpha=0.05, tau=0.02)
    assert interval.lower == pytest.approx(0.1 - interval.half_width)
    assert interval.half_width > 1.96 * math.sqrt(0.0004)


def test_rows_to_exclude_is_the_smallest_count_whose_interval_excludes_the_threshold():
    per_row_variance, rows = 0.25, 100
    needed = rows_to_exclude(
        0.05, per_row_variance / rows, rows, alpha=0.05, tau=0.02, threshold=0.0
    )
    assert needed is not None and needed > rows
    assert mixture_half_width(per_row_variance / needed, alpha=0.05, tau=0.02) < 0.05
    assert mixture_half_width(per_row_variance / (needed - 1), alpha=0.05, tau=0.02) >= 0.05


def test_rows_to_exclude_has_no_answer_on_the_threshold_or_without_data():
    assert rows_to_exclude(0.0, 0.01, 100, alpha=0.05, tau=0.02, threshold=0.0) is None
    assert rows_to_exclude(0.1, 0.0, 0, alpha=0.05, tau=0.02, threshold=0.0) is None


def test_the_interval_covers_the_truth_at_every_look_in_most_runs():
    # 300 runs of 400 looks at a normal mean: the share of runs where the interval ever
    # misses 0 stays under alpha (the guarantee the test rests on).
    rng = np.random.default_rng(7)
    misses = 0
    for _ in range(300):
        draws = rng.normal(0.0, 1.0, 400)
        sums = np.cumsum(draws)
        n = np.arange(1, 401)
        half = np.array([mixture_half_width(1.0 / k, alpha=0.05, tau=0.2) for k in n])
        misses += bool(np.any(np.abs(sums / n) > half))
    assert misses / 300 <= 0.05, f"ever-missed share {misses / 300:.3f}"
