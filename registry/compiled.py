"""A fitted scikit-learn model's own arithmetic, without sklearn's checks on every call.

On the predict path a call to `Pipeline.predict_proba` spends most of its time checking
its input (validate_data, the dataframe protocol probes, output wrappers, fitted checks)
for each step, not computing: for a scaler and a logistic regression on a few rows,
about five times the arithmetic (bench/serving). The predictor has checked the rows
already (finite floats, in the fitted column order), so for the estimators named here
this module runs the same numpy operations on the fitted attributes, in the order sklearn
runs them, and nothing else:

- StandardScaler: subtract `mean_`, divide by `scale_` (on a copy);
- binary LogisticRegression: `X @ coef_.T + intercept_`, the logistic function, and the
  two columns [1 - p, p] of predict_proba;
- GradientBoostingClassifier / Regressor: the rows as float32 (what sklearn converts them
  to), the trees' sum (`_raw_predict`), then the loss's predict_proba (classifier) or the
  sum itself (regressor);
- a Pipeline of those (and "passthrough" steps).

Anything else returns None and the predictor calls sklearn as before. The predictor uses
a compiled function only after it has answered exactly as sklearn does on probe rows
(`verified`), so a change in sklearn's internals falls back instead of serving other
numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

Compiled = Callable[[np.ndarray], np.ndarray]


def compiled(estimator: object) -> Compiled | None:
    """predict_proba (classifiers) or predict (regressors) of finite float64 rows in the
    fitted column order, as sklearn computes it; None for an estimator not listed above."""
    steps = estimator.steps if isinstance(estimator, Pipeline) else [(None, estimator)]
    transforms = []
    for _, step in steps[:-1]:
        if step is None or step == "passthrough":
            continue
        transform = _transform(step)
        if transform is None:
            return None
        transforms.append(transform)
    final = _final(steps[-1][1])
    if final is None:
        return None

    def run(X: np.ndarray) -> np.ndarray:
        for transform in transforms:
            X = transform(X)
        return final(X)

    return run


def _transform(step: object) -> Compiled | None:
    if type(step) is not StandardScaler:
        return None
    mean = step.mean_ if step.with_mean else None
    scale = step.scale_ if step.with_std else None

    def standardize(X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=np.float64)  # a copy, as transform(copy=True)
        if mean is not None:
            X -= mean
        if scale is not None:
            X /= scale
        return X

    return standardize


def _final(estimator: object) -> Compiled | None:
    kind = type(estimator)
    if kind is LogisticRegression and len(estimator.classes_) == 2:
        return _binary_logistic(estimator)
    if kind is GradientBoostingClassifier:
        return _boosted_probabilities(estimator)
    if kind is GradientBoostingRegressor:
        return _boosted_values(estimator)
    return None


def _binary_logistic(model: LogisticRegression) -> Compiled:
    coef_t, intercept = model.coef_.T, model.intercept_

    def predict_proba(X: np.ndarray) -> np.ndarray:
        p = np.reshape(X @ coef_t + intercept, (-1,))
        expit(p, out=p)
        return np.stack([1 - p, p], axis=1)

    return predict_proba


def _boosted_probabilities(model: GradientBoostingClassifier) -> Compiled:
    def predict_proba(X: np.ndarray) -> np.ndarray:
        raw = model._raw_predict(np.ascontiguousarray(X, dtype=np.float32))
        if raw.shape[1] == 1:
            raw = raw.ravel()
        return model._loss.predict_proba(raw)

    return predict_proba


def _boosted_values(model: GradientBoostingRegressor) -> Compiled:
    def predict(X: np.ndarray) -> np.ndarray:
        return model._raw_predict(np.ascontiguousarray(X, dtype=np.float32)).ravel()

    return predict


def probe_rows(width: int) -> np.ndarray:
    """Rows that reach many branches of a tree and both signs of a linear score: zeros,
    ones, and normal draws at several scales (fixed seed)."""
    draws = np.random.default_rng(20261202).normal(size=(30, width))
    scales = np.repeat([1.0, 10.0, 1000.0], 10)[:, None]
    return np.vstack([np.zeros(width), np.ones(width), draws * scales])


def verified(function: Compiled | None, reference: Compiled, width: int) -> Compiled | None:
    """`function` if it answers as `reference` (sklearn's own call) on the probe rows, one
    at a time and all together; else None."""
    if function is None:
        return None
    rows = probe_rows(width)
    try:
        together = np.array_equal(function(rows), reference(rows))
        alone = all(
            np.array_equal(function(rows[i : i + 1]), reference(rows[i : i + 1])) for i in (0, 5)
        )
    except Exception:  # an attribute that moved in another sklearn release
        return None
    return function if together and alone else None
