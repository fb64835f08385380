"""Any version as a predictor with one interface: predict(rows: list[dict]) -> list[Prediction].

Predictors are loaded once per process and kept by version id (loading a skops file and
building an SDK client are the slow parts of a request). A version whose artifact, trusted
types or prompt change gets a fresh predictor; failures are never cached.
"""

import copy
import math
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn

from registry.artifacts import ArtifactError, artifact_load
from registry.compiled import compiled as compiled_estimator
from registry.compiled import verified
from registry.models import Flavor, ModelVersion, Task
from registry.prompting import PromptError, prompt_render, response_parse


@dataclass(frozen=True)
class Prediction:
    label: Any
    score: float | None  # binary: P(class 1); multiclass: P(label); regression: the value
    # Multiclass only: {class: probability} for every class the model knows.
    probabilities: dict[Any, float] | None = None


class PredictorUnavailable(Exception):
    """The version cannot serve predictions; the message says why, for a human."""


class PredictionInputError(ValueError):
    """A row does not fit the version's features; the message names the field."""


def _plain(value: Any) -> Any:
    # numpy scalars are not JSON serialisable; the inference log stores labels as JSON.
    return value.item() if hasattr(value, "item") else value


class Predictor:
    estimator: Any = None
    feature_names: list[str]

    def predict(self, rows: list[dict]) -> list[Prediction]:
        raise NotImplementedError


class SklearnPredictor(Predictor):
    """A scikit-learn estimator (or Pipeline) behind the one predictor interface.

    On the hot path, building a pandas DataFrame for one row and sklearn's checks of it
    cost several times the model's own arithmetic (bench/serving). So when every feature is
    numeric, the predictor keeps a copy of the estimator without its fitted column names
    and hands it a float array in the fitted column order, which is the check sklearn would
    have made; the copy is used only if it answers as the original does on probe rows
    (to 1e-12: the same arithmetic, maybe summed in another order). Anything else (categorical features, a ColumnTransformer selecting columns by
    name) gets the DataFrame, as at training.
    """

    def __init__(self, version: ModelVersion, estimator: Any):
        self.version_id = version.pk
        self.task = version.model.task
        self.estimator = estimator
        self.feature_names = version.feature_names
        self._types = {
            f["name"]: f.get("type", "numeric") for f in version.metadata.get("features", [])
        }
        self._with_names = hasattr(estimator, "feature_names_in_")
        # The fitted column order: a DataFrame must come in it, and so must an array.
        self._columns = [
            str(n) for n in getattr(estimator, "feature_names_in_", self.feature_names)
        ]
        classes = list(getattr(estimator, "classes_", []))
        self._positive = None
        if len(classes) == 2:
            # The positive class is label 1 (or True); otherwise sklearn's second class.
            matches = [i for i, c in enumerate(classes) if c == 1]
            self._positive = matches[0] if matches else 1
        self._classes = classes
        self._array_estimator = self._array_copy()
        # The estimator's arithmetic without sklearn's per-call checks (registry/compiled.py),
        # once it answers exactly as sklearn does; None: sklearn is called.
        self.compiled = None
        if self._array_estimator is not None:
            self.compiled = verified(
                compiled_estimator(self._array_estimator),
                self._array_raw,
                len(self._columns),
            )

    @property
    def serves_arrays(self) -> bool:
        """Whether predictions take the float-array path (see the class docstring)."""
        return self._array_estimator is not None

    def predict_array(self, X: np.ndarray) -> np.ndarray:
        """predict_proba (else predict) of finite float rows in the fitted column order, by
        the array path `predict` takes (batch scoring: one call per chunk). Only when
        `serves_arrays`."""
        if self.compiled is not None:
            return self.compiled(X)
        return self._array_raw(X)

    def _array_raw(self, X: np.ndarray) -> np.ndarray:
        # Finite floats checked by the caller: sklearn need not check them again.
        with sklearn.config_context(assume_finite=True):
            return self._raw(self._array_estimator, X)

    def _numeric(self, name: str) -> bool:
        return self._types.get(name, "numeric") in ("numeric", "integer")

    def _array_copy(self) -> Any:
        """The estimator as it serves float arrays, or None when it must get a DataFrame."""
        if not all(self._numeric(name) for name in self._columns):
            return None
        if not self._with_names:
            return self.estimator
        unnamed = copy.deepcopy(self.estimator)
        for step in [unnamed, *(s for _, s in getattr(unnamed, "steps", []))]:
            if "feature_names_in_" in vars(step):
                del step.feature_names_in_
        probe = np.array([[0.0] * len(self._columns), [1.0] * len(self._columns)])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # built once per version; sklearn's chatter
                # Equal up to the last bits: a DataFrame's column-major memory can change
                # the order of a dot product's additions, nothing more.
                same = np.allclose(
                    self._raw(unnamed, probe),
                    self._raw(self.estimator, self._frame(probe)),
                    rtol=1e-12,
                    atol=1e-15,
                )
        except Exception:  # e.g. a step that selects columns by name
            return None
        return unnamed if same else None

    def _raw(self, estimator: Any, X: Any) -> np.ndarray:
        if hasattr(estimator, "predict_proba") and self._classes:
            return np.asarray(estimator.predict_proba(X))
        return np.asarray(estimator.predict(X))

    def _frame(self, X: np.ndarray | dict[str, list]) -> Any:
        import pandas as pd

        return pd.DataFrame(X, columns=self._columns)

    def _value(self, row: dict, name: str, i: int) -> Any:
        if name not in row or row[name] is None:
            raise PredictionInputError(f"row {i}: the feature '{name}' is missing")
        value = row[name]
        if not self._numeric(name):
            return value
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise PredictionInputError(
                f"row {i}: the feature '{name}' must be a number, got {value!r}"
            ) from exc
        if not math.isfinite(value):
            raise PredictionInputError(f"row {i}: the feature '{name}' must be finite")
        return value

    def _matrix(self, rows: list[dict]) -> Any:
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise PredictionInputError("inputs must be a list of objects, one per row")
        if self._array_estimator is not None:
            return np.array(
                [
                    [self._value(row, name, i) for name in self._columns]
                    for i, row in enumerate(rows)
                ],
                dtype=float,
            )
        columns = {
            name: [self._value(row, name, i) for i, row in enumerate(rows)]
            for name in self._columns
        }
        frame = self._frame(columns)
        return frame if self._with_names else frame.to_numpy()

    def predict(self, rows: list[dict]) -> list[Prediction]:
        if not rows:
            return []
        X = self._matrix(rows)
        if self._array_estimator is not None:
            raw = self.predict_array(X)
        else:
            raw = self._raw(self.estimator, X)
        if hasattr(self.estimator, "predict_proba") and self._classes:
            if self._positive is None:
                return self._multiclass(raw)
            out = []
            for p in raw:
                best = int(p.argmax())
                out.append(
                    Prediction(label=_plain(self._classes[best]), score=float(p[self._positive]))
                )
            return out
        if self.task == Task.REGRESSION:
            return [Prediction(label=float(v), score=float(v)) for v in raw]
        return [Prediction(label=_plain(v), score=None) for v in raw]

    def _multiclass(self, raw: np.ndarray) -> list[Prediction]:
        classes = [_plain(c) for c in self._classes]
        out = []
        for p in raw:
            best = int(p.argmax())
            out.append(
                Prediction(
                    label=classes[best],
                    score=float(p[best]),
                    probabilities={c: float(v) for c, v in zip(classes, p, strict=True)},
                )
            )
        return out


