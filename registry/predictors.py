"""Any version as a predictor with one interface: predict(rows: list[dict]) -> list[Prediction].

Predictors are loaded once per process and kept by version id (loading a skops file and
building an SDK client are the slow parts of a request). A version whose artifact, trusted
types or prompt change gets a fresh predictor; failures are never cached.
"""

import math
import threading
from dataclasses import dataclass
from typing import Any

from registry.artifacts import ArtifactError, artifact_load
from registry.models import Flavor, ModelVersion, Task
from registry.prompting import PromptError, prompt_render, response_parse


@dataclass(frozen=True)
class Prediction:
    label: Any
    score: float | None


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
    def __init__(self, version: ModelVersion, estimator: Any):
        self.version_id = version.pk
        self.task = version.model.task
        self.estimator = estimator
        self.feature_names = version.feature_names
        self._types = {f["name"]: f.get("type", "numeric") for f in version.metadata.get("features", [])}
        self._with_names = hasattr(estimator, "feature_names_in_")
        classes = list(getattr(estimator, "classes_", []))
        self._positive = None
        if len(classes) == 2:
            # The positive class is label 1 (or True); otherwise sklearn's second class.
            matches = [i for i, c in enumerate(classes) if c == 1]
            self._positive = matches[0] if matches else 1
        self._classes = classes

    def _matrix(self, rows: list[dict]):
        import pandas as pd

        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise PredictionInputError("inputs must be a list of objects, one per row")
        columns: dict[str, list] = {}
        for name in self.feature_names:
            values = []
            for i, row in enumerate(rows):
                if name not in row or row[name] is None:
                    raise PredictionInputError(f"row {i}: the feature '{name}' is missing")
                value = row[name]
                if self._types.get(name, "numeric") in ("numeric", "integer"):
                    try:
                        value = float(value)
                    except (TypeError, ValueError) as exc:
                        raise PredictionInputError(
                            f"row {i}: the feature '{name}' must be a number, got {value!r}"
                        ) from exc
                    if not math.isfinite(value):
                        raise PredictionInputError(f"row {i}: the feature '{name}' must be finite")
                values.append(value)
            columns[name] = values
        frame = pd.DataFrame(columns, columns=self.feature_names)
        return frame if self._with_names else frame.to_numpy()

    def predict(self, rows: list[dict]) -> list[Prediction]:
        if not rows:
            return []
        X = self._matrix(rows)
        if hasattr(self.estimator, "predict_proba") and self._classes:
            proba = self.estimator.predict_proba(X)
            out = []
            for p in proba:
                best = int(p.argmax())
                score = float(p[self._positive]) if self._positive is not None else float(p[best])
                out.append(Prediction(label=_plain(self._classes[best]), score=score))
            return out
        values = self.estimator.predict(X)
        if self.task == Task.REGRESSION:
            return [Prediction(label=float(v), score=float(v)) for v in values]
        return [Prediction(label=_plain(v), score=None) for v in values]


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
                raise PredictorUnavailable(f"The answer of {self.provider} could not be parsed: {exc}") from exc
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
