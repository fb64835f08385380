"""Chart.js configs for a version's validation charts (the metadata's `charts` section).

Pure functions: each takes the schema's chart object (and optionally a compared version's)
and returns a Chart.js config that hub/static/hub/charts.js renders from json_script.
"""

BLUE, ORANGE, GREY = "#2f5bea", "#e8590c", "#98a2b3"


def _xy(xs: list, ys: list) -> list[dict]:
    return [{"x": x, "y": y} for x, y in zip(xs, ys, strict=False)]


def _line(label: str, points: list[dict], color: str, **extra) -> dict:
    return {"label": label, "data": points, "borderColor": color, "backgroundColor": color,
            "pointRadius": 0, "borderWidth": 2, "showLine": True, "fill": False, **extra}


def _diagonal(label: str) -> dict:
    return _line(label, [{"x": 0, "y": 0}, {"x": 1, "y": 1}], GREY, borderDash=[6, 4], borderWidth=1)


def _axes(x: str, y: str) -> dict:
    return {
        "scales": {
            "x": {"type": "linear", "min": 0, "max": 1, "title": {"display": True, "text": x}},
            "y": {"min": 0, "max": 1, "title": {"display": True, "text": y}},
        }
    }


def roc_chart(chart: dict, label: str, other: dict | None = None, other_label: str = "") -> dict:
    datasets = [_line(f"{label}", _xy(chart["fpr"], chart["tpr"]), BLUE)]
    if other:
        datasets.append(_line(other_label, _xy(other["fpr"], other["tpr"]), ORANGE))
    datasets.append(_diagonal("Chance"))
    return {"type": "scatter", "data": {"datasets": datasets},
            "options": _axes("False positive rate", "True positive rate")}


def pr_chart(chart: dict, label: str, other: dict | None = None, other_label: str = "") -> dict:
    datasets = [_line(label, _xy(chart["recall"], chart["precision"]), BLUE)]
    if other:
        datasets.append(_line(other_label, _xy(other["recall"], other["precision"]), ORANGE))
    return {"type": "scatter", "data": {"datasets": datasets}, "options": _axes("Recall", "Precision")}


def calibration_chart(chart: dict, label: str, other: dict | None = None, other_label: str = "") -> dict:
    datasets = [_line(label, _xy(chart["mean_predicted"], chart["fraction_positive"]), BLUE, pointRadius=3)]
    if other:
        datasets.append(
            _line(other_label, _xy(other["mean_predicted"], other["fraction_positive"]), ORANGE, pointRadius=3)
        )
    datasets.append(_diagonal("Perfectly calibrated"))
    return {"type": "scatter", "data": {"datasets": datasets},
            "options": _axes("Mean predicted probability", "Observed fraction of positives")}


def confusion_chart(chart: dict) -> dict:
    """Stacked bars: one bar per true label, split by predicted label (Chart.js has no heatmap)."""
    matrix = chart["matrix"]
    labels = [str(x) for x in chart.get("labels") or range(len(matrix))]
    colors = [BLUE, ORANGE, "#12b76a", "#7a5af8", "#f04438", GREY]
    datasets = [
        {
            "label": f"Predicted {predicted}",
            "data": [row[j] if j < len(row) else 0 for row in matrix],
            "backgroundColor": colors[j % len(colors)],
        }
        for j, predicted in enumerate(labels)
    ]
    return {
        "type": "bar",
        "data": {"labels": [f"Actual {a}" for a in labels], "datasets": datasets},
        "options": {"scales": {"x": {"stacked": True}, "y": {"stacked": True, "title": {"display": True, "text": "Rows"}}}},
    }


def importance_chart(chart: dict) -> dict:
    pairs = sorted(zip(chart["features"], chart["importances"], strict=False), key=lambda p: -abs(p[1]))
    return {
        "type": "bar",
        "data": {
            "labels": [p[0] for p in pairs],
            "datasets": [{"label": f"Importance ({chart.get('method', 'model')})",
                          "data": [p[1] for p in pairs], "backgroundColor": BLUE}],
        },
        "options": {"indexAxis": "y", "plugins": {"legend": {"display": False}}},
    }


def _matrix_rows(chart: dict) -> list[dict]:
    labels = [str(x) for x in chart.get("labels") or range(len(chart["matrix"]))]
    return [{"label": label, "cells": row} for label, row in zip(labels, chart["matrix"], strict=False)]


def version_charts(charts: dict, *, label: str, other: dict | None = None, other_label: str = "") -> list[dict]:
    """[{id, title, config, note}] for every chart the version has, in a fixed order."""
    other = other or {}
    out = []
    if "roc_curve" in charts:
        out.append({"id": "chart-roc", "title": "ROC curve",
                    "config": roc_chart(charts["roc_curve"], label, other.get("roc_curve"), other_label)})
    if "pr_curve" in charts:
        out.append({"id": "chart-pr", "title": "Precision-recall curve",
                    "config": pr_chart(charts["pr_curve"], label, other.get("pr_curve"), other_label)})
    if "confusion_matrix" in charts:
        threshold = charts["confusion_matrix"].get("threshold")
        out.append({"id": "chart-confusion", "title": "Confusion matrix",
                    "note": f"at threshold {threshold}" if threshold is not None else "",
                    "config": confusion_chart(charts["confusion_matrix"]),
                    "matrix_labels": [str(x) for x in charts["confusion_matrix"].get("labels")
                                      or range(len(charts["confusion_matrix"]["matrix"]))],
                    "matrix_rows": _matrix_rows(charts["confusion_matrix"])})
    if "calibration" in charts:
        out.append({"id": "chart-calibration", "title": "Calibration",
                    "config": calibration_chart(charts["calibration"], label, other.get("calibration"), other_label)})
    if "feature_importance" in charts:
        out.append({"id": "chart-importance", "title": "Global feature importance",
                    "note": charts["feature_importance"].get("method", ""),
                    "config": importance_chart(charts["feature_importance"])})
    return out