class ExternalPredictor(Predictor):
    estimator = None

    def __init__(self, version: ModelVersion):
        self.version_id = version.pk
        self.provider = version.provider
        self.model = version.provider_model or None
        self.template = version.prompt_template
        self.parser = dict(version.response_parser or {})
        self.feature_names = version.feature_names

    def predict(self, rows: list[dict]) -> list[Prediction]:
        from providers.clients import ProviderError, complete

        out = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise PredictionInputError(f"row {i}: inputs must be an object")
            try:
                prompt = prompt_render(self.template, row)
            except PromptError as exc:
                raise PredictionInputError(f"row {i}: {exc}") from exc
            try:
                answer = complete(self.provider, prompt=prompt, model=self.model)
            except ProviderError as exc:
                raise PredictorUnavailable(f"The provider {self.provider} failed: {exc}") from exc
            try:
                label, score = response_parse(answer, self.parser)
            except PromptError as exc:
                raise PredictorUnavailable(
                    f"The answer of {self.provider} could not be parsed: {exc}"
                ) from exc
            out.append(Prediction(label=label, score=score))
        return out


_cache: dict[int, tuple[tuple, Predictor]] = {}
_lock = threading.Lock()


def _fingerprint(version: ModelVersion) -> tuple:
    return (
        version.flavor,
        version.artifact_sha256,
        tuple(version.trusted_types or ()),
        version.provider_id,
        # A provider's new key, base URL or deactivation: a fresh predictor (and client).
        version.provider.updated_at if version.provider_id else None,
        version.provider_model,
        version.prompt_template,
        repr(version.response_parser),
        tuple(version.feature_names),
    )


def _build(version: ModelVersion) -> Predictor:
    if version.flavor == Flavor.SKLEARN:
        try:
            return SklearnPredictor(version, artifact_load(version))
        except ArtifactError as exc:
            raise PredictorUnavailable(str(exc)) from exc
    if version.provider_id is None:
        raise PredictorUnavailable(f"{version} has no provider: choose one on the version.")
    if not version.provider.is_active:
        raise PredictorUnavailable(f"The provider {version.provider} of {version} is not active.")
    if not version.prompt_template:
        raise PredictorUnavailable(f"{version} has no prompt template.")
    return ExternalPredictor(version)


def predictor_for(version: ModelVersion) -> Predictor:
    fingerprint = _fingerprint(version)
    cached = _cache.get(version.pk)
    if cached and cached[0] == fingerprint:
        return cached[1]
    with _lock:
        cached = _cache.get(version.pk)
        if cached and cached[0] == fingerprint:
            return cached[1]
        predictor = _build(version)
        _cache[version.pk] = (fingerprint, predictor)
        return predictor


def predictor_cache_clear(version_id: int | None = None) -> None:
    with _lock:
        if version_id is None:
            _cache.clear()
        else:
            _cache.pop(version_id, None)
