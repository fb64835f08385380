"""Metrics per task, one definition shared by the registry's hold-out evaluation and the
inference comparison. Pure: numpy and scikit-learn only, no Django, no rounding (every number
is scikit-learn's own, so callers can compare them with sklearn.metrics at any precision).

Conventions every caller shares:

- error = predicted − actual (so `mean_error`, the bias, is positive when a model
  over-predicts, and the residual charts show the same sign);
- MAPE is guarded at zero: rows whose actual value is 0 have no percentage error, so they
  are left out and MAPE is sklearn's `mean_absolute_percentage_error` on the other rows
  (None when every actual is 0). sklearn's own guard (dividing by machine epsilon) turns one
  zero into an error of ~1e15 %, which says nothing about the model;
- multiclass probabilities are columns in the order of `classes` (a fitted estimator's
  `classes_`); labels the model never saw count as wrong.
"""

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

TOP_K = 2  # the headline top-k accuracy of multiclass models
MAX_TOP_K_CURVE = 10
DECILES = 10


def _floats(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float).reshape(-1)


# --- regression ---------------------------------------------------------------------------


def mape_guarded(y_true: Any, y_pred: Any) -> float | None:
    """sklearn's MAPE on the rows whose actual value is not 0 (None when there are none)."""
    y_true, y_pred = _floats(y_true), _floats(y_pred)
    kept = y_true != 0
    if not kept.any():
        return None
    return float(skm.mean_absolute_percentage_error(y_true[kept], y_pred[kept]))


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """MAE, RMSE, R², MAPE (guarded, see the module docstring), median absolute error,
    mean error (bias) and the row count. R² needs two rows and is left out below that."""
    y_true, y_pred = _floats(y_true), _floats(y_pred)
    out: dict[str, float] = {
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "rmse": float(skm.root_mean_squared_error(y_true, y_pred)),
        "median_absolute_error": float(skm.median_absolute_error(y_true, y_pred)),
        "mean_error": float(np.mean(y_pred - y_true)),
        "n_test": int(len(y_true)),
    }
    if len(y_true) >= 2:
        out["r2"] = float(skm.r2_score(y_true, y_pred))
    mape = mape_guarded(y_true, y_pred)
    if mape is not None:
        out["mape"] = mape
    return out


def error_by_decile(y_true: Any, y_pred: Any, *, bins: int = DECILES) -> dict[str, list]:
    """The rows sorted by prediction, cut into (up to) ten bins of equal count: per bin the
    mean prediction, MAE, mean error and row count."""
    y_true, y_pred = _floats(y_true), _floats(y_pred)
    order = np.argsort(y_pred, kind="stable")
    groups = [g for g in np.array_split(order, min(bins, len(order))) if len(g)]
    out: dict[str, list] = {
        "decile": [],
        "mean_predicted": [],
        "mae": [],
        "mean_error": [],
        "counts": [],
    }
    for index, rows in enumerate(groups, start=1):
        errors = y_pred[rows] - y_true[rows]
        out["decile"].append(index)
        out["mean_predicted"].append(float(y_pred[rows].mean()))
        out["mae"].append(float(np.abs(errors).mean()))
        out["mean_error"].append(float(errors.mean()))
        out["counts"].append(int(len(rows)))
    return out


# --- multiclass ---------------------------------------------------------------------------


def multiclass_label_metrics(y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict[str, float]:
    """Accuracy and macro / weighted F1 from predicted labels alone (no probabilities)."""
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "f1_macro": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "f1_weighted": float(skm.f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        "n_test": int(len(y_true)),
    }


def multiclass_proba_metrics(
    y_true: Sequence[Any], proba: Any, classes: Sequence[Any], *, k: int = TOP_K
) -> dict[str, float]:
    """Log loss and top-k accuracy from the class probabilities (columns in `classes` order)."""
    proba = np.asarray(proba, dtype=float)
    labels = list(classes)
    return {
        "log_loss": float(skm.log_loss(y_true, proba, labels=labels)),
        f"top_{k}_accuracy": float(skm.top_k_accuracy_score(y_true, proba, k=k, labels=labels)),
    }


def predicted_labels(proba: Any, classes: Sequence[Any]) -> list[Any]:
    """The most probable class of each row (the first on ties, as argmax and sklearn do)."""
    return [classes[i] for i in np.asarray(proba).argmax(axis=1)]


def multiclass_metrics(
    y_true: Sequence[Any], proba: Any, classes: Sequence[Any], *, k: int = TOP_K
) -> dict[str, float]:
    """Accuracy, macro and weighted F1, log loss and top-k accuracy, and the row count."""
    y_pred = predicted_labels(proba, classes)
    return multiclass_label_metrics(y_true, y_pred) | multiclass_proba_metrics(
        y_true, proba, classes, k=k
    )


def per_class_scores(
    y_true: Sequence[Any], y_pred: Sequence[Any], classes: Sequence[Any]
) -> dict[str, list]:
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), zero_division=0
    )
    return {
        "labels": list(classes),
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "f1": [float(v) for v in f1],
        "support": [int(v) for v in support],
    }


def confusion(y_true: Sequence[Any], y_pred: Sequence[Any], classes: Sequence[Any]) -> dict:
    """matrix[i][j]: rows whose actual class is classes[i] and predicted class classes[j]."""
    matrix = skm.confusion_matrix(y_true, y_pred, labels=list(classes))
    return {"labels": list(classes), "matrix": [[int(v) for v in row] for row in matrix]}


def top_k_curve(
    y_true: Sequence[Any], proba: Any, classes: Sequence[Any], *, max_k: int = MAX_TOP_K_CURVE
) -> dict[str, list]:
    """Top-k accuracy for k = 1 … min(classes, max_k)."""
    labels = list(classes)
    ks = list(range(1, min(len(labels), max_k) + 1))
    with warnings.catch_warnings():
        # k = the number of classes is a perfect score by definition: the curve's end.
        warnings.simplefilter("ignore", UserWarning)
        accuracy = [float(skm.top_k_accuracy_score(y_true, proba, k=k, labels=labels)) for k in ks]
    return {"k": ks, "accuracy": accuracy}
