"""A recipe's pipeline on a data frame, without the database: the quality stage, feature
preparation (lags, rolling means and calendar features per group), the validation folds
(hold-out, k-fold, rolling origin), the family metrics and the evaluation gate.

Pure: numpy, pandas, scipy and scikit-learn. Every error is a RecipeDataError naming the
manifest's JSON Pointer that explains it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from registry import task_metrics

TIME = "_time"
DEFAULT_TEST_SIZE = 0.2
DEFAULT_FOLDS = 3
DEFAULT_HORIZON = 14
METRIC_LABELS = {
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
    "smape": "sMAPE (%)",
    "mase": "MASE",
    "ndcg_at_10": "NDCG@10",
    "spearman": "Spearman's ρ",
    "accuracy": "Accuracy",
    "f1_macro": "Macro F1",
    "top_3_accuracy": "Top-3 accuracy",
    "log_loss": "Log loss",
    "auc_roc": "AUC",
}


class RecipeDataError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{message} ({path})")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Prepared:
    frame: pd.DataFrame
    features: list[str]
    label: str
    time_column: str | None
    group_by: str | None
    dropped: int


@dataclass(frozen=True)
class Fold:
    index: int  # 1-based
    label: str
    train: np.ndarray  # row positions in Prepared.frame
    test: np.ndarray


# --- preparation -------------------------------------------------------------------------


def feature_names(manifest: dict) -> list[str]:
    seen: list[str] = []
    for feature_set in manifest["requirements"]["feature_sets"]:
        seen.extend(f for f in feature_set["features"] if f not in seen)
    return seen


def _require_columns(frame: pd.DataFrame, columns: dict[str, str | None]) -> None:
    for path, column in columns.items():
        if column and column not in frame.columns:
            raise RecipeDataError(path, f"The data has no column '{column}'.")


def _quality(frame: pd.DataFrame, manifest: dict, label: str) -> pd.DataFrame:
    quality = manifest["pipeline"].get("quality", {})
    if quality.get("drop_duplicates"):
        frame = frame.drop_duplicates()
    limit = quality.get("max_missing_fraction")
    if limit is not None:
        raw = [c for c in frame.columns if c in set(feature_names(manifest)) | {label}]
        worst = frame[raw].isna().mean()
        bad = worst[worst > limit]
        if len(bad):
            column, share = bad.index[0], float(bad.iloc[0])
            raise RecipeDataError(
                "/pipeline/quality/max_missing_fraction",
                f"'{column}' is missing in {share:.1%} of the rows (at most {limit:.1%} allowed).",
            )
    return frame


def _calendar(frame: pd.DataFrame, names: list[str]) -> None:
    when = frame[TIME]
    values = {
        "day_of_week": lambda: when.dt.day_of_week,
        "month": lambda: when.dt.month,
        "day_of_month": lambda: when.dt.day,
        "week_of_year": lambda: when.dt.isocalendar().week.astype(int),
        "is_weekend": lambda: (when.dt.day_of_week >= 5).astype(int),
    }
    for name in names:
        frame[name] = values[name]()


def _history(frame: pd.DataFrame, prep: dict, label: str) -> None:
    group = prep.get("group_by")
    series = frame.groupby(group, sort=False)[label] if group else frame[label]
    for k in prep.get("lags", []):
        frame[f"lag_{k}"] = series.shift(k)
    for w in prep.get("rolling_means", []):
        shifted = series.shift(1)
        by = frame[group] if group else None
        rolled = (
            shifted.groupby(by).transform(lambda s, w=w: s.rolling(w).mean())
            if by is not None
            else shifted.rolling(w).mean()
        )
        frame[f"rolling_mean_{w}"] = rolled


def _time(frame: pd.DataFrame, time_column: str) -> pd.DataFrame:
    try:
        frame[TIME] = pd.to_datetime(frame[time_column])
    except (ValueError, TypeError) as exc:
        raise RecipeDataError(
            "/requirements/time_column", f"'{time_column}' holds values that are not dates: {exc}"
        ) from exc
    return frame


def _check_history(frame: pd.DataFrame, requirements: dict) -> None:
    days = requirements.get("min_history_days")
    if days and TIME in frame and frame[TIME].nunique() < days:
        raise RecipeDataError(
            "/requirements/min_history_days",
            f"The data covers {frame[TIME].nunique()} days; the recipe needs at least {days}.",
        )


def prepare(raw: pd.DataFrame, manifest: dict) -> Prepared:
    """The quality stage and the feature preparation, in the manifest's order."""
    requirements = manifest["requirements"]
    prep = manifest["pipeline"].get("feature_prep", {})
    label, time_column = requirements["label"], requirements.get("time_column")
    _require_columns(
        raw,
        {
            "/requirements/label": label,
            "/requirements/time_column": time_column,
            "/pipeline/feature_prep/group_by": prep.get("group_by"),
        },
    )
    frame = _quality(raw.copy(), manifest, label)
    if time_column:
        frame = _time(frame, time_column)
        _check_history(frame, requirements)
        frame = frame.sort_values([prep["group_by"], TIME] if prep.get("group_by") else [TIME])
        _calendar(frame, prep.get("calendar", []))
    _history(frame, prep, label)
    features = feature_names(manifest)
    for s, feature_set in enumerate(requirements["feature_sets"]):
        for f, name in enumerate(feature_set["features"]):
            if name not in frame.columns:
                raise RecipeDataError(
                    f"/requirements/feature_sets/{s}/features/{f}",
                    f"'{name}' is neither a column of the data nor made by the feature preparation.",
                )
    before = len(frame)
    frame = frame.dropna(subset=[*features, label])
    if TIME in frame:
        frame = frame.sort_values([TIME, prep["group_by"]] if prep.get("group_by") else [TIME])
    frame = frame.reset_index(drop=True)
    minimum = requirements.get("min_rows", 20)
    if len(frame) < minimum:
        raise RecipeDataError(
            "/requirements/min_rows",
            f"{len(frame)} usable rows after preparation; the recipe needs at least {minimum}.",
        )
    return Prepared(frame, features, label, time_column, prep.get("group_by"), before - len(frame))


