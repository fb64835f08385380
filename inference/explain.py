"""SHAP explanations for the very prediction being served.

Which explainer, and in which units `base_value + sum(values)` adds up to the model's output:

| model (or a Pipeline's last step)                  | explainer   | units         |
| -------------------------------------------------- | ----------- | ------------- |
| GradientBoosting / HistGradientBoosting classifier | Tree        | log-odds      |
| RandomForest / ExtraTrees / DecisionTree classifier| Tree        | probability   |
| LogisticRegression (and other linear classifiers)  | Linear      | log-odds (*)  |
| tree or linear regressors                          | Tree/Linear | raw output    |
| anything else (SVC, k-NN, MLP, odd pipelines, and  | Permutation | probability   |
| models shap's Tree/Linear explainers refuse)       |             |               |
| external (LLM) versions                            | none        | no SHAP       |

(*) "margin" for linear classifiers that are not logistic (SGD, LinearSVC...).
For binary classifiers the values explain class 1 (the score's class); for multiclass, the
predicted class (`explanation_for`), or every class at once (`class_explanations_for`, for
the inference detail page). Regressors are explained in the model's output units (the
predicted value itself: "raw output").

Values are always given in the model's *input* space, one per input feature. A Pipeline whose
preprocessing is feature-wise (scalers, imputers, quantile/power transforms: each output column
depends on its own input column only) is explained by running the Tree/Linear explainer on the
transformed rows and attributing each column back to its input feature, which is exact for a
feature-wise transform. Any other preprocessing (one-hot encoding, PCA...) falls back to the
permutation explainer over the whole pipeline.

Background data (Linear and Permutation): a sample of the training data when the version's
metadata carries one (`reference.sample`), otherwise rows rebuilt from the per-feature
`reference` summary (quantiles, else mean), otherwise the StandardScaler's training means.
TreeExplainer needs none: it uses the trees' own cover (path-dependent).

Explainers are built once per model version per process and reused; this module imports no
Django, so it is cheap to test on small models.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)

NO_SHAP_EXTERNAL = "External (LLM) model: predictions are not explained, no SHAP values are logged."
BACKGROUND_ROWS = 50  # enough for a stable permutation baseline, small enough for the hot path

# Preprocessing steps whose output column j depends on input column j only.
_FEATURE_WISE = {
    "StandardScaler",
    "MinMaxScaler",
    "MaxAbsScaler",
    "RobustScaler",
    "SimpleImputer",
    "QuantileTransformer",
    "PowerTransformer",
}
_TREE_MODELS = {
    "GradientBoostingClassifier": "log-odds",
    "HistGradientBoostingClassifier": "log-odds",
    "RandomForestClassifier": "probability",
    "ExtraTreesClassifier": "probability",
    "DecisionTreeClassifier": "probability",
    "GradientBoostingRegressor": "raw output",
    "HistGradientBoostingRegressor": "raw output",
    "RandomForestRegressor": "raw output",
    "ExtraTreesRegressor": "raw output",
    "DecisionTreeRegressor": "raw output",
}


class _Version(Protocol):
    id: int
    flavor: str
    metadata: dict


class _Predictor(Protocol):
    estimator: Any
    feature_names: list[str]


@dataclass(frozen=True)
class Explanation:
    """SHAP values of one prediction: {feature: value}, and the explainer's base value.

    base_value + sum(values) == the model's output in `units`. An external version gets an
    empty explanation with base_value None and a note saying why.
    """

    values: dict[str, float]
    base_value: float | None
    units: str = ""
    note: str = ""

    @property
    def is_empty(self) -> bool:
        return self.base_value is None


class ExplainerUnavailable(Exception):
    pass


@dataclass
class VersionExplainer:
    """An explainer built for one version: `explain(X)` -> (values (n, f), base values (n,))."""

    kind: str  # tree | linear | permutation | none
    units: str
    feature_names: list[str]
    explain: Callable[[np.ndarray, Sequence[Any] | None], tuple[np.ndarray, np.ndarray]]
    note: str = ""
    # Multiclass models: their classes, and X -> (values (n, f, k), base values (n, k)).
    classes: list[Any] = field(default_factory=list)
    explain_all: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None


_cache: dict[int, VersionExplainer] = {}
_lock = threading.Lock()


def explainer_cache_clear() -> None:
    with _lock:
        _cache.clear()


def explainer_for(version: _Version, predictor: _Predictor) -> VersionExplainer:
    """The version's explainer, built on first use and kept for the life of the process."""
    explainer = _cache.get(version.id)
    if explainer is None:
        with _lock:
            explainer = _cache.get(version.id)
            if explainer is None:
                explainer = build_explainer(version, predictor)
                _cache[version.id] = explainer
    return explainer


