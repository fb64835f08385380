"""A version's validation charts (the metadata's `charts` section) as chart data.

Pure functions: each takes the schema's chart object (and optionally a compared version's)
and returns the chart contract that templates/components/chart.html renders and
hub/static/hub/charts.js draws: {kind, title, x_title, y_title, labels?, datasets}. The
palette, the diagonal reference lines and every Chart.js option live in charts.js.
"""

from typing import Any

Chart = dict[str, Any]


def _xy(xs: list, ys: list) -> list[dict]:
    return [{"x": x, "y": y} for x, y in zip(xs, ys, strict=False)]


def _curve(
    kind: str,
    title: str,
    axes: tuple[str, str],
    keys: tuple[str, str],
    series: list[tuple[str, dict]],
) -> Chart:
    """One dataset per (label, chart object) that has the two keys."""
    x_key, y_key = keys
    return {
        "kind": kind,
        "title": title,
        "x_title": axes[0],
        "y_title": axes[1],
        "datasets": [
            {"label": label, "data": _xy(chart[x_key], chart[y_key])}
            for label, chart in series
            if chart and x_key in chart and y_key in chart
        ],
    }


def _series(
    chart: dict, label: str, other: dict | None, other_label: str
) -> list[tuple[str, dict]]:
    # No roles: the versions compared here need not be in a group; charts.js colours by order.
    return [(label, chart), (other_label, other or {})]


def roc_chart(chart: dict, label: str, other: dict | None = None, other_label: str = "") -> Chart:
    return _curve(
        "roc",
        "ROC curve",
        ("False positive rate", "True positive rate"),
        ("fpr", "tpr"),
        _series(chart, label, other, other_label),
    )


def pr_chart(chart: dict, label: str, other: dict | None = None, other_label: str = "") -> Chart:
    return _curve(
        "pr",
        "Precision-recall curve",
        ("Recall", "Precision"),
        ("recall", "precision"),
        _series(chart, label, other, other_label),
    )


def calibration_chart(
    chart: dict, label: str, other: dict | None = None, other_label: str = ""
) -> Chart:
    return _curve(
        "calibration",
        "Calibration",
        ("Mean predicted probability", "Observed fraction of positives"),
        ("mean_predicted", "fraction_positive"),
        _series(chart, label, other, other_label),
    )


def _matrix_labels(chart: dict) -> list[str]:
    return [str(x) for x in chart.get("labels") or range(len(chart["matrix"]))]


def confusion_chart(chart: dict) -> Chart:
    """One category per actual label, one dataset per predicted label (charts.js stacks them)."""
    matrix = chart["matrix"]
    labels = _matrix_labels(chart)
    return {
        "kind": "confusion",
        "title": "Confusion matrix",
        "x_title": "Actual label",
        "y_title": "Rows",
        "labels": [f"Actual {a}" for a in labels],
        "datasets": [
            {
                "label": f"Predicted {predicted}",
                "data": [row[j] if j < len(row) else 0 for row in matrix],
            }
            for j, predicted in enumerate(labels)
        ],
    }


def importance_chart(chart: dict) -> Chart:
    pairs = sorted(
        zip(chart["features"], chart["importances"], strict=False), key=lambda p: -abs(p[1])
    )
    return {
        "kind": "bars",
        "title": "Global feature importance",
        "x_title": f"Importance ({chart.get('method', 'model')})",
        "y_title": "",
        "orientation": "horizontal",
        "labels": [p[0] for p in pairs],
        "datasets": [
            {"label": f"Importance ({chart.get('method', 'model')})", "data": [p[1] for p in pairs]}
        ],
    }


def _matrix_rows(chart: dict) -> list[dict]:
    return [
        {"label": label, "cells": row}
        for label, row in zip(_matrix_labels(chart), chart["matrix"], strict=False)
    ]


def _points(xs: list, ys: list) -> list[dict]:
    return [{"x": x, "y": y} for x, y in zip(xs, ys, strict=False)]


def predicted_actual_chart(chart: dict, label: str) -> Chart:
    return {
        "kind": "scatter",
        "title": "Predicted vs actual",
        "x_title": "Actual",
        "y_title": "Predicted",
        "datasets": [{"label": label, "data": _points(chart["actual"], chart["predicted"])}],
    }


def residuals_chart(chart: dict, label: str) -> Chart:
    errors = [p - a for p, a in zip(chart["predicted"], chart["actual"], strict=False)]
    return {
        "kind": "scatter",
        "title": "Residuals vs predicted",
        "x_title": "Predicted",
        "y_title": "Error (predicted − actual)",
        "datasets": [{"label": label, "data": _points(chart["predicted"], errors)}],
    }


def residual_histogram_chart(chart: dict, label: str) -> Chart:
    edges = chart["edges"]
    return {
        "kind": "histogram",
        "title": "Residual histogram",
        "x_title": "Error (predicted − actual)",
        "y_title": "Rows",
        "labels": [f"{(lo + hi) / 2:.3g}" for lo, hi in zip(edges, edges[1:], strict=False)],
        "datasets": [{"label": label, "data": chart["counts"]}],
    }


