"""Metrics from counts and sums (pure), equal to scikit-learn's on the rows they summarise.

Multiclass: the roll-ups keep, per model version, how many labelled rows had each
(predicted, actual) pair. scikit-learn takes those pairs once each with their counts as
`sample_weight`, which gives exactly the numbers of the rows themselves.

Regression: the roll-ups keep n, sum(e), sum(|e|), sum(e²), sum(y), sum(y²) and sum(|e|/|y|)
over the rows whose y is not 0 (e = predicted − actual, registry/task_metrics.py's sign).
MAE, RMSE, the bias, R² and MAPE are ratios of those sums. MAPE is guarded at zero as in
registry/task_metrics.py: rows whose actual value is 0 have no percentage error and are
left out (None when every actual is 0).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, fields
from math import sqrt
from typing import Any

import numpy as np
from scipy import stats as sps
from sklearn import metrics as skm

from inference.analytics import Z_95, Interval

Cells = Mapping[tuple[Hashable, Hashable], float]  # (predicted, actual) -> rows


# --- regression ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorSums:
    """What a regression model's labelled rows add up to (the roll-ups' fields)."""

    error_rows: int = 0
    error_sum: float = 0.0
    abs_error_sum: float = 0.0
    squared_error_sum: float = 0.0
    actual_sum: float = 0.0
    actual_squares: float = 0.0
    ape_sum: float = 0.0
    ape_rows: int = 0

    @classmethod
    def of(cls, y_true: Any, y_pred: Any) -> ErrorSums:
        y = np.asarray(y_true, dtype=float).reshape(-1)
        e = np.asarray(y_pred, dtype=float).reshape(-1) - y
        nonzero = y != 0
        return cls(
            error_rows=int(len(y)),
            error_sum=float(e.sum()),
            abs_error_sum=float(np.abs(e).sum()),
            squared_error_sum=float((e * e).sum()),
            actual_sum=float(y.sum()),
            actual_squares=float((y * y).sum()),
            ape_sum=float((np.abs(e[nonzero]) / np.abs(y[nonzero])).sum()),
            ape_rows=int(nonzero.sum()),
        )

    @classmethod
    def from_totals(cls, total: Mapping[str, float]) -> ErrorSums:
        values = {f.name: total.get(f.name, 0) or 0 for f in fields(cls)}
        values["error_rows"] = int(values["error_rows"])
        values["ape_rows"] = int(values["ape_rows"])
        return cls(**values)

    @property
    def mae(self) -> float | None:
        return self.abs_error_sum / self.error_rows if self.error_rows else None

    @property
    def mse(self) -> float | None:
        return self.squared_error_sum / self.error_rows if self.error_rows else None

    @property
    def rmse(self) -> float | None:
        mse = self.mse
        return sqrt(max(mse, 0.0)) if mse is not None else None

    @property
    def mean_error(self) -> float | None:
        return self.error_sum / self.error_rows if self.error_rows else None

    @property
    def r2(self) -> float | None:
        """sklearn's r2_score (force_finite): 1 for a perfect fit of a constant target, 0
        for an imperfect one; None below two rows."""
        n = self.error_rows
        if n < 2:
            return None
        total = self.actual_squares - self.actual_sum * self.actual_sum / n
        if total <= 1e-12 * max(self.actual_squares, 1.0):
            return 1.0 if self.squared_error_sum == 0 else 0.0
        return 1.0 - self.squared_error_sum / total

    @property
    def mape(self) -> float | None:
        return self.ape_sum / self.ape_rows if self.ape_rows else None

    def _sd(self, mean: float | None) -> float | None:
        n = self.error_rows
        if mean is None or n < 2:
            return None
        return sqrt(max(0.0, (self.squared_error_sum - n * mean * mean) / (n - 1)))

    @property
    def abs_error_sd(self) -> float | None:
        """Sample standard deviation of |e| (|e|² = e², so the sums above suffice)."""
        return self._sd(self.mae)

    @property
    def error_sd(self) -> float | None:
        return self._sd(self.mean_error)

    def _t_interval(self, mean: float | None, sd: float | None) -> Interval | None:
        if mean is None or sd is None:
            return None
        half = float(sps.t.ppf(0.975, self.error_rows - 1)) * sd / sqrt(self.error_rows)
        return Interval(mean - half, mean + half)

    @property
    def mae_interval(self) -> Interval | None:
        """Student's t interval of the mean absolute error."""
        interval = self._t_interval(self.mae, self.abs_error_sd)
        return Interval(max(0.0, interval.low), interval.high) if interval else None

    @property
    def mean_error_interval(self) -> Interval | None:
        return self._t_interval(self.mean_error, self.error_sd)


def regression_from_sums(sums: ErrorSums) -> dict[str, float | None]:
    return {
        "mae": sums.mae,
        "rmse": sums.rmse,
        "mean_error": sums.mean_error,
        "r2": sums.r2,
        "mape": sums.mape,
        "n": sums.error_rows,
    }