# --- folds -------------------------------------------------------------------------------


def _rolling_origin(prepared: Prepared, validation: dict) -> list[Fold]:
    k = validation.get("folds", DEFAULT_FOLDS)
    horizon = validation.get("horizon", DEFAULT_HORIZON)
    dates = np.sort(prepared.frame[TIME].unique())
    if len(dates) <= k * horizon:
        raise RecipeDataError(
            "/evaluation/validation/horizon",
            f"{k} folds of {horizon} days need more than {k * horizon} days of data; "
            f"there are {len(dates)}.",
        )
    times = prepared.frame[TIME].to_numpy()
    folds = []
    for i in range(k):
        start = len(dates) - (k - i) * horizon
        first, last = dates[start], dates[start + horizon - 1]
        test = np.flatnonzero((times >= first) & (times <= last))
        train = np.flatnonzero(times < first)
        label = f"{pd.Timestamp(first):%Y-%m-%d} → {pd.Timestamp(last):%Y-%m-%d}"
        folds.append(Fold(i + 1, label, train, test))
    return folds


def _k_fold(prepared: Prepared, validation: dict, *, seed: int, stratify: bool) -> list[Fold]:
    k = validation.get("folds", DEFAULT_FOLDS)
    splitter = (
        StratifiedKFold(k, shuffle=True, random_state=seed)
        if stratify
        else KFold(k, shuffle=True, random_state=seed)
    )
    y = prepared.frame[prepared.label]
    return [
        Fold(i + 1, f"Fold {i + 1}/{k}", train, test)
        for i, (train, test) in enumerate(splitter.split(prepared.frame, y))
    ]


def _random_holdout(prepared: Prepared, test_size: float, *, seed: int, stratify: bool) -> Fold:
    positions = np.arange(len(prepared.frame))
    y = prepared.frame[prepared.label]
    train, test = train_test_split(
        positions, test_size=test_size, random_state=seed, stratify=y if stratify else None
    )
    return Fold(1, f"Hold-out {test_size:.0%}", np.sort(train), np.sort(test))


def backtest_folds(
    prepared: Prepared, validation: dict, *, seed: int, stratify: bool
) -> list[Fold]:
    """The folds of the recipe's validation strategy."""
    strategy = validation["strategy"]
    if strategy == "rolling_origin":
        return _rolling_origin(prepared, validation)
    if strategy == "k_fold":
        return _k_fold(prepared, validation, seed=seed, stratify=stratify)
    test_size = validation.get("test_size", DEFAULT_TEST_SIZE)
    return [_random_holdout(prepared, test_size, seed=seed, stratify=stratify)]


def training_holdout(
    prepared: Prepared, validation: dict, *, test_size: float, seed: int, stratify: bool
) -> Fold:
    """What a train run holds out: the last horizon for rolling origin (the most recent
    days, as production will see them), a random share otherwise."""
    if validation["strategy"] == "rolling_origin":
        return _rolling_origin(prepared, {**validation, "folds": 1})[0]
    return _random_holdout(
        prepared, validation.get("test_size", test_size), seed=seed, stratify=stratify
    )


# --- metrics and the gate ----------------------------------------------------------------


def naive_mae(train: pd.DataFrame, prepared: Prepared, seasonality: int) -> float | None:
    """MASE's scale: the in-sample MAE of the seasonal naive forecast (same day last season)."""
    if prepared.time_column is None:
        return None
    label = prepared.label
    series = train.groupby(prepared.group_by)[label] if prepared.group_by else train[label]
    errors = (train[label] - series.shift(seasonality)).abs().dropna()
    scale = float(errors.mean()) if len(errors) else 0.0
    return scale or None