def error_by_decile_chart(chart: dict) -> Chart:
    deciles = chart.get("decile") or list(range(1, len(chart["mae"]) + 1))
    datasets = [{"label": "MAE", "data": chart["mae"]}]
    if "mean_error" in chart:
        datasets.append({"label": "Mean error (bias)", "data": chart["mean_error"]})
    return {
        "kind": "bars",
        "title": "Error by decile of the prediction",
        "x_title": "Decile of the prediction (1 = lowest)",
        "y_title": "Error",
        "labels": [f"D{d}" for d in deciles],
        "datasets": datasets,
    }


def per_class_chart(chart: dict) -> Chart:
    return {
        "kind": "bars",
        "title": "Precision and recall per class",
        "x_title": "Class",
        "y_title": "Score",
        "labels": [str(c) for c in chart["labels"]],
        "datasets": [
            {"label": "Precision", "data": chart["precision"]},
            {"label": "Recall", "data": chart["recall"]},
        ],
    }


def top_k_chart(chart: dict, label: str) -> Chart:
    return {
        "kind": "timeseries",
        "title": "Top-k accuracy",
        "x_title": "k (classes allowed)",
        "y_title": "Accuracy",
        "labels": [f"top {k}" for k in chart["k"]],
        "datasets": [{"label": label, "data": chart["accuracy"]}],
    }


def loss_curve_chart(chart: dict) -> Chart:
    return {
        "kind": "timeseries",
        "title": "Loss per boosting stage",
        "x_title": "Trees",
        "y_title": chart.get("loss", "loss"),
        "labels": chart["stages"],
        "datasets": [
            {"label": "Training rows", "data": chart["train"]},
            {"label": "Hold-out", "data": chart["validation"]},
        ],
    }


def _sample_note(chart: dict) -> str:
    shown, rows = len(chart["actual"]), chart.get("rows", len(chart["actual"]))
    return (
        f"a sample of {shown} of {rows} hold-out rows" if shown < rows else f"{rows} hold-out rows"
    )


def _confusion_entry(matrix: dict) -> dict:
    threshold = matrix.get("threshold")
    return {
        "note": f"at threshold {threshold}" if threshold is not None else "",
        "chart": confusion_chart(matrix),
        "matrix_labels": _matrix_labels(matrix),
        "matrix_rows": _matrix_rows(matrix),
    }


# (metadata key, chart id, title, build(chart, label, other chart, other label) -> entry
# fields): the Analytics tab's order. Binary curves overlay a compared version; the
# multiclass and regression charts show the chosen version only (their samples differ).
_CHARTS = (
    (
        "roc_curve",
        "chart-roc",
        "ROC curve",
        lambda c, lb, o, ol: {"chart": roc_chart(c, lb, o, ol)},
    ),
    (
        "pr_curve",
        "chart-pr",
        "Precision-recall curve",
        lambda c, lb, o, ol: {"chart": pr_chart(c, lb, o, ol)},
    ),
    ("confusion_matrix", "chart-confusion", "Confusion matrix", lambda c, *_: _confusion_entry(c)),
    (
        "per_class",
        "chart-per-class",
        "Per-class precision and recall",
        lambda c, *_: {"chart": per_class_chart(c)},
    ),
    ("top_k", "chart-top-k", "Top-k accuracy", lambda c, lb, *_: {"chart": top_k_chart(c, lb)}),
    (
        "calibration",
        "chart-calibration",
        "Calibration",
        lambda c, lb, o, ol: {"chart": calibration_chart(c, lb, o, ol)},
    ),
    (
        "predicted_actual",
        "chart-predicted-actual",
        "Predicted vs actual",
        lambda c, lb, *_: {
            "chart": predicted_actual_chart(c, lb),
            "note": _sample_note(c),
        },
    ),
    (
        "predicted_actual",
        "chart-residuals",
        "Residuals vs predicted",
        lambda c, lb, *_: {"chart": residuals_chart(c, lb)},
    ),
    (
        "residual_histogram",
        "chart-residual-histogram",
        "Residual histogram",
        lambda c, lb, *_: {"chart": residual_histogram_chart(c, lb)},
    ),
    (
        "error_by_decile",
        "chart-error-decile",
        "Error by decile of the prediction",
        lambda c, *_: {"chart": error_by_decile_chart(c)},
    ),
    (
        "feature_importance",
        "chart-importance",
        "Global feature importance",
        lambda c, *_: {"chart": importance_chart(c), "note": c.get("method", "")},
    ),
    (
        "loss_curve",
        "chart-loss",
        "Loss per boosting stage",
        lambda c, *_: {"chart": loss_curve_chart(c)},
    ),
)


def version_charts(
    charts: dict, *, label: str, other: dict | None = None, other_label: str = ""
) -> list[dict]:
    """[{id, title, chart, note}] for every chart the version has, in a fixed order."""
    other = other or {}
    out = []
    for key, chart_id, title, build in _CHARTS:
        if key in charts:
            entry = {"id": chart_id, "title": title, "note": ""}
            entry.update(build(charts[key], label, other.get(key), other_label))
            out.append(entry)
    return out
