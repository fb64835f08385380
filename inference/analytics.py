"""Metric maths for binary classifiers over logged predictions (pure: no Django).

Every function takes plain sequences (labels 0/1, scores = probability of class 1) and
gives the same number as scikit-learn on the same rows (held to it by the tests, within
1e-9). AUC, log loss and Brier are computed here with numpy, as scikit-learn defines them:
its input validation cost more than the sums over the comparison's 2 x 20,000 labelled rows.
Counts that SQL already aggregated (confusion counts) go through `Confusion`, so the
page never needs the rows for accuracy, precision, recall or F1.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from math import sqrt

import numpy as np

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Confusion:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def correct(self) -> int:
        return self.tp + self.tn

    # scikit-learn's zero_division default: an undefined ratio counts as 0.
    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    @property
    def precision(self) -> float | None:
        if not self.n:
            return None
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float | None:
        if not self.n:
            return None
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float | None:
        if not self.n:
            return None
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0


def confusion(y_true: Sequence[int], y_pred: Sequence[int]) -> Confusion:
    t = np.asarray(y_true, dtype=int)
    p = np.asarray(y_pred, dtype=int)
    return Confusion(
        tp=int(np.sum((t == 1) & (p == 1))),
        fp=int(np.sum((t == 0) & (p == 1))),
        tn=int(np.sum((t == 0) & (p == 0))),
        fn=int(np.sum((t == 1) & (p == 0))),
    )


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float | None:
    return confusion(y_true, y_pred).accuracy


def below_and_ties(sorted_other: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each value: how many of `sorted_other` are below it, plus half of those equal
    to it (the Mann-Whitney count; ties count half, as in the ROC curve's area)."""
    low = np.searchsorted(sorted_other, values, side="left")
    high = np.searchsorted(sorted_other, values, side="right")
    return low + (high - low) / 2


def auc_roc(y_true: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (tied scores count half); None with only one class.

    The Mann-Whitney form: the share of (positive, negative) pairs the positive outranks.
    The counts are sums of halves, exact in floating point, so one division gives the
    area to the last bit (scikit-learn's trapezoids agree within rounding)."""
    t = np.asarray(y_true, dtype=int)
    if not len(t) or t.min() == t.max():
        return None
    s = np.asarray(scores, dtype=float)
    # Both sorted: searchsorted walks sorted keys through memory in order (4x faster).
    positives, negatives = np.sort(s[t == 1]), np.sort(s[t == 0])
    pairs = len(positives) * len(negatives)
    return float(below_and_ties(negatives, positives).sum() / pairs)


def log_loss(y_true: Sequence[int], scores: Sequence[float]) -> float | None:
    """Mean negative log-likelihood. As scikit-learn, each class's probability is clipped
    to [eps, 1 - eps] (the dtype's epsilon): a confident wrong answer costs ~36, not
    infinity."""
    if not len(y_true):
        return None
    t = np.asarray(y_true, dtype=int)
    s = np.asarray(scores, dtype=float)
    eps = np.finfo(s.dtype).eps
    chosen = np.where(t == 1, s, 1 - s)  # the probability given to the true class
    return float(-np.mean(np.log(np.clip(chosen, eps, 1 - eps))))


def brier(y_true: Sequence[int], scores: Sequence[float]) -> float | None:
    if not len(y_true):
        return None
    t = np.asarray(y_true, dtype=float)
    s = np.asarray(scores, dtype=float)
    return float(np.mean((t - s) ** 2))


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks: numpy's default and PostgreSQL's
    percentile_cont, so SQL and Python agree. q in [0, 1]."""
    if not len(values):
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def wilson_interval(successes: int, n: int, *, z: float = Z_95) -> Interval | None:
    """Wilson score interval for a rate: unlike the plain normal interval it stays inside
    [0, 1] and behaves at 0 or n successes and small n."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0 or n successes the bound is exactly 0 or 1; rounding would leave 1 - 1e-16.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def mean_interval(
    mean: float | None, variance: float | None, n: int, *, z: float = Z_95
) -> Interval | None:
    """Normal interval on a mean from its sample variance (n large enough on live traffic)."""
    if mean is None or n < 2 or variance is None:
        return None
    half = z * sqrt(max(variance, 0.0) / n)
    return Interval(mean - half, mean + half)