def explanation_for(
    version: _Version,
    predictor: _Predictor,
    rows: list[dict],
    *,
    labels: Sequence[Any] | None = None,
) -> list[Explanation]:
    """One Explanation per row, in order. `labels` (the predicted labels) pick the class a
    multiclass model is explained for; binary models always explain class 1."""
    explainer = explainer_for(version, predictor)
    if explainer.kind == "none":
        return [Explanation(values={}, base_value=None, note=explainer.note) for _ in rows]
    X = rows_to_matrix(rows, explainer.feature_names)
    values, base_values = explainer.explain(X, labels)
    names = explainer.feature_names
    return [
        Explanation(
            values={name: float(v) for name, v in zip(names, row_values, strict=True)},
            base_value=float(base),
            units=explainer.units,
        )
        for row_values, base in zip(values, base_values, strict=True)
    ]


def class_explanations_for(
    version: _Version, predictor: _Predictor, rows: list[dict]
) -> list[dict[Any, Explanation]]:
    """Multiclass models: per row, {class: Explanation} for every class (each adds up to
    that class's output). Binary and regression models have one output: an empty dict per
    row (explanation_for gives it); so does a version that cannot be explained."""
    explainer = explainer_for(version, predictor)
    if explainer.explain_all is None or not explainer.classes:
        return [{} for _ in rows]
    X = rows_to_matrix(rows, explainer.feature_names)
    values, base_values = explainer.explain_all(X)
    names = explainer.feature_names
    return [
        {
            _plain(label): Explanation(
                values={name: float(v) for name, v in zip(names, values[i, :, j], strict=True)},
                base_value=float(base_values[i, j]),
                units=explainer.units,
            )
            for j, label in enumerate(explainer.classes)
        }
        for i in range(len(rows))
    ]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def rows_to_matrix(rows: list[dict], feature_names: list[str]) -> np.ndarray:
    try:
        return np.array([[row[name] for name in feature_names] for row in rows], dtype=float)
    except (TypeError, ValueError):
        # Categorical inputs: keep them as objects for the permutation explainer's pipeline.
        return np.array([[row[name] for name in feature_names] for row in rows], dtype=object)


# --- building ---------------------------------------------------------------------------


def build_explainer(version: _Version, predictor: _Predictor) -> VersionExplainer:
    estimator = getattr(predictor, "estimator", None)
    # Explain in the column order the estimator was fitted with (rows are dicts, any order).
    names = [str(n) for n in getattr(estimator, "feature_names_in_", predictor.feature_names)]
    if version.flavor == "external" or estimator is None:
        return VersionExplainer(
            kind="none", units="", feature_names=names, explain=_no_values, note=NO_SHAP_EXTERNAL
        )
    preprocess, final = _split(estimator, names)
    final_name = type(final).__name__
    with warnings.catch_warnings():
        # Built once; sklearn's feature-name warnings while probing the pipeline are noise.
        warnings.simplefilter("ignore", UserWarning)
        try:
            if preprocess is not None and final_name in _TREE_MODELS:
                return _tree_explainer(final, preprocess, names, _TREE_MODELS[final_name])
            if preprocess is not None and _is_linear(final):
                background = _background(version, names, estimator)
                return _linear_explainer(final, preprocess, names, background)
        except Exception as exc:  # e.g. shap's TreeExplainer refuses multiclass GradientBoosting
            logger.info("Version %s: %s; using the permutation explainer", version.id, exc)
        try:
            return _permutation_explainer(estimator, names, _background(version, names, estimator))
        except ExplainerUnavailable as exc:
            # Kept in the cache like any explainer, so the hot path does not retry each time.
            logger.warning("Version %s cannot be explained: %s", version.id, exc)
            return VersionExplainer(
                kind="none", units="", feature_names=names, explain=_no_values, note=str(exc)
            )


