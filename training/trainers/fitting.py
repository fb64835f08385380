"""Staged scikit-learn fitting: the same model a single fit() gives, grown in steps so a job
can report a loss per stage, beat its heartbeat and stop when cancelled.

Pure: no Django. Gradient boosting and random forests (classifiers and regressors) grow with
warm_start (more trees per stage); logistic regression runs its solver a few iterations per
stage from where it stopped; any other estimator (ridge) fits in one stage. A Pipeline is
staged through its last step (the preprocessing before it refits identically each stage).

The loss reported per stage is the task's: log loss for classifiers, squared error (MSE)
for regressors. For gradient boosting, `staged_loss_curve` gives the loss after every tree
from scikit-learn's staged_predict / staged_predict_proba once the model is fitted.
"""

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss, mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from training.trainers.base import LOSS_NAMES

BOOSTING_STAGES = 20
FOREST_STAGES = 10
SOLVER_STEP = 10  # logistic regression iterations per stage

# Estimator settings per preset beyond the split ones (validation_split, random_state).
SPLIT_PARAMS = ("validation_split", "random_state")
REGRESSION = "regression"


@dataclass(frozen=True)
class StageReport:
    index: int  # 1-based
    total: int
    label: str  # e.g. "Trees 40/100"
    fraction: float  # of the fit done, 0..1
    metrics: dict[str, float] = field(default_factory=dict)


StageCallback = Callable[[StageReport], None]


@dataclass(frozen=True)
class Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def split_rows(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    validation_split: float,
    random_state: int,
    stratify: bool = True,
) -> Split:
    """The hold-out split every local job uses: stratified for classifiers (every class is
    in each part), plain for regressions."""
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=validation_split,
        random_state=random_state,
        stratify=y if stratify else None,
    )
    return Split(X_train, X_test, y_train, y_test)


def _regression_estimator(preset: str, params: dict[str, Any], seed: Any) -> BaseEstimator:
    if preset == "ridge_regression":
        return Pipeline([("scale", StandardScaler()), ("model", Ridge(alpha=params["alpha"]))])
    if preset == "gradient_boosting":
        return GradientBoostingRegressor(random_state=seed, **params)
    if preset == "random_forest":
        return RandomForestRegressor(random_state=seed, n_jobs=1, **params)
    raise ValueError(f"The preset {preset!r} does not train regressions.")


def preset_estimator(
    preset: str, hyperparameters: dict[str, Any], task: str = "binary_classification"
) -> BaseEstimator:
    """The unfitted estimator of a preset for a task (registry Task value)."""
    params = {k: v for k, v in hyperparameters.items() if k not in SPLIT_PARAMS}
    seed = hyperparameters.get("random_state")
    if task == REGRESSION:
        return _regression_estimator(preset, params, seed)
    if preset == "logistic_regression":
        return Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "model",
                    LogisticRegression(
                        C=params["C"], max_iter=params["max_iter"], random_state=seed
                    ),
                ),
            ]
        )
    if preset == "gradient_boosting":
        return GradientBoostingClassifier(random_state=seed, **params)
    if preset == "random_forest":
        return RandomForestClassifier(random_state=seed, n_jobs=1, **params)
    raise ValueError(f"Unknown preset {preset!r}.")


def algorithm_name(estimator: BaseEstimator) -> str:
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    return type(final).__name__


def _final_step(estimator: BaseEstimator) -> tuple[str, BaseEstimator]:
    """(param prefix, estimator) of the step that is staged."""
    if isinstance(estimator, Pipeline):
        name, final = estimator.steps[-1]
        return f"{name}__", final
    return "", estimator


def is_regressor(estimator: BaseEstimator) -> bool:
    return not hasattr(estimator, "predict_proba")


def loss_name(estimator: BaseEstimator) -> str:
    """The task's loss, as the job page and the version's loss curve name it."""
    return LOSS_NAMES["squared_error" if is_regressor(estimator) else "log_loss"]


def _losses(estimator: BaseEstimator, X_train, y_train, X_val, y_val) -> dict[str, float]:
    if is_regressor(estimator):
        return {
            "train_loss": round(float(mean_squared_error(y_train, estimator.predict(X_train))), 6),
            "val_loss": round(float(mean_squared_error(y_val, estimator.predict(X_val))), 6),
        }
    labels = list(estimator.classes_)
    return {
        "train_loss": round(
            float(log_loss(y_train, estimator.predict_proba(X_train), labels=labels)), 6
        ),
        "val_loss": round(float(log_loss(y_val, estimator.predict_proba(X_val), labels=labels)), 6),
    }