def interval_coverage(y_true: Any, lower: Any, upper: Any) -> float | None:
    """The share of actual values inside their prediction interval [lower, upper]."""
    y = np.asarray(y_true, dtype=float).reshape(-1)
    if not len(y):
        return None
    low = np.asarray(lower, dtype=float).reshape(-1)
    high = np.asarray(upper, dtype=float).reshape(-1)
    return float(np.mean((y >= low) & (y <= high)))


def percentile_interval(samples: np.ndarray) -> Interval | None:
    samples = samples[np.isfinite(samples)]
    if not len(samples):
        return None
    low, high = np.percentile(samples, [2.5, 97.5])
    return Interval(float(low), float(high))


def bootstrap_rmse_interval(
    errors: Sequence[float], *, seed: int = 0, resamples: int = 1000
) -> Interval | None:
    """Percentile bootstrap of the RMSE over the rows' errors (seeded: the same rows give
    the same interval)."""
    e2 = np.asarray(errors, dtype=float) ** 2
    if len(e2) < 2:
        return None
    means = bootstrap_means(e2, seed=seed, resamples=resamples)
    return percentile_interval(np.sqrt(means))


def bootstrap_means(
    values: np.ndarray, *, seed: int, resamples: int, chunk: int = 100
) -> np.ndarray:
    """The mean of `resamples` resamples (with replacement) of `values`."""
    rng = np.random.default_rng(seed)
    n = len(values)
    out = np.empty(resamples)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        out[start : start + size] = values[rng.integers(0, n, size=(size, n))].mean(axis=1)
    return out


# --- multiclass ---------------------------------------------------------------------------


def _weighted(cells: Cells) -> tuple[list, list, np.ndarray]:
    pairs = [(p, a, n) for (p, a), n in cells.items() if n]
    return [a for _, a, _ in pairs], [p for p, _, _ in pairs], np.array([n for *_, n in pairs])


def cell_labels(cells: Cells) -> list:
    """Every label seen as a prediction or an outcome, in scikit-learn's (sorted) order."""
    seen = {label for pair, n in cells.items() if n for label in pair}
    try:
        return sorted(seen)
    except TypeError:  # mixed types: order by their text
        return sorted(seen, key=str)


def correct_rows(cells: Cells) -> tuple[int, int]:
    """(rows predicted right, labelled rows)."""
    right = sum(n for (p, a), n in cells.items() if p == a)
    return int(right), int(sum(cells.values()))


def multiclass_from_counts(cells: Cells) -> dict[str, Any]:
    """Accuracy, macro and weighted F1, per-class precision / recall / F1 / support and the
    confusion matrix, from (predicted, actual) counts: scikit-learn's on the rows."""
    y_true, y_pred, weight = _weighted(cells)
    if not y_true:
        return {}
    labels = cell_labels(cells)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, sample_weight=weight, zero_division=0
    )
    matrix = skm.confusion_matrix(y_true, y_pred, labels=labels, sample_weight=weight)
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred, sample_weight=weight)),
        "f1_macro": float(
            skm.f1_score(y_true, y_pred, average="macro", sample_weight=weight, zero_division=0)
        ),
        "f1_weighted": float(
            skm.f1_score(y_true, y_pred, average="weighted", sample_weight=weight, zero_division=0)
        ),
        "labels": labels,
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "f1": [float(v) for v in f1],
        "support": [int(round(v)) for v in matrix.sum(axis=1)],
        "matrix": [[int(round(v)) for v in row] for row in matrix],
    }


def _macro_f1(matrices: np.ndarray) -> np.ndarray:
    """Macro F1 of many confusion matrices at once (rows actual, columns predicted),
    zero_division=0 as scikit-learn's."""
    tp = np.diagonal(matrices, axis1=1, axis2=2)
    predicted = matrices.sum(axis=1)
    actual = matrices.sum(axis=2)
    denominator = predicted + actual
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp, dtype=float), where=denominator > 0)
    return f1.mean(axis=1)


def macro_f1_interval(
    matrix: Sequence[Sequence[int]], *, seed: int = 0, resamples: int = 1000
) -> Interval | None:
    """Percentile bootstrap of the macro F1: the rows resampled through their confusion
    cells (a multinomial draw of the same total), so no row needs reading."""
    counts = np.asarray(matrix, dtype=float)
    total = int(counts.sum())
    if total < 2:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(total, (counts / total).reshape(-1), size=resamples)
    return percentile_interval(_macro_f1(draws.reshape(resamples, *counts.shape).astype(float)))


def row_log_losses(
    actual: Sequence[Hashable], probabilities: Sequence[Mapping[str, float]]
) -> np.ndarray:
    """Each row's −log p(actual class), probabilities clipped as scikit-learn's log_loss
    clips them (machine epsilon); a class the model never gave a probability counts as
    that epsilon."""
    eps = np.finfo(float).eps
    values = np.array(
        [float(p.get(str(a), 0.0)) for a, p in zip(actual, probabilities, strict=True)]
    )
    return -np.log(np.clip(values, eps, 1 - eps))


def mean_interval(values: np.ndarray) -> Interval | None:
    """A normal interval of a mean of per-row values (log loss, correctness)."""
    if len(values) < 2:
        return None
    mean = float(values.mean())
    half = Z_95 * float(values.std(ddof=1)) / sqrt(len(values))
    return Interval(mean - half, mean + half)
