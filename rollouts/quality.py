"""The metric of each arm and their difference (challenger - champion), from labelled rows
(pure: no Django). Each estimate comes with its variance, which is what the sequential
test (rollouts/sequential.py) needs: per-row metrics (accuracy, log loss, Brier, MAE) are
means; RMSE goes through the delta method; AUC through DeLong's variance (inference/stats.py).

A row is (prediction, score, outcome). Split traffic gives two independent samples (the
variances add); a shadow gives pairs (the same request scored by both), where the
variance of the per-row differences is used instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.stats import auc_variance, delong_paired

Row = tuple[Any, float | None, Any]  # prediction, score, outcome
Pair = tuple[Row, Row]  # champion's row, challenger's row for the same request

HIGHER_IS_BETTER = {
    "accuracy": True,
    "auc_roc": True,
    "log_loss": False,
    "brier": False,
    "mae": False,
    "rmse": False,
}
METRICS = tuple(HIGHER_IS_BETTER)
MEAN_METRICS = ("accuracy", "log_loss", "brier", "mae")
EPSILON = 1e-15
Z95 = 1.959963984540054


@dataclass(frozen=True)
class ArmQuality:
    labelled: int
    value: float | None
    variance: float | None  # of `value`, the estimate

    def as_evidence(self) -> dict[str, Any]:
        interval = None
        if self.value is not None and self.variance is not None:
            se = math.sqrt(max(self.variance, 0.0))
            interval = [self.value - Z95 * se, self.value + Z95 * se]
        return {"labelled": self.labelled, "value": self.value, "interval_95": interval}


@dataclass(frozen=True)
class QualityEvidence:
    metric: str
    paired: bool
    champion: ArmQuality
    challenger: ArmQuality
    difference: float | None  # challenger - champion, in the metric's own direction
    variance: float | None

    @property
    def labelled(self) -> int:
        return self.champion.labelled + self.challenger.labelled

    @property
    def ready(self) -> bool:
        """Enough to test: a difference with a positive variance (never 'no data')."""
        return self.difference is not None and self.variance is not None and self.variance > 0


def _same(a: Any, b: Any) -> bool:
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _row_value(metric: str, row: Row) -> float:
    prediction, score, outcome = row
    if metric == "accuracy":
        return 1.0 if _same(prediction, outcome) else 0.0
    if metric == "mae":
        return abs(float(prediction) - float(outcome))
    if metric == "rmse":
        return (float(prediction) - float(outcome)) ** 2
    p = min(max(float(score if score is not None else prediction), EPSILON), 1 - EPSILON)
    y = float(outcome)
    if metric == "brier":
        return (p - y) ** 2
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))  # log_loss


def row_values(metric: str, rows: Sequence[Row]) -> np.ndarray:
    return np.array([_row_value(metric, row) for row in rows], dtype=float)


def _mean_and_variance(values: np.ndarray) -> tuple[float | None, float | None]:
    if len(values) == 0:
        return None, None
    if len(values) < 2:
        return float(values.mean()), None
    return float(values.mean()), float(values.var(ddof=1) / len(values))


def arm_quality(metric: str, rows: Sequence[Row]) -> ArmQuality:
    """One arm's metric and the variance of that estimate."""
    if metric == "auc_roc":
        return _arm_auc(rows)
    values = row_values(metric, rows)
    mean, variance = _mean_and_variance(values)
    if metric == "accuracy" and mean is not None:
        # The plug-in p(1 - p) is 0 when every row is right (or wrong): the Laplace-smoothed
        # share (s + 1) / (n + 2) keeps a positive, slightly conservative variance.
        smoothed = (mean * len(values) + 1) / (len(values) + 2)
        return ArmQuality(len(values), mean, smoothed * (1 - smoothed) / len(values))
    if metric == "rmse" and mean is not None:
        value = math.sqrt(mean)
        # Delta method: var(sqrt(m)) ~ var(m) / (4 m).
        variance = None if variance is None or mean == 0 else variance / (4 * mean)
        return ArmQuality(len(values), value, variance)
    return ArmQuality(len(values), mean, variance)


def _arm_auc(rows: Sequence[Row]) -> ArmQuality:
    labels = [int(float(outcome)) for _, _, outcome in rows]
    scores = [float(score) if score is not None else float(pred) for pred, score, _ in rows]
    variance = auc_variance(labels, scores)
    if variance is None:
        return ArmQuality(len(rows), None, None)
    from sklearn.metrics import roc_auc_score

    return ArmQuality(len(rows), float(roc_auc_score(labels, scores)), variance)


def unpaired(metric: str, champion: Sequence[Row], challenger: Sequence[Row]) -> QualityEvidence:
    """Split traffic: two independent samples, so the variances add."""
    a, b = arm_quality(metric, champion), arm_quality(metric, challenger)
    difference = variance = None
    if a.value is not None and b.value is not None:
        difference = b.value - a.value
        if a.variance is not None and b.variance is not None:
            variance = a.variance + b.variance
    return QualityEvidence(metric, False, a, b, difference, variance)


def paired(metric: str, pairs: Sequence[Pair]) -> QualityEvidence:
    """A shadow: both models scored the same requests, so the test uses the per-request
    differences (their covariance is taken out), which needs far fewer rows."""
    champion_rows = [p[0] for p in pairs]
    challenger_rows = [p[1] for p in pairs]
    a, b = arm_quality(metric, champion_rows), arm_quality(metric, challenger_rows)
    if a.value is None or b.value is None:
        return QualityEvidence(metric, True, a, b, None, None)
    variance = _paired_variance(metric, champion_rows, challenger_rows, a, b)
    return QualityEvidence(metric, True, a, b, b.value - a.value, variance)


def _paired_variance(
    metric: str, champion: Sequence[Row], challenger: Sequence[Row], a: ArmQuality, b: ArmQuality
) -> float | None:
    if metric == "auc_roc":
        labels = [int(float(outcome)) for _, _, outcome in champion]
        test = delong_paired(
            labels, [float(r[1]) for r in champion], [float(r[1]) for r in challenger]
        )
        return None if test is None else test.se_difference**2
    va, vb = row_values(metric, champion), row_values(metric, challenger)
    if len(va) < 2:
        return None
    if metric == "rmse":
        if a.value == 0 or b.value == 0:
            return None
        # Delta method on (mse_a, mse_b): gradient (-1 / (2 rmse_a), 1 / (2 rmse_b)).
        gradient = np.array([-1 / (2 * a.value), 1 / (2 * b.value)])
        covariance = np.cov(np.vstack([va, vb]), ddof=1) / len(va)
        return float(gradient @ covariance @ gradient)
    return float((vb - va).var(ddof=1) / len(va))
