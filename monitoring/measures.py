"""Quality, health and performance of a window from its rows: plain Python, no Django.

Rows are dicts of the inference log's columns (a bounded sample, monitoring/samples.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn import metrics

from monitoring import drift

BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
REGRESSION = "regression"


def _numeric_quality(present: list, summary: dict) -> dict:
    numbers = [v for v in present if drift.is_number(v)]
    outside = sum(1 for v in numbers if v < summary["min"] or v > summary["max"])
    return {
        "out_of_range_rate": outside / len(numbers) if numbers else 0.0,
        "non_numeric": len(present) - len(numbers),
    }


def _categorical_quality(present: list, summary: dict) -> dict:
    known = set(summary.get("frequencies", {}))
    texts = [str(v) for v in present]
    unseen = [t for t in texts if t not in known]
    return {
        "unseen_categories": sorted(set(unseen))[:20],
        "unseen_rate": len(unseen) / len(texts) if texts else 0.0,
    }


def _feature_quality(values: list, summary: dict) -> dict:
    count = len(values)
    present = drift.present(values)
    out: dict = {"missing_rate": (count - len(present)) / count if count else None}
    if summary.get("kind") == drift.NUMERIC and "min" in summary:
        out.update(_numeric_quality(present, summary))
    elif summary.get("kind") == drift.CATEGORICAL:
        out.update(_categorical_quality(present, summary))
    return out


def _worst(per_feature: dict[str, dict], key: str) -> float | None:
    values = [q[key] for q in per_feature.values() if q.get(key) is not None]
    return max(values) if values else None


def quality(
    rows: Sequence[dict], features: Sequence[str], summaries: dict, refused: dict[str, int]
) -> dict:
    """Missing rate, values outside the reference's min-max, unseen categories per feature;
    the worst of each over the features; instances refused at validation, by reason."""
    inputs = [row.get("inputs") or {} for row in rows]
    per_feature = {
        name: _feature_quality([i.get(name) for i in inputs], summaries.get(name, {}))
        for name in features
    }
    return {
        "rows": len(rows),
        "features": per_feature,
        "missing_rate": _worst(per_feature, "missing_rate"),
        "out_of_range_rate": _worst(per_feature, "out_of_range_rate"),
        "unseen_categories": sum(len(q.get("unseen_categories", [])) for q in per_feature.values()),
        "refused": refused,
        "refused_total": sum(refused.values()),
    }


def latency_percentiles(latencies: Sequence[float]) -> dict:
    values = np.asarray([v for v in latencies if v is not None], dtype=float)
    if not values.size:
        return {"p50_latency_ms": None, "p95_latency_ms": None, "p99_latency_ms": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50_latency_ms": float(p50),
        "p95_latency_ms": float(p95),
        "p99_latency_ms": float(p99),
    }


def _label(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return int(value.strip())
    return None


def _binary(rows: Sequence[dict]) -> dict:
    pairs = [(_label(r["outcome"]), r["score"]) for r in rows]
    pairs = [(y, s) for y, s in pairs if y is not None and s is not None and math.isfinite(s)]
    if not pairs:
        return {"labelled": 0}
    y = np.array([p[0] for p in pairs])
    score = np.clip(np.array([p[1] for p in pairs], dtype=float), 1e-15, 1 - 1e-15)
    out = {
        "labelled": len(pairs),
        "accuracy": float(metrics.accuracy_score(y, score >= 0.5)),
        "brier": float(metrics.brier_score_loss(y, score)),
        "positive_rate": float(y.mean()),
    }
    if len(set(y.tolist())) == 2:
        out["auc_roc"] = float(metrics.roc_auc_score(y, score))
        out["log_loss"] = float(metrics.log_loss(y, score, labels=[0, 1]))
    return out


def _regression(rows: Sequence[dict]) -> dict:
    pairs = [(r["outcome"], r["prediction"]) for r in rows]
    pairs = [(float(y), float(p)) for y, p in pairs if drift.is_number(y) and drift.is_number(p)]
    if not pairs:
        return {"labelled": 0}
    y, p = np.array(pairs).T
    return {
        "labelled": len(pairs),
        "mae": float(metrics.mean_absolute_error(y, p)),
        "rmse": float(math.sqrt(metrics.mean_squared_error(y, p))),
    }


def _multiclass(rows: Sequence[dict]) -> dict:
    pairs = [(str(r["outcome"]), str(r["prediction"])) for r in rows if r["outcome"] is not None]
    if not pairs:
        return {"labelled": 0}
    y, p = zip(*pairs, strict=True)
    return {"labelled": len(pairs), "accuracy": float(metrics.accuracy_score(y, p))}


def performance(task: str, rows: Sequence[dict]) -> dict:
    """The task's metrics on the window's labelled rows (scikit-learn's)."""
    if task == BINARY:
        return _binary(rows)
    if task == REGRESSION:
        return _regression(rows)
    if task == MULTICLASS:
        return _multiclass(rows)
    return {"labelled": len(rows)}
