"""Each arm's metric and the difference's variance (pure)."""

import math

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss, mean_absolute_error, roc_auc_score

from rollouts.quality import arm_quality, paired, unpaired

RNG = np.random.default_rng(4)
Y = RNG.integers(0, 2, 400)
P = np.clip(Y * 0.6 + RNG.uniform(0, 0.4, 400), 0, 1)
ROWS = [(int(p > 0.5), float(p), int(y)) for p, y in zip(P, Y, strict=True)]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("log_loss", log_loss(Y, P)),
        ("brier", brier_score_loss(Y, P)),
        ("auc_roc", roc_auc_score(Y, P)),
        ("accuracy", float(np.mean((P > 0.5) == Y))),
    ],
)
def test_arm_metrics_equal_scikit_learns(metric, expected):
    assert arm_quality(metric, ROWS).value == pytest.approx(expected, abs=1e-12)


def test_regression_metrics_and_the_delta_method_for_rmse():
    rows = [(float(p), None, float(y)) for p, y in zip(P, Y, strict=True)]
    assert arm_quality("mae", rows).value == pytest.approx(mean_absolute_error(Y, P))
    squared = (P - Y) ** 2
    rmse = arm_quality("rmse", rows)
    assert rmse.value == pytest.approx(math.sqrt(squared.mean()))
    assert rmse.variance == pytest.approx(squared.var(ddof=1) / len(P) / (4 * squared.mean()))


def test_accuracy_keeps_a_positive_variance_when_every_row_is_right():
    perfect = arm_quality("accuracy", [(1, 0.9, 1)] * 20)
    assert perfect.value == 1.0 and perfect.variance == pytest.approx((21 / 22) * (1 / 22) / 20)


def test_unpaired_variances_add_and_paired_uses_the_per_request_differences():
    a, b = ROWS[:200], ROWS[200:]
    split = unpaired("brier", a, b)
    assert split.variance == pytest.approx(
        arm_quality("brier", a).variance + arm_quality("brier", b).variance
    )
    worse = [(pred, min(1.0, score + 0.05), y) for pred, score, y in ROWS]
    same_requests = paired("brier", list(zip(ROWS, worse, strict=True)))
    assert same_requests.paired and same_requests.variance < unpaired("brier", ROWS, worse).variance


def test_no_rows_is_not_ready():
    assert not unpaired("accuracy", [], ROWS).ready
    assert not paired("auc_roc", []).ready
