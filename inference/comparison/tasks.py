"""The Comparative View's numbers and verdicts for regression and multiclass members (pure:
no Django). Binary members keep numbers.py and verdicts.py.

Regression: MAE, RMSE, R², MAPE and the bias come from the error sums SQL added up (the
roll-ups keep them), exact over every labelled row of the window; the median absolute
error, the RMSE's interval and the tests from the member's latest labelled rows. The MAE
difference is tested on absolute errors: paired t and Wilcoxon signed-rank when a shadow
scored the champion's very requests, Welch's t and Mann-Whitney U otherwise, with a
seeded bootstrap interval of the difference.

Multiclass: accuracy and F1 from the (predicted, actual) counts (the roll-ups' rows),
log loss and top-2 accuracy from the latest labelled rows' class probabilities.
Accuracy is tested by McNemar's test (paired) or the two-proportion z-test; the log-loss
difference by a t-test on per-row losses with a bootstrap interval.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn import metrics as skm

from inference import analytics, stats
from inference.comparison.numbers import (
    SHADOW,
    MemberStats,
    Metric,
    _latencies,
    _rate,
    deltas_fill,
)
from inference.comparison.verdicts import mean_score_verdict
from inference.metrics import counts, differences
from registry import task_metrics

if TYPE_CHECKING:
    from inference.aggregates import TaskRows, Totals

# registry.models.Task's values (this module stays free of Django).
REGRESSION, MULTICLASS = "regression", "multiclass_classification"
LATENCIES = ("latency_p50", "latency_p95", "latency_p99")
KPIS = {
    REGRESSION: ("requests", "traffic_share", "mean_score", "mae", "rmse", "r2"),
    MULTICLASS: ("requests", "traffic_share", "accuracy", "f1_macro", "log_loss"),
}
DETAILS = {
    REGRESSION: ("mean_error", "median_absolute_error", "mape", *LATENCIES),
    MULTICLASS: ("f1_weighted", f"top_{task_metrics.TOP_K}_accuracy", "mean_score", *LATENCIES),
}
LOG_LOSS_DIFFERENCE = 0.02  # the log-loss difference "more rows needed" is about


# --- each member's numbers ----------------------------------------------------------------


def _common(totals: Totals, total_served: int, mean_label: str) -> list[Metric]:
    return [
        Metric("requests", "Requests", totals.requests, unit="count", higher_is_better=None),
        _rate("traffic_share", "Traffic share", totals.served, total_served, higher_is_better=None),
        Metric(
            "mean_score",
            mean_label,
            totals.mean_score,
            analytics.mean_interval(totals.mean_score, totals.score_variance, totals.scored),
            unit="number",
            higher_is_better=None,
        ),
        *_latencies(totals),
    ]


def _errors(rows: TaskRows) -> np.ndarray:
    return np.asarray(rows.predicted, dtype=float) - np.asarray(rows.actual, dtype=float)


def regression_member_metrics(
    totals: Totals, rows: TaskRows, total_served: int
) -> dict[str, Metric]:
    sums = totals.error_sums
    median = float(skm.median_absolute_error(rows.actual, rows.predicted)) if len(rows) else None
    metrics = [
        *_common(totals, total_served, "Mean prediction"),
        Metric("mae", "MAE", sums.mae, sums.mae_interval, unit="number", higher_is_better=False),
        Metric(
            "rmse",
            "RMSE",
            sums.rmse,
            counts.bootstrap_rmse_interval(_errors(rows)) if len(rows) else None,
            unit="number",
            higher_is_better=False,
        ),
        Metric("r2", "R²", sums.r2, unit="number"),
        Metric("mape", "MAPE", sums.mape, unit="rate", higher_is_better=False),
        Metric(
            "mean_error",
            "Mean error (bias)",
            sums.mean_error,
            sums.mean_error_interval,
            unit="number",
            higher_is_better=None,
        ),
        Metric(
            "median_absolute_error",
            "Median absolute error",
            median,
            unit="number",
            higher_is_better=False,
        ),
    ]
    return {m.key: m for m in metrics}


@dataclass(frozen=True)
class ClassProbabilities:
    """A member's labelled rows' probabilities as a matrix, columns in `classes` order
    (class labels as the log's JSON keys: text)."""

    actual: list[str]
    matrix: np.ndarray
    classes: list[str]

    @classmethod
    def of(cls, rows: TaskRows) -> ClassProbabilities | None:
        if not rows.probabilities:
            return None
        classes = sorted({c for p in rows.probabilities for c in p})
        actual = [str(a) for a in rows.actual]
        if len(classes) < 2 or not set(actual) <= set(classes):
            return None  # a label the model never knew: no log loss
        matrix = np.array([[p.get(c, 0.0) for c in classes] for p in rows.probabilities])
        return cls(actual, matrix, classes)

    def metrics(self) -> dict[str, float]:
        return task_metrics.multiclass_proba_metrics(self.actual, self.matrix, self.classes)

    def row_losses(self) -> np.ndarray:
        return counts.row_log_losses(
            self.actual, [dict(zip(self.classes, row, strict=True)) for row in self.matrix]
        )


def _probability_metrics(rows: TaskRows) -> list[Metric]:
    top_key = f"top_{task_metrics.TOP_K}_accuracy"
    probabilities = ClassProbabilities.of(rows)
    if probabilities is None:
        return [
            Metric("log_loss", "Log loss", None, unit="number", higher_is_better=False),
            Metric(top_key, f"Top-{task_metrics.TOP_K} accuracy", None),
        ]
    values = probabilities.metrics()
    n = len(probabilities.actual)
    return [
        Metric(
            "log_loss",
            "Log loss",
            values["log_loss"],
            counts.mean_interval(probabilities.row_losses()),
            unit="number",
            higher_is_better=False,
        ),
        Metric(
            top_key,
            f"Top-{task_metrics.TOP_K} accuracy",
            values[top_key],
            analytics.wilson_interval(round(values[top_key] * n), n),
        ),
    ]


def multiclass_member_metrics(
    totals: Totals, rows: TaskRows, total_served: int
) -> dict[str, Metric]:
    scores = counts.multiclass_from_counts(totals.cells)
    right, labelled = counts.correct_rows(totals.cells)
    matrix = scores.get("matrix")
    metrics = [
        *_common(totals, total_served, "Mean confidence"),
        _rate("accuracy", "Accuracy", right, labelled),
        Metric(
            "f1_macro",
            "Macro F1",
            scores.get("f1_macro"),
            counts.macro_f1_interval(matrix) if matrix else None,
            unit="number",
        ),
        Metric("f1_weighted", "Weighted F1", scores.get("f1_weighted"), unit="number"),
        *_probability_metrics(rows),
    ]
    return {m.key: m for m in metrics}


MEMBER_METRICS: dict[str, Callable[[Totals, TaskRows, int], dict[str, Metric]]] = {
    REGRESSION: regression_member_metrics,
    MULTICLASS: multiclass_member_metrics,
}


def member_as_dict(member: MemberStats) -> dict[str, Any]:
    t = member.totals
    rows = member.rows
    out: dict[str, Any] = {
        "model_version": member.version_id,
        "model": member.model_name,
        "version": member.version_label,
        "role": member.role,
        "weight": member.weight,
        "task": member.task,
        "requests": t.requests,
        "traffic_share": member.traffic_share,
        "labelled": t.labelled,
        "fallbacks": t.fallbacks,
        "errors": t.errors,
        "latency_ms": dict(zip(("p50", "p95", "p99"), t.latency, strict=True)),
        "rows_used": len(rows) if rows is not None else 0,
        "rows_capped": rows.truncated if rows is not None else False,
        "metrics": {key: metric.as_dict() for key, metric in member.metrics.items()},
    }
    if member.task == MULTICLASS:
        scores = counts.multiclass_from_counts(t.cells)
        out["confusion"] = {"labels": scores.get("labels", []), "matrix": scores.get("matrix", [])}
        out["per_class"] = {
            key: scores.get(key, []) for key in ("labels", "precision", "recall", "f1", "support")
        }
    return out


# --- pairs: a shadow's rows matched with the champion's -----------------------------------


@dataclass(frozen=True)
class TaskPairs:
    """Requests both members answered: row indices in the champion's and the shadow's rows."""

    champion: list[int]
    challenger: list[int]

    def __len__(self) -> int:
        return len(self.champion)


def task_pairs(
    champion: MemberStats,
    challenger: MemberStats,
    shadow_id: Callable[[uuid.UUID, int], uuid.UUID],
) -> TaskPairs | None:
    """A shadow logs each request it shadows under an id derived from the served request's
    (inference.serving.shadow_request_id): the champion's rows name their shadow rows."""
    ours, theirs = champion.rows, challenger.rows
    if challenger.role != SHADOW or not ours or not theirs:
        return None
    position = {request_id: i for i, request_id in enumerate(theirs.request_ids)}
    a: list[int] = []
    b: list[int] = []
    for i, request_id in enumerate(ours.request_ids):
        j = position.get(str(shadow_id(uuid.UUID(request_id), challenger.version_id)))
        if j is not None and theirs.actual[j] == ours.actual[i]:
            a.append(i)
            b.append(j)
    return TaskPairs(a, b) if a else None


# --- verdicts -----------------------------------------------------------------------------


def _absolute_errors(rows: TaskRows, index: list[int] | None = None) -> np.ndarray:
    errors = np.abs(_errors(rows))
    return errors if index is None else errors[index]


def _tested(
    a: np.ndarray,
    b: np.ndarray,
    *,
    paired: bool,
    target: float,
    size: str,
) -> stats.Verdict:
    """A verdict on mean(b) − mean(a) of per-row values where lower is better (absolute
    errors, log losses): the t-test decides, the rank test and the bootstrap interval are
    shown with it."""
    t_test, rank_test = differences.mean_difference_tests(a, b, paired=paired)
    difference = float(b.mean() - a.mean()) if len(a) and len(b) else None
    se = differences.mean_difference_se(a, b, paired=paired)
    rows = len(a) + len(b) if not paired else 2 * len(a)
    more = stats.more_rows_for_se(se, rows, difference=target) if se and target > 0 else None
    verdict = stats.verdict(
        test=t_test,
        difference=difference,
        more_rows=more,
        higher_is_better=False,
        test_name=t_test.name if t_test else "",
        size=size,
    )
    interval = differences.bootstrap_mean_difference(a, b, paired=paired)
    return replace(
        verdict,
        companions=tuple((t.name, t.statistic, t.p_value) for t in (rank_test,) if t),
        difference_ci=(interval.low, interval.high) if interval else None,
    )


def _pair_rows(
    champion: MemberStats, challenger: MemberStats, pairs: TaskPairs | None
) -> tuple[TaskRows, TaskRows, list[int] | None, list[int] | None]:
    assert champion.rows is not None and challenger.rows is not None
    if pairs is None:
        return champion.rows, challenger.rows, None, None
    return champion.rows, challenger.rows, pairs.champion, pairs.challenger


def mae_verdict(
    champion: MemberStats, challenger: MemberStats, pairs: TaskPairs | None
) -> stats.Verdict:
    ours, theirs, a_index, b_index = _pair_rows(champion, challenger, pairs)
    a, b = _absolute_errors(ours, a_index), _absolute_errors(theirs, b_index)
    mae = champion.totals.error_sums.mae or 0.0
    return _tested(
        a,
        b,
        paired=pairs is not None,
        target=differences.MAE_RELATIVE_DIFFERENCE * mae,
        size=f"{differences.MAE_RELATIVE_DIFFERENCE:.0%} of the champion's MAE",
    )


def _correct(rows: TaskRows, index: list[int]) -> np.ndarray:
    return np.array([rows.predicted[i] == rows.actual[i] for i in index], dtype=bool)


def accuracy_verdict(
    champion: MemberStats, challenger: MemberStats, pairs: TaskPairs | None
) -> stats.Verdict:
    ours_right, ours_n = counts.correct_rows(champion.totals.cells)
    theirs_right, theirs_n = counts.correct_rows(challenger.totals.cells)
    if not (ours_n and theirs_n):
        return stats.verdict(test=None, difference=None, more_rows=None)
    if pairs is not None:
        assert champion.rows is not None and challenger.rows is not None
        a = _correct(champion.rows, pairs.champion)
        b = _correct(challenger.rows, pairs.challenger)
        test = stats.mcnemar(int((a & ~b).sum()), int((b & ~a).sum()))
        difference = float(b.mean() - a.mean())
        name = "McNemar's test"
    else:
        test = stats.two_proportion_z(ours_right, ours_n, theirs_right, theirs_n)
        difference = theirs_right / theirs_n - ours_right / ours_n
        name = "two-proportion z-test"
    p1, p2 = ours_right / ours_n, theirs_right / theirs_n
    se = np.sqrt(p1 * (1 - p1) / ours_n + p2 * (1 - p2) / theirs_n)
    if se > 0:
        more = stats.more_rows_for_se(float(se), ours_n + theirs_n)
    else:
        more = stats.more_rows_for_proportions(p1, ours_n, theirs_n)
    return stats.verdict(test=test, difference=difference, more_rows=more, test_name=name)


def log_loss_verdict(
    champion: MemberStats, challenger: MemberStats, pairs: TaskPairs | None
) -> stats.Verdict | None:
    assert champion.rows is not None and challenger.rows is not None
    ours = ClassProbabilities.of(champion.rows)
    theirs = ClassProbabilities.of(challenger.rows)
    if ours is None or theirs is None:
        return None
    a, b = ours.row_losses(), theirs.row_losses()
    if pairs is not None:
        a, b = a[pairs.champion], b[pairs.challenger]
    return _tested(
        a,
        b,
        paired=pairs is not None,
        target=LOG_LOSS_DIFFERENCE,
        size=f"{LOG_LOSS_DIFFERENCE} in log loss",
    )


def _mean_verdict(champion: MemberStats, challenger: MemberStats) -> stats.Verdict:
    """Welch's t-test of the mean prediction (confidence), as for binary, without the
    'more rows' of a 2-point difference, which means nothing on a price scale."""
    verdict = mean_score_verdict(champion, challenger)
    if verdict.kind != "no_difference" or verdict.p_value is None:
        return verdict
    return stats.Verdict(
        "no_difference",
        f"no real difference in the mean ({stats.format_p(verdict.p_value)})",
        verdict.p_value,
        test=verdict.test,
    )


def task_challenger_judge(
    champion: MemberStats, challenger: MemberStats, pairs: TaskPairs | None
) -> None:
    """Fill the challenger's deltas and the verdicts of its task's metrics."""
    deltas_fill(champion, challenger)
    metrics = challenger.metrics
    metrics["mean_score"].verdict = _mean_verdict(champion, challenger)
    if not (champion.rows and challenger.rows):
        headline = "mae" if challenger.task == REGRESSION else "accuracy"
        if challenger.task == MULTICLASS:
            metrics[headline].verdict = accuracy_verdict(champion, challenger, None)
        else:
            metrics[headline].verdict = stats.verdict(test=None, difference=None, more_rows=None)
        return
    if challenger.task == REGRESSION:
        metrics["mae"].verdict = mae_verdict(champion, challenger, pairs)
        return
    metrics["accuracy"].verdict = accuracy_verdict(champion, challenger, pairs)
    metrics["log_loss"].verdict = log_loss_verdict(champion, challenger, pairs)