def _no_values(X: np.ndarray, labels: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray]:
    return np.empty((len(X), 0)), np.full(len(X), np.nan)


def _feature_wise(transforms: list[Any], n_features: int) -> bool:
    """Whether every preprocessing step works on each column alone (keeps the features)."""
    for step in transforms:
        if type(step).__name__ not in _FEATURE_WISE or getattr(step, "add_indicator", False):
            return False
        if getattr(step, "n_features_in_", n_features) != n_features:
            return False
    return True


def _affine_preprocess(affine: list[tuple]) -> Callable[[np.ndarray], np.ndarray]:
    # Scalers only (the usual linear pipeline): the same arithmetic as their transform(),
    # without sklearn's per-call validation, which costs more than the maths on one row.
    def preprocess(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        for offset, factor in affine:
            X = (X - offset) * factor
        return X

    return preprocess


def _steps_preprocess(
    transforms: list[Any], names: list[str]
) -> Callable[[np.ndarray], np.ndarray]:
    fitted = bool(transforms) and hasattr(transforms[0], "feature_names_in_")

    def preprocess(X: np.ndarray) -> np.ndarray:
        if fitted:
            import pandas as pd

            # Fitted on a DataFrame: hand it one, as predict does (no feature-name warning).
            X = pd.DataFrame(X, columns=names)
        for step in transforms:
            X = step.transform(X)
        return np.asarray(X, dtype=float)

    return preprocess


def _split(
    estimator: Any, names: list[str]
) -> tuple[Callable[[np.ndarray], np.ndarray] | None, Any]:
    """(feature-wise preprocessing, final estimator), or (None, estimator) when the
    preprocessing mixes columns and the model must be explained as a whole."""
    n_features = len(names)
    steps = getattr(estimator, "steps", None)
    if not steps:
        return (lambda X: X), estimator
    transforms = [step for _, step in steps[:-1] if step not in (None, "passthrough")]
    if not _feature_wise(transforms, n_features):
        return None, estimator
    affine = [_affine(step) for step in transforms]
    if all(a is not None for a in affine):
        preprocess = _affine_preprocess(affine)
    else:
        preprocess = _steps_preprocess(transforms, names)
    probe = preprocess(np.zeros((1, n_features)))
    if probe.shape[1] != n_features:  # e.g. an imputer that dropped an all-missing column
        return None, estimator
    return preprocess, steps[-1][1]


def _affine(step: Any) -> tuple[np.ndarray | float, np.ndarray | float] | None:
    """(offset, factor) with transform(X) == (X - offset) * factor, for the plain scalers."""
    name = type(step).__name__
    if name == "StandardScaler":
        offset = step.mean_ if step.with_mean else 0.0
        factor = 1.0 / step.scale_ if step.with_std else 1.0
        return offset, factor
    if name == "MinMaxScaler" and not step.clip:
        # X * scale_ + min_  ==  (X - (-min_ / scale_)) * scale_
        return -step.min_ / step.scale_, step.scale_
    if name == "MaxAbsScaler":
        return 0.0, 1.0 / step.scale_
    if name == "RobustScaler":
        offset = step.center_ if step.with_centering else 0.0
        factor = 1.0 / step.scale_ if step.with_scaling else 1.0
        return offset, factor
    return None


def _is_linear(model: Any) -> bool:
    return hasattr(model, "coef_") and hasattr(model, "intercept_")


def _class_index(model: Any, label: Any, n_outputs: int) -> int:
    classes = list(getattr(model, "classes_", []))
    if n_outputs == 2 or len(classes) == 2:
        # Binary: explain class 1, the class the score is the probability of.
        return classes.index(1) if 1 in classes else len(classes) - 1
    return classes.index(label) if label in classes else 0


def _pick(values: np.ndarray, base: np.ndarray, model: Any, labels: Sequence[Any] | None):
    """Reduce SHAP output with a class axis (n, f, k) to the explained class per row."""
    values = np.asarray(values)
    base = np.asarray(base, dtype=float)
    rows = np.arange(len(values))
    if values.ndim == 2:
        if base.ndim == 1 and len(base) == len(values):  # one base value per row
            return values, base
        return values, np.full(values.shape[0], np.atleast_1d(base)[0])
    k = values.shape[2]
    idx = [
        _class_index(model, labels[i] if labels is not None else None, k)
        for i in range(len(values))
    ]
    if base.ndim == 2:  # (n, k): one per row and class (permutation)
        return values[rows, :, idx], base[rows, idx]
    return values[rows, :, idx], np.atleast_1d(base)[idx]


def _all_classes(values: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SHAP output with a class axis as (values (n, f, k), base values (n, k))."""
    values = np.asarray(values, dtype=float)
    base = np.asarray(base, dtype=float)
    n, _, k = values.shape
    if base.ndim == 2:
        return values, base
    return values, np.broadcast_to(np.atleast_1d(base), (n, k))


def _multiclass(model: Any) -> list[Any]:
    classes = list(getattr(model, "classes_", []))
    return classes if len(classes) > 2 else []


def _tree_explainer(
    model: Any, preprocess: Callable, names: list[str], units: str
) -> VersionExplainer:
    import shap

    explainer = shap.TreeExplainer(model)

    def explain(X: np.ndarray, labels: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray]:
        Xt = preprocess(X)
        # check_additivity off: our own tests prove additivity; the check costs a predict.
        values = explainer.shap_values(Xt, check_additivity=False)
        return _pick(values, explainer.expected_value, model, labels)

    def explain_all(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = explainer.shap_values(preprocess(X), check_additivity=False)
        return _all_classes(values, explainer.expected_value)

    return VersionExplainer(
        kind="tree",
        units=units,
        feature_names=names,
        explain=explain,
        classes=_multiclass(model),
        explain_all=explain_all,
    )


def _linear_explainer(
    model: Any, preprocess: Callable, names: list[str], background: np.ndarray | None
) -> VersionExplainer:
    import shap

    if background is None:
        # No stored sample: explain against the origin of the transformed space, which is the
        # training mean when the pipeline standardises (the common case).
        masker: Any = (np.zeros(len(names)), np.eye(len(names)))
    else:
        masker = shap.maskers.Independent(preprocess(background), max_samples=len(background))
    explainer = shap.LinearExplainer(model, masker)
    is_classifier = hasattr(model, "classes_")
    units = "raw output"
    if is_classifier:
        units = "log-odds" if type(model).__name__ == "LogisticRegression" else "margin"

    def linear_values(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = np.asarray(explainer.shap_values(preprocess(X)))
        base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
        if values.ndim == 3 and values.shape[0] != len(X):  # (k, n, f) from older shap layouts
            values = np.transpose(values, (1, 2, 0))
        return values, base

    def explain(X: np.ndarray, labels: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray]:
        return _pick(*linear_values(X), model, labels)

    def explain_all(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _all_classes(*linear_values(X))

    return VersionExplainer(
        kind="linear",
        units=units,
        feature_names=names,
        explain=explain,
        classes=_multiclass(model),
        explain_all=explain_all,
    )


def _permutation_explainer(
    estimator: Any, names: list[str], background: np.ndarray | None
) -> VersionExplainer:
    import pandas as pd
    import shap

    if background is None:
        raise ExplainerUnavailable(
            "No background sample for the permutation explainer: the version's metadata has no "
            "`reference` summary."
        )
    is_classifier = hasattr(estimator, "predict_proba")
    classes = list(getattr(estimator, "classes_", []))
    positive = classes.index(1) if 1 in classes else len(classes) - 1
    multiclass = is_classifier and len(classes) > 2

    def output(X: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(X, columns=names)
        if multiclass:  # every class; the predicted one is picked per row afterwards
            return estimator.predict_proba(frame)
        if is_classifier:
            return estimator.predict_proba(frame)[:, positive]
        return np.asarray(estimator.predict(frame), dtype=float)

    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.explainers.Permutation(output, masker, seed=0)
    n = len(names)

    def explain(X: np.ndarray, labels: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray]:
        # Each permutation telescopes from f(background) to f(x), so additivity is exact
        # whatever the number of permutations; 4 keep the hot path affordable.
        result = explainer(X, max_evals=4 * (2 * n + 1), silent=True)
        return _pick(result.values, result.base_values, estimator, labels)

    def explain_all(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        result = explainer(X, max_evals=4 * (2 * n + 1), silent=True)
        return _all_classes(result.values, result.base_values)

    return VersionExplainer(
        kind="permutation",
        units="probability" if is_classifier else "raw output",
        feature_names=names,
        explain=explain,
        classes=classes if multiclass else [],
        explain_all=explain_all if multiclass else None,
    )


# --- background data ---------------------------------------------------------------------


def _sample_rows(reference: dict, names: list[str]) -> np.ndarray | None:
    sample = reference.get("sample") or reference.get("background")
    if not (isinstance(sample, list) and sample and all(isinstance(r, dict) for r in sample)):
        return None
    rows = [r for r in sample if all(n in r for n in names)][:BACKGROUND_ROWS]
    return rows_to_matrix(rows, names) if rows else None


def _background(version: _Version, names: list[str], estimator: Any) -> np.ndarray | None:
    reference = (version.metadata or {}).get("reference") or {}
    rows = _sample_rows(reference, names)
    if rows is not None:
        return rows
    stats = _feature_stats(reference)
    if stats and all(name in stats for name in names):
        return _rows_from_summary([stats[name] for name in names])
    return _scaler_means(estimator, len(names))


def _feature_stats(reference: dict) -> dict[str, dict]:
    """Per-feature summaries, whether keyed by name or listed with a `name`."""
    features = reference.get("features", reference)
    if isinstance(features, list):
        return {f["name"]: f for f in features if isinstance(f, dict) and "name" in f}
    if isinstance(features, dict):
        return {name: f for name, f in features.items() if isinstance(f, dict)}
    return {}


def _listed_quantiles(summary: dict) -> list[float] | None:
    quantiles = summary.get("quantiles")
    if isinstance(quantiles, dict) and quantiles:  # {"p01": ..., "p50": ...}: monotone values
        return sorted(float(v) for v in quantiles.values())
    if isinstance(quantiles, list) and quantiles:
        return [float(q["value"] if isinstance(q, dict) else q) for q in quantiles]
    return None


def _quantile_points(summary: dict) -> list[float] | None:
    listed = _listed_quantiles(summary)
    if listed is not None:
        return listed
    points = [summary[k] for k in ("p10", "p25", "p50", "p75", "p90") if k in summary]
    if points:
        return [float(v) for v in points]
    for key in ("mean", "median"):
        if isinstance(summary.get(key), int | float):
            return [float(summary[key])]
    return None


def _rows_from_summary(summaries: list[dict]) -> np.ndarray | None:
    """Rows whose columns walk each feature's quantiles independently (no stored sample: the
    features are treated as independent, which is what the Independent masker assumes)."""
    columns = [_quantile_points(s) for s in summaries]
    if any(c is None for c in columns):
        return None
    rng = np.random.default_rng(0)
    return np.column_stack(
        [rng.choice(np.asarray(c), size=BACKGROUND_ROWS) for c in columns]  # type: ignore[arg-type]
    ).astype(float)


def _scaler_means(estimator: Any, n_features: int) -> np.ndarray | None:
    for _, step in getattr(estimator, "steps", [])[:-1]:
        mean = getattr(step, "mean_", None)
        if mean is not None and len(mean) == n_features:
            return np.asarray(mean, dtype=float).reshape(1, -1)
    return None
