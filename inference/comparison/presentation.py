"""What the Comparative View shows besides the numbers: the method notes and the
time-series charts, as data in the charts contract (looks are hub/static/hub/charts.js's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from inference import aggregates, analytics
from inference.comparison.numbers import MemberStats

METHOD_NOTES = {
    "rates": "Rates carry 95% Wilson score intervals, which stay honest at small counts.",
    "accuracy": (
        "Accuracy: a two-proportion z-test between the members' labelled rows "
        "(McNemar's test on the disagreements when both models scored the same requests)."
    ),
    "auc": (
        "AUC: DeLong's test on the latest labelled rows of each member "
        "(paired, with the two AUCs' covariance, when both scored the same requests)."
    ),
    "mean_score": "Mean score: Welch's t-test, which does not assume equal variances.",
    "latency": (
        "Latency percentiles come from a histogram with 1% wide buckets (as DDSketch): "
        "within 1% of the exact value."
    ),
    "power": (
        "'More rows needed' scales the current standard error of the difference down to "
        "what a 2-point difference needs at 5% significance and 80% power."
    ),
}

_LATENCY_NOTE = METHOD_NOTES["latency"]
TASK_METHOD_NOTES = {
    "regression": {
        "mae": (
            "MAE, RMSE, R², MAPE and the mean error (bias) are exact over every labelled row "
            "of the window (error = prediction − outcome). MAE carries a Student's t "
            "interval, RMSE a bootstrap one; the median absolute error uses the latest "
            "labelled rows."
        ),
        "mape": (
            "MAPE leaves out the rows whose true value is 0 (they have no percentage "
            "error; scikit-learn's own guard would make one such row a 10^15 % error)."
        ),
        "test": (
            "MAE difference: on absolute errors, a paired t-test and a Wilcoxon signed-rank "
            "test when both models scored the same requests (a shadow), Welch's t-test and "
            "a Mann-Whitney U test otherwise; the t-test decides. Its 95% interval is a "
            "seeded bootstrap (1,000 resamples)."
        ),
        "power": (
            "'More rows needed' scales the current standard error of the MAE difference "
            "down to what a difference of 5% of the champion's MAE needs at 5% "
            "significance and 80% power."
        ),
        "latency": _LATENCY_NOTE,
    },
    "multiclass_classification": {
        "rates": "Accuracy and top-2 accuracy carry 95% Wilson score intervals.",
        "f1": (
            "Accuracy and macro / weighted F1 come from the per-class counts of every "
            "labelled row (scikit-learn's, weighted by the counts); macro F1's interval is "
            "a bootstrap of those counts."
        ),
        "accuracy": (
            "Accuracy: McNemar's test on correctness when both models scored the same "
            "requests (a shadow), a two-proportion z-test otherwise."
        ),
        "log_loss": (
            "Log loss and top-2 accuracy use the latest labelled rows' class "
            "probabilities; the log-loss difference is tested by a t-test on per-row "
            "losses (paired for a shadow) with a seeded bootstrap 95% interval."
        ),
        "power": METHOD_NOTES["power"],
        "latency": _LATENCY_NOTE,
    },
}


def method_notes(task: str) -> dict[str, str]:
    return TASK_METHOD_NOTES.get(task, METHOD_NOTES)


SeriesRows = dict[tuple[int, datetime], dict[str, Any]]
AucRows = dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]


def _auc_rows(members: list[MemberStats], kind: str) -> AucRows:
    """Each member's labelled rows split by bucket, in numpy (tens of thousands of rows:
    a Python loop over them cost more than the query)."""
    rows: AucRows = {}
    for member in (m for m in members if m.scored.y):
        keys = np.floor_divide(
            np.asarray(member.scored.times), aggregates.BUCKET_SECONDS[kind]
        ).astype(np.int64)
        y, scores = member.scored.arrays
        for key in np.unique(keys):
            inside = keys == key
            rows[(member.version_id, int(key))] = (y[inside], scores[inside])
    return rows


def _accuracy(row: dict[str, Any] | None) -> float | None:
    if not row:
        return None
    evaluated = row["tp"] + row["fp"] + row["tn"] + row["fn"]
    return (row["tp"] + row["tn"]) / evaluated if evaluated else None


def _mean_score(row: dict[str, Any] | None) -> float | None:
    return row["score_sum"] / row["scored"] if row and row["scored"] else None


def _requests(row: dict[str, Any] | None) -> float:
    return (row or {}).get("requests", 0)


Value = Callable[[MemberStats, datetime], float | None]


def _mae(row: dict[str, Any] | None) -> float | None:
    return row["abs_error_sum"] / row["error_rows"] if row and row.get("error_rows") else None


def _class_accuracy(row: dict[str, Any] | None) -> float | None:
    cells = [(key[1] == key[2], n) for key, n in (row or {}).items() if isinstance(key, tuple)]
    labelled = sum(n for _, n in cells)
    return sum(n for right, n in cells if right) / labelled if labelled else None


def _task_specs(sql_series: SeriesRows, task: str) -> dict[str, tuple[str, Value]]:
    def of(read: Callable[[dict[str, Any] | None], float | None]) -> Value:
        return lambda member, bucket: read(sql_series.get((member.version_id, bucket)))

    if task == "regression":
        return {
            "requests": ("Requests", of(_requests)),
            "mean_score": ("Mean prediction", of(_mean_score)),
            "mae": ("MAE", of(_mae)),
        }
    return {
        "requests": ("Requests", of(_requests)),
        "accuracy": ("Accuracy", of(_class_accuracy)),
        "mean_score": ("Mean confidence", of(_mean_score)),
    }


def _specs(sql_series: SeriesRows, auc_rows: AucRows, kind: str) -> dict[str, tuple[str, Value]]:
    def auc(member: MemberStats, bucket: datetime) -> float | None:
        rows = auc_rows.get((member.version_id, aggregates.bucket_key(bucket.timestamp(), kind)))
        return analytics.auc_roc(*rows) if rows is not None else None

    def of(read: Callable[[dict[str, Any] | None], float | None]) -> Value:
        return lambda member, bucket: read(sql_series.get((member.version_id, bucket)))

    return {
        "requests": ("Requests", of(_requests)),
        "mean_score": ("Mean score", of(_mean_score)),
        "accuracy": ("Accuracy", of(_accuracy)),
        "auc": ("AUC-ROC", auc),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def series_charts(
    members: list[MemberStats], sql_series: SeriesRows, kind: str, task: str = ""
) -> dict[str, dict[str, Any]]:
    """One time-series chart per metric (binary: requests, mean score, accuracy, AUC;
    regression: requests, mean prediction, MAE; multiclass: requests, accuracy, mean
    confidence), a line per member, in the charts contract."""
    buckets = sorted({bucket for (_, bucket) in sql_series})
    fmt = "%b %d %H:00" if kind == "hour" else "%b %d"
    labels = [b.astimezone(UTC).strftime(fmt) for b in buckets]
    charts = {}
    if task in TASK_METHOD_NOTES:
        specs = _task_specs(sql_series, task)
    else:
        specs = _specs(sql_series, _auc_rows(members, kind), kind)
    for key, (title, value) in specs.items():
        charts[key] = {
            "kind": "timeseries",
            "title": f"{title} per {kind}",
            "x_title": f"{kind} (UTC)",
            "y_title": title,
            "labels": labels,
            "datasets": [
                {
                    "label": f"{m.version_label} ({m.role})",
                    "role": m.role,
                    "data": [_rounded(value(m, b)) for b in buckets],
                }
                for m in members
            ],
        }
    return charts
