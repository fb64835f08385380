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


def version_charts(
    charts: dict, *, label: str, other: dict | None = None, other_label: str = ""
) -> list[dict]:
    """[{id, title, chart, note}] for every chart the version has, in a fixed order."""
    other = other or {}
    out = []
    if "roc_curve" in charts:
        out.append(
            {
                "id": "chart-roc",
                "title": "ROC curve",
                "chart": roc_chart(charts["roc_curve"], label, other.get("roc_curve"), other_label),
            }
        )
    if "pr_curve" in charts:
        out.append(
            {
                "id": "chart-pr",
                "title": "Precision-recall curve",
                "chart": pr_chart(charts["pr_curve"], label, other.get("pr_curve"), other_label),
            }
        )
    if "confusion_matrix" in charts:
        matrix = charts["confusion_matrix"]
        threshold = matrix.get("threshold")
        out.append(
            {
                "id": "chart-confusion",
                "title": "Confusion matrix",
                "note": f"at threshold {threshold}" if threshold is not None else "",
                "chart": confusion_chart(matrix),
                "matrix_labels": _matrix_labels(matrix),
                "matrix_rows": _matrix_rows(matrix),
            }
        )
    if "calibration" in charts:
        out.append(
            {
                "id": "chart-calibration",
                "title": "Calibration",
                "chart": calibration_chart(
                    charts["calibration"], label, other.get("calibration"), other_label
                ),
            }
        )
    if "feature_importance" in charts:
        out.append(
            {
                "id": "chart-importance",
                "title": "Global feature importance",
                "note": charts["feature_importance"].get("method", ""),
                "chart": importance_chart(charts["feature_importance"]),
            }
        )
    return out
