"""Validation metadata for a fitted binary classifier, computed with scikit-learn on a
hold-out split: metrics, charts and the training-data reference. Pure, no Django."""

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance

MAX_CURVE_POINTS = 200
QUANTILES = {
    "p01": 0.01,
    "p05": 0.05,
    "p10": 0.10,
    "p25": 0.25,
    "p50": 0.50,
    "p75": 0.75,
    "p90": 0.90,
    "p95": 0.95,
    "p99": 0.99,
}
HISTOGRAM_BINS = 10


def _r(value: float, digits: int = 6) -> float:
    return round(float(value), digits)


def _thin(*series: np.ndarray) -> list[list[float]]:
    """Keep at most MAX_CURVE_POINTS points, always including both ends, so metadata stays small."""
    n = len(series[0])
    if n > MAX_CURVE_POINTS:
        idx = np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(int))
        series = tuple(s[idx] for s in series)
    return [[_r(v) for v in s] for s in series]


def positive_scores(estimator: Any, X: Any) -> np.ndarray:
    """P(class 1) for each row (the hub's score for binary classifiers)."""
    proba = estimator.predict_proba(X)
    classes = list(estimator.classes_)
    column = classes.index(1) if 1 in classes else 1
    return proba[:, column]


def classifier_metrics(y_true: np.ndarray, scores: np.ndarray, *, threshold: float = 0.5) -> dict:
    y_true = np.asarray(y_true).astype(int)
    y_pred = (scores >= threshold).astype(int)
    return {
        "accuracy": _r(skm.accuracy_score(y_true, y_pred)),
        "auc_roc": _r(skm.roc_auc_score(y_true, scores)),
        "auc_pr": _r(skm.average_precision_score(y_true, scores)),
        "precision": _r(skm.precision_score(y_true, y_pred, zero_division=0)),
        "recall": _r(skm.recall_score(y_true, y_pred, zero_division=0)),
        "f1": _r(skm.f1_score(y_true, y_pred, zero_division=0)),
        "log_loss": _r(skm.log_loss(y_true, scores, labels=[0, 1])),
        "brier": _r(skm.brier_score_loss(y_true, scores)),
        "positive_rate": _r(y_pred.mean()),
        "n_test": int(len(y_true)),
    }


def _feature_importance(estimator: Any, X_test: Any, y_test: Any, feature_names: list[str]) -> dict:
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    values, method = None, "permutation"
    if hasattr(final, "feature_importances_") and len(final.feature_importances_) == len(
        feature_names
    ):
        values, method = np.asarray(final.feature_importances_, dtype=float), "impurity"
    elif hasattr(final, "coef_") and np.asarray(final.coef_).reshape(-1).size == len(feature_names):
        # Coefficients are comparable only on scaled inputs, as in the demo pipeline.
        values, method = np.abs(np.asarray(final.coef_, dtype=float).reshape(-1)), "coefficient"
    if values is None:
        result = permutation_importance(
            estimator, X_test, y_test, scoring="roc_auc", n_repeats=5, random_state=0
        )
        values = np.clip(result.importances_mean, 0, None)
    order = np.argsort(-values)
    return {
        "features": [feature_names[i] for i in order],
        "importances": [_r(values[i]) for i in order],
        "method": method,
    }


