"""SHAP per task: regressions in the model's output units, multiclass models for the
predicted class and for every class; base_value + sum(values) = output within 1e-6 for each
explainer kind (tree, linear, permutation)."""

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from inference import explain

FEATURES = ["basket_value", "items", "discount"]
OFFERS = ["bundle", "discount", "upgrade"]


@dataclass
class FittedPredictor:
    estimator: Any
    feature_names: list[str] = field(default_factory=lambda: list(FEATURES))


def _data(rows: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "basket_value": rng.uniform(5, 200, rows),
            "items": rng.integers(1, 12, rows).astype(float),
            "discount": rng.uniform(0, 0.3, rows),
        }
    )
    price = 4 + 0.9 * X.basket_value + 1.5 * X["items"] - 30 * X.discount + rng.normal(0, 4, rows)
    score = np.column_stack([X.basket_value / 70, X["items"] / 4, X.discount * 10]) + rng.normal(
        0, 0.5, (rows, 3)
    )
    offer = pd.Series([OFFERS[i] for i in score.argmax(axis=1)])
    return X, price, offer


def _version(pk: int, X: pd.DataFrame) -> SimpleNamespace:
    sample = X.head(30).to_dict("records")
    return SimpleNamespace(id=pk, flavor="sklearn", metadata={"reference": {"sample": sample}})


def _rows(X: pd.DataFrame, n: int = 5) -> list[dict]:
    return X.tail(n).to_dict("records")


def _total(e: explain.Explanation) -> float:
    return e.base_value + sum(e.values.values())


@pytest.fixture(autouse=True)
def _fresh_explainers():
    explain.explainer_cache_clear()
    yield
    explain.explainer_cache_clear()


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        (GradientBoostingRegressor(n_estimators=30, random_state=0), "tree"),
        (RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0), "tree"),
        (make_pipeline(StandardScaler(), Ridge(alpha=1.0)), "linear"),
        (make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=5)), "permutation"),
    ],
    ids=["gradient-boosting", "random-forest", "ridge", "k-nn"],
)
def test_a_regression_is_explained_in_its_output_units(model, kind):
    X, price, _ = _data()
    model.fit(X, price)
    version, predictor = _version(1, X), FittedPredictor(model)
    rows = _rows(X)

    explanations = explain.explanation_for(version, predictor, rows)

    assert explain.explainer_for(version, predictor).kind == kind
    for e, predicted in zip(explanations, model.predict(pd.DataFrame(rows)), strict=True):
        assert e.units == "raw output"
        assert list(e.values) == FEATURES
        assert abs(_total(e) - predicted) < 1e-6
    # One output: nothing per class.
    assert explain.class_explanations_for(version, predictor, rows) == [{}] * len(rows)


MULTICLASS = [
    (RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), "tree", "probability"),
    (make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), "linear", "log-odds"),
    # shap's TreeExplainer refuses multiclass gradient boosting: the permutation explainer.
    (GradientBoostingClassifier(n_estimators=10, random_state=0), "permutation", "probability"),
    (make_pipeline(StandardScaler(), KNeighborsClassifier(7)), "permutation", "probability"),
]
MULTICLASS_IDS = ["forest", "logistic", "gradient-boosting", "k-nn"]


def _outputs(model: Any, frame: pd.DataFrame, units: str) -> np.ndarray:
    return model.predict_proba(frame) if units == "probability" else model.decision_function(frame)


@pytest.mark.parametrize(("model", "kind", "units"), MULTICLASS, ids=MULTICLASS_IDS)
def test_a_multiclass_prediction_is_explained_for_its_predicted_class(model, kind, units):
    X, _, offer = _data()
    model.fit(X, offer)
    version, predictor = _version(2, X), FittedPredictor(model)
    rows = _rows(X)
    frame = pd.DataFrame(rows)
    labels = list(model.predict(frame))

    explanations = explain.explanation_for(version, predictor, rows, labels=labels)

    assert explain.explainer_for(version, predictor).kind == kind
    outputs = _outputs(model, frame, units)
    for e, label, output in zip(explanations, labels, outputs, strict=True):
        assert e.units == units
        assert abs(_total(e) - output[list(model.classes_).index(label)]) < 1e-6


@pytest.mark.parametrize(("model", "kind", "units"), MULTICLASS, ids=MULTICLASS_IDS)
def test_every_class_of_a_multiclass_prediction_is_explained_and_adds_up(model, kind, units):
    X, _, offer = _data()
    model.fit(X, offer)
    version, predictor = _version(3, X), FittedPredictor(model)
    rows = _rows(X, 4)
    frame = pd.DataFrame(rows)

    per_class = explain.class_explanations_for(version, predictor, rows)

    outputs = _outputs(model, frame, units)
    for by_class, output in zip(per_class, outputs, strict=True):
        assert list(by_class) == OFFERS
        for j, label in enumerate(OFFERS):
            e = by_class[label]
            assert e.units == units and list(e.values) == FEATURES
            assert abs(_total(e) - output[j]) < 1e-6
    if kind == "permutation":
        return  # permutations are drawn per call: each call adds up, their values differ
    # The predicted class's entry is the one a served prediction carries.
    labels = list(model.predict(frame))
    served = explain.explanation_for(version, predictor, rows, labels=labels)
    for by_class, label, e in zip(per_class, labels, served, strict=True):
        assert by_class[label].values == pytest.approx(e.values, abs=1e-9)


def test_binary_models_have_no_per_class_explanations():
    X, price, _ = _data()
    model = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, price > 120)
    version, predictor = _version(4, X), FittedPredictor(model)

    assert explain.class_explanations_for(version, predictor, _rows(X, 2)) == [{}, {}]
