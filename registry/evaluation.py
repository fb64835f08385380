"""Validation metadata for a fitted model, computed with scikit-learn on a hold-out split:
metrics, charts and the training-data reference, per task (binary, multiclass, regression).
Pure, no Django. The metric definitions live in registry/task_metrics.py (shared with the
inference comparison); this module shapes them into the metadata schema, with bounded sizes.
"""

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance

from registry import task_metrics

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
MAX_SCATTER_POINTS = 500  # predicted-vs-actual sample kept in the metadata
RESIDUAL_BINS = 20
MAX_CLASSES_CHARTED = 50  # per-class bars and the confusion matrix stay readable (and small)

BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
REGRESSION = "regression"
# permutation_importance's scoring when a model has no importances of its own.
IMPORTANCE_SCORING = {
    BINARY: "roc_auc",
    MULTICLASS: "accuracy",
    REGRESSION: "neg_mean_absolute_error",
}


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


def _coefficient_importance(final: Any, n_features: int) -> np.ndarray | None:
    coef = np.atleast_2d(np.asarray(final.coef_, dtype=float))
    if coef.shape[-1] != n_features:
        return None
    # Coefficients are comparable only on scaled inputs, as in the demo pipeline; a
    # multiclass model has one row per class: their mean magnitude.
    return np.abs(coef).mean(axis=0)


def _feature_importance(
    estimator: Any,
    X_test: Any,
    y_test: Any,
    feature_names: list[str],
    *,
    scoring: str = IMPORTANCE_SCORING[BINARY],
) -> dict:
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    values, method = None, "permutation"
    if hasattr(final, "feature_importances_") and len(final.feature_importances_) == len(
        feature_names
    ):
        values, method = np.asarray(final.feature_importances_, dtype=float), "impurity"
    elif hasattr(final, "coef_"):
        values = _coefficient_importance(final, len(feature_names))
        method = "coefficient" if values is not None else method
    if values is None:
        result = permutation_importance(
            estimator, X_test, y_test, scoring=scoring, n_repeats=5, random_state=0
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


# --- multiclass and regression ------------------------------------------------------------


def _plain(value: Any) -> Any:
    # numpy scalars (class labels) are not JSON; the metadata is.
    return value.item() if hasattr(value, "item") else value


def multiclass_charts(
    y_true: list, proba: np.ndarray, classes: list, *, y_pred: list | None = None
) -> dict:
    """Confusion matrix, per-class precision / recall and the top-k curve (classes beyond
    MAX_CLASSES_CHARTED are left out of the matrix and bars, not of the metrics)."""
    y_pred = y_pred if y_pred is not None else task_metrics.predicted_labels(proba, classes)
    shown = classes[:MAX_CLASSES_CHARTED]
    return {
        "confusion_matrix": task_metrics.confusion(y_true, y_pred, shown),
        "per_class": task_metrics.per_class_scores(y_true, y_pred, shown),
        "top_k": task_metrics.top_k_curve(y_true, proba, classes),
    }


def evaluate_multiclass(
    estimator: Any, *, X_train: pd.DataFrame, X_test: Any, y_test: Any, feature_names: list[str]
) -> dict:
    """{"metrics", "charts", "reference"} for a fitted multiclass classifier (predict_proba)."""
    classes = [_plain(c) for c in estimator.classes_]
    proba = np.asarray(estimator.predict_proba(X_test), dtype=float)
    y_true = [_plain(v) for v in np.asarray(y_test)]
    charts = multiclass_charts(y_true, proba, classes)
    charts["feature_importance"] = _feature_importance(
        estimator, X_test, y_test, feature_names, scoring=IMPORTANCE_SCORING[MULTICLASS]
    )
    return {
        "metrics": task_metrics.multiclass_metrics(y_true, proba, classes),
        "charts": charts,
        "reference": reference_summary(_frame(X_train, feature_names)),
    }


def _scatter_sample(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    rows = np.arange(len(y_true))
    if len(rows) > MAX_SCATTER_POINTS:
        rows = np.sort(np.random.default_rng(0).choice(rows, MAX_SCATTER_POINTS, replace=False))
    return {
        "predicted": [float(v) for v in y_pred[rows]],
        "actual": [float(v) for v in y_true[rows]],
        "rows": int(len(y_true)),
    }


def regression_charts(y_true: Any, y_pred: Any) -> dict:
    """Predicted vs actual (a sample of at most MAX_SCATTER_POINTS rows; residuals are
    derived from it), the histogram of every error, and the error by decile of the prediction."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    counts, edges = np.histogram(y_pred - y_true, bins=RESIDUAL_BINS)
    return {
        "predicted_actual": _scatter_sample(y_true, y_pred),
        "residual_histogram": {
            "edges": [float(e) for e in edges],
            "counts": [int(c) for c in counts],
        },
        "error_by_decile": task_metrics.error_by_decile(y_true, y_pred),
    }


def evaluate_regressor(
    estimator: Any, *, X_train: pd.DataFrame, X_test: Any, y_test: Any, feature_names: list[str]
) -> dict:
    """{"metrics", "charts", "reference"} for a fitted regressor."""
    y_true = np.asarray(y_test, dtype=float)
    y_pred = np.asarray(estimator.predict(X_test), dtype=float)
    charts = regression_charts(y_true, y_pred)
    charts["feature_importance"] = _feature_importance(
        estimator, X_test, y_true, feature_names, scoring=IMPORTANCE_SCORING[REGRESSION]
    )
    return {
        "metrics": task_metrics.regression_metrics(y_true, y_pred),
        "charts": charts,
        "reference": reference_summary(_frame(X_train, feature_names)),
    }


def _frame(X: Any, feature_names: list[str]) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X), columns=feature_names)
    return X[feature_names]


_EVALUATORS = {
    BINARY: evaluate_classifier,
    MULTICLASS: evaluate_multiclass,
    REGRESSION: evaluate_regressor,
}


def evaluate_for_task(
    task: str,
    estimator: Any,
    *,
    X_train: pd.DataFrame,
    X_test: Any,
    y_test: Any,
    feature_names: list[str],
) -> dict:
    """The metadata fragment for `task` (a registry Task value)."""
    try:
        evaluate = _EVALUATORS[task]
    except KeyError:
        raise ValueError(f"No hold-out evaluation for the task {task!r}.") from None
    return evaluate(
        estimator, X_train=X_train, X_test=X_test, y_test=y_test, feature_names=feature_names
    )


def loss_curve_chart(
    stages: list[int], train: list[float], validation: list[float], loss: str
) -> dict:
    """The metadata's `loss_curve`: the loss after each stage (thinned to MAX_CURVE_POINTS)."""
    stage_l, train_l, val_l = _thin(np.asarray(stages), np.asarray(train), np.asarray(validation))
    return {
        "stages": [int(v) for v in stage_l],
        "train": train_l,
        "validation": val_l,
        "loss": loss,
    }