def classifier_charts(
    estimator: Any,
    *,
    X_test: Any,
    y_test: np.ndarray,
    scores: np.ndarray,
    feature_names: list[str],
    threshold: float = 0.5,
) -> dict:
    y_true = np.asarray(y_test).astype(int)
    fpr, tpr, roc_thr = skm.roc_curve(y_true, scores)
    # sklearn's first ROC threshold is +inf, which JSON cannot carry; above 1 means "no positives".
    roc_thr = np.where(np.isfinite(roc_thr), roc_thr, 1.0)
    fpr_l, tpr_l, thr_l = _thin(fpr, tpr, roc_thr)
    precision, recall, pr_thr = skm.precision_recall_curve(y_true, scores)
    p_l, r_l = _thin(precision, recall)
    (t_l,) = _thin(pr_thr)
    matrix = skm.confusion_matrix(y_true, (scores >= threshold).astype(int), labels=[0, 1])
    frac_pos, mean_pred = calibration_curve(y_true, scores, n_bins=10, strategy="uniform")
    counts, _ = np.histogram(scores, bins=np.linspace(0, 1, 11))
    return {
        "roc_curve": {"fpr": fpr_l, "tpr": tpr_l, "thresholds": thr_l},
        "pr_curve": {"precision": p_l, "recall": r_l, "thresholds": t_l},
        "confusion_matrix": {
            "labels": [0, 1],
            "matrix": [[int(v) for v in row] for row in matrix],
            "threshold": threshold,
        },
        "calibration": {
            "mean_predicted": [_r(v) for v in mean_pred],
            "fraction_positive": [_r(v) for v in frac_pos],
            "counts": [int(c) for c in counts if c > 0],
            "n_bins": 10,
        },
        "feature_importance": _feature_importance(estimator, X_test, y_true, feature_names),
    }


def reference_summary(X: pd.DataFrame) -> dict:
    """Per-feature summary of the training data: the baseline drift is measured against."""
    features: dict[str, dict] = {}
    for name in X.columns:
        column = X[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = column.dropna().to_numpy(dtype=float)
            if values.size == 0:
                features[str(name)] = {"count": 0}
                continue
            counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
            features[str(name)] = {
                "count": int(values.size),
                "mean": _r(values.mean()),
                "std": _r(values.std(ddof=1) if values.size > 1 else 0.0),
                "min": _r(values.min()),
                "max": _r(values.max()),
                "quantiles": {k: _r(np.quantile(values, q)) for k, q in QUANTILES.items()},
                "histogram": {"edges": [_r(e) for e in edges], "counts": [int(c) for c in counts]},
            }
        else:
            shares = column.dropna().astype(str).value_counts(normalize=True)
            features[str(name)] = {
                "count": int(column.notna().sum()),
                "frequencies": {str(k): _r(v) for k, v in shares.items()},
            }
    return {"rows": int(len(X)), "features": features}


def feature_specs(X: pd.DataFrame) -> list[dict]:
    """Schema `features` entries inferred from data: type and the observed range or categories."""
    specs = []
    for name in X.columns:
        column = X[name]
        if pd.api.types.is_bool_dtype(column):
            specs.append({"name": str(name), "type": "boolean"})
        elif pd.api.types.is_integer_dtype(column):
            specs.append(
                {
                    "name": str(name),
                    "type": "integer",
                    "minimum": int(column.min()),
                    "maximum": int(column.max()),
                }
            )
        elif pd.api.types.is_numeric_dtype(column):
            specs.append(
                {
                    "name": str(name),
                    "type": "numeric",
                    "minimum": _r(column.min()),
                    "maximum": _r(column.max()),
                }
            )
        else:
            categories = sorted(column.dropna().astype(str).unique().tolist())
            if len(categories) <= 50:
                specs.append({"name": str(name), "type": "categorical", "categories": categories})
            else:
                specs.append({"name": str(name), "type": "text"})
    return specs


def evaluate_classifier(
    estimator: Any, *, X_train: pd.DataFrame, X_test: Any, y_test: Any, feature_names: list[str]
) -> dict:
    """The metadata fragment {"metrics", "charts", "reference"} for a fitted binary classifier."""
    scores = positive_scores(estimator, X_test)
    y_true = np.asarray(y_test).astype(int)
    if not isinstance(X_train, pd.DataFrame):
        X_train = pd.DataFrame(np.asarray(X_train), columns=feature_names)
    return {
        "metrics": classifier_metrics(y_true, scores),
        "charts": classifier_charts(
            estimator, X_test=X_test, y_test=y_true, scores=scores, feature_names=feature_names
        ),
        "reference": reference_summary(X_train[feature_names]),
    }