def _grow(
    estimator, prefix, total_trees, stages, unit, X_train, y_train, X_val, y_val, on_stage
) -> None:
    step = max(1, math.ceil(total_trees / stages))
    counts = list(range(step, total_trees, step)) + [total_trees]
    estimator.set_params(**{f"{prefix}warm_start": True})
    for index, count in enumerate(counts, start=1):
        estimator.set_params(**{f"{prefix}n_estimators": count})
        estimator.fit(X_train, y_train)
        on_stage(
            StageReport(
                index=index,
                total=len(counts),
                label=f"{unit} {count}/{total_trees}",
                fraction=count / total_trees,
                metrics={
                    "stage": index,
                    unit.lower(): count,
                    **_losses(estimator, X_train, y_train, X_val, y_val),
                },
            )
        )
    estimator.set_params(**{f"{prefix}warm_start": False})


def _solve_in_steps(estimator, prefix, final, X_train, y_train, X_val, y_val, on_stage) -> None:
    max_iter = int(final.max_iter)
    total = math.ceil(max_iter / SOLVER_STEP)
    estimator.set_params(**{f"{prefix}warm_start": True})
    done = 0
    for index in range(1, total + 1):
        step = min(SOLVER_STEP, max_iter - done)
        estimator.set_params(**{f"{prefix}max_iter": step})
        with warnings.catch_warnings():
            # Stopping after a few iterations is the point of a stage, not a problem.
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X_train, y_train)
        used = int(np.max(_final_step(estimator)[1].n_iter_))
        done += used
        converged = used < step
        on_stage(
            StageReport(
                index=index,
                total=total,
                label=f"Solver iterations {done}/{max_iter}"
                + (" (converged)" if converged else ""),
                fraction=1.0 if converged else done / max_iter,
                metrics={
                    "stage": index,
                    "iterations": done,
                    **_losses(estimator, X_train, y_train, X_val, y_val),
                },
            )
        )
        if converged or done >= max_iter:
            break
    estimator.set_params(**{f"{prefix}warm_start": False, f"{prefix}max_iter": max_iter})


def fit_staged(
    estimator: BaseEstimator,
    *,
    X_train: pd.DataFrame,
    y_train: pd.Series,
    X_val: pd.DataFrame,
    y_val: pd.Series,
    on_stage: StageCallback,
) -> BaseEstimator:
    """Fit `estimator` in place, calling on_stage after every stage (which may raise to stop)."""
    prefix, final = _final_step(estimator)
    if isinstance(final, GradientBoostingClassifier | GradientBoostingRegressor):
        _grow(
            estimator,
            prefix,
            final.n_estimators,
            BOOSTING_STAGES,
            "Trees",
            X_train,
            y_train,
            X_val,
            y_val,
            on_stage,
        )
    elif isinstance(final, RandomForestClassifier | RandomForestRegressor):
        _grow(
            estimator,
            prefix,
            final.n_estimators,
            FOREST_STAGES,
            "Trees",
            X_train,
            y_train,
            X_val,
            y_val,
            on_stage,
        )
    elif isinstance(final, LogisticRegression) and final.solver in (
        "lbfgs",
        "newton-cg",
        "sag",
        "saga",
    ):
        _solve_in_steps(estimator, prefix, final, X_train, y_train, X_val, y_val, on_stage)
    else:
        estimator.fit(X_train, y_train)
        metrics = {"stage": 1}
        if hasattr(estimator, "predict_proba") or is_regressor(estimator):
            metrics |= _losses(estimator, X_train, y_train, X_val, y_val)
        on_stage(StageReport(index=1, total=1, label="Fit", fraction=1.0, metrics=metrics))
    return estimator


def _staged_loss(final: BaseEstimator, X, y) -> list[float]:
    if isinstance(final, GradientBoostingRegressor):
        return [float(mean_squared_error(y, p)) for p in final.staged_predict(X)]
    labels = list(final.classes_)
    return [float(log_loss(y, p, labels=labels)) for p in final.staged_predict_proba(X)]


def staged_loss_curve(
    estimator: BaseEstimator, *, X_train, y_train, X_val, y_val
) -> dict[str, Any] | None:
    """A fitted gradient boosting model's loss after every tree, on the training rows and the
    hold-out (staged_predict / staged_predict_proba); None for other estimators."""
    _, final = _final_step(estimator)
    if not isinstance(final, GradientBoostingClassifier | GradientBoostingRegressor):
        return None
    if isinstance(estimator, Pipeline):
        X_train, X_val = estimator[:-1].transform(X_train), estimator[:-1].transform(X_val)
    train = _staged_loss(final, X_train, y_train)
    return {
        "stages": list(range(1, len(train) + 1)),
        "train": train,
        "validation": _staged_loss(final, X_val, y_val),
        "loss": loss_name(final),
    }