def _smape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    denominator = np.abs(y_true) + np.abs(y_pred)
    ratio = np.divide(
        2 * np.abs(y_pred - y_true), denominator, out=np.zeros_like(y_true), where=denominator != 0
    )
    return float(100 * ratio.mean())


def _ranking(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    if len(y_true) >= 2:
        relevance = y_true - min(0.0, float(y_true.min()))  # NDCG needs non-negative gains
        out["ndcg_at_10"] = float(skm.ndcg_score([relevance], [y_pred], k=10))
        rho = stats.spearmanr(y_true, y_pred).statistic
        if np.isfinite(rho):
            out["spearman"] = float(rho)
    return out


def regression_scores(y_true: Any, y_pred: Any, *, scale: float | None = None) -> dict[str, float]:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    base = task_metrics.regression_metrics(y_true, y_pred)
    out = {k: base[k] for k in ("mae", "rmse", "r2", "n_test") if k in base}
    out["smape"] = _smape(y_true, y_pred)
    if scale:
        out["mase"] = out["mae"] / scale
    return out | _ranking(y_true, y_pred)


def classification_scores(task: str, y_true: Any, proba: Any, classes: list) -> dict[str, float]:
    labels = list(classes)
    proba = np.asarray(proba, dtype=float)
    k = min(3, len(labels))
    scores = task_metrics.multiclass_metrics(list(y_true), proba, labels, k=k)
    out = {name: scores[name] for name in ("accuracy", "f1_macro", "log_loss", "n_test")}
    if len(labels) > 2:
        out["top_3_accuracy"] = scores[f"top_{k}_accuracy"]
    elif task == "binary_classification":
        positive = np.asarray(list(y_true)) == labels[-1]
        out["auc_roc"] = float(skm.roc_auc_score(positive, proba[:, -1]))
    return out


def scores_for(task: str, estimator: Any, X: pd.DataFrame, y: pd.Series, *, scale=None) -> dict:
    if task == "regression":
        return regression_scores(y, estimator.predict(X), scale=scale)
    return classification_scores(task, y, estimator.predict_proba(X), list(estimator.classes_))


def gate(manifest: dict, values: dict[str, float]) -> dict[str, Any]:
    """Pass / fail per metric of the recipe's evaluation against its thresholds."""
    rows = []
    for spec in manifest["evaluation"]["metrics"]:
        value = values.get(spec["name"])
        lower = spec["direction"] == "lower_is_better"
        passed = value is not None and (
            value <= spec["threshold"] if lower else value >= spec["threshold"]
        )
        rows.append(
            {
                "name": spec["name"],
                "label": METRIC_LABELS.get(spec["name"], spec["name"]),
                "value": value,
                "threshold": spec["threshold"],
                "direction": spec["direction"],
                "passed": bool(passed),
            }
        )
    return {"passed": all(r["passed"] for r in rows), "metrics": rows}


def aggregate(per_fold: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each metric over the folds that have it."""
    names = sorted({k for fold in per_fold for k in fold if k != "n_test"})
    out = {}
    for name in names:
        values = [fold[name] for fold in per_fold if fold.get(name) is not None]
        if values:
            out[name] = float(np.mean(values))
    out["n_test"] = int(sum(fold.get("n_test", 0) for fold in per_fold))
    return out


def folds_chart(folds: list[dict], manifest: dict) -> dict[str, Any]:
    """Chart contract: the recipe's metrics per fold, one bar series per metric."""
    names = [spec["name"] for spec in manifest["evaluation"]["metrics"]]
    return {
        "kind": "bars",
        "title": "Backtest: metrics per fold",
        "x_title": "Fold",
        "y_title": "Value",
        "labels": [fold["label"] for fold in folds],
        "datasets": [
            {"label": METRIC_LABELS.get(n, n), "data": [f["metrics"].get(n) for f in folds]}
            for n in names
        ],
    }


def actual_vs_predicted_chart(times: pd.Series, y: Any, predicted: Any) -> dict[str, Any]:
    """Chart contract: the label summed per day over the test rows, actual and predicted."""
    frame = pd.DataFrame(
        {"t": pd.to_datetime(times).dt.strftime("%Y-%m-%d"), "y": y, "p": predicted}
    )
    daily = frame.groupby("t", sort=True)[["y", "p"]].sum()
    return {
        "kind": "timeseries",
        "title": "Backtest: actual and predicted, all groups per day",
        "x_title": "Day",
        "y_title": "Total",
        "labels": list(daily.index),
        "datasets": [
            {
                "label": "Actual",
                "data": [round(float(v), 3) for v in daily["y"]],
                "role": "reference",
            },
            {
                "label": "Predicted",
                "data": [round(float(v), 3) for v in daily["p"]],
                "role": "challenger",
            },
        ],
    }
