"""SHAP explanations: the right explainer per model, additivity in documented units."""

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)

from inference import explain

FEATURES = ["income", "debt_ratio", "age", "delinquencies"]


@dataclass
class FittedPredictor:
    estimator: Any
    feature_names: list[str] = field(default_factory=lambda: list(FEATURES))


def _version(pk: int, flavor: str = "sklearn", metadata: dict | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=pk, flavor=flavor, metadata=metadata or {})


def _data(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "income": rng.normal(50_000, 15_000, rows),
            "debt_ratio": rng.uniform(0, 1, rows),
            "age": rng.integers(18, 80, rows).astype(float),
            "delinquencies": rng.poisson(0.5, rows).astype(float),
        }
    )
    logit = -(X.income - 50_000) / 15_000 + 2 * X.debt_ratio + X.delinquencies - 1
    y = pd.Series((rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int))
    return X, y


def _rows(X: pd.DataFrame, n: int = 5) -> list[dict]:
    return X.head(n).to_dict("records")


@pytest.fixture(autouse=True)
def _fresh_explainers():
    explain.explainer_cache_clear()
    yield
    explain.explainer_cache_clear()


def _total(e: explain.Explanation) -> float:
    return e.base_value + sum(e.values.values())


def test_gradient_boosting_uses_tree_explainer_and_adds_up_to_log_odds():
    X, y = _data()
    model = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(X, y)
    rows = _rows(X)
    explanations = explain.explanation_for(_version(1), FittedPredictor(model), rows)
    assert explain.explainer_for(_version(1), FittedPredictor(model)).kind == "tree"
    log_odds = model.decision_function(pd.DataFrame(rows))
    for e, expected in zip(explanations, log_odds, strict=True):
        assert e.units == "log-odds"
        assert set(e.values) == set(FEATURES)
        assert abs(_total(e) - expected) < 1e-6


def test_random_forest_explains_class_one_in_probability():
    X, y = _data()
    model = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
    rows = _rows(X)
    explanations = explain.explanation_for(_version(2), FittedPredictor(model), rows)
    proba = model.predict_proba(pd.DataFrame(rows))[:, 1]
    for e, expected in zip(explanations, proba, strict=True):
        assert e.units == "probability"
        assert abs(_total(e) - expected) < 1e-6


def test_logistic_pipeline_uses_linear_explainer_in_input_space_and_adds_up_to_log_odds():
    X, y = _data()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    sample = X.sample(40, random_state=1).to_dict("records")
    version = _version(3, metadata={"reference": {"sample": sample}})
    rows = _rows(X)
    explanations = explain.explanation_for(version, FittedPredictor(model), rows)
    assert explain.explainer_for(version, FittedPredictor(model)).kind == "linear"
    log_odds = model.decision_function(pd.DataFrame(rows))
    for e, expected in zip(explanations, log_odds, strict=True):
        assert e.units == "log-odds"
        assert list(e.values) == FEATURES  # the raw input features, not scaled columns
        assert abs(_total(e) - expected) < 1e-6


def test_linear_values_are_coefficient_times_distance_from_the_background_mean():
    X, y = _data()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    sample = X.sample(40, random_state=1)
    version = _version(4, metadata={"reference": {"sample": sample.to_dict("records")}})
    row = _rows(X, 1)
    [e] = explain.explanation_for(version, FittedPredictor(model), row)
    scaled_row = model[0].transform(pd.DataFrame(row))[0]
    scaled_mean = model[0].transform(sample).mean(axis=0)
    expected = model[-1].coef_[0] * (scaled_row - scaled_mean)
    assert np.allclose([e.values[f] for f in FEATURES], expected, atol=1e-9)


def test_linear_model_without_stored_sample_still_adds_up():
    X, y = _data()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    rows = _rows(X)
    explanations = explain.explanation_for(_version(5), FittedPredictor(model), rows)
    for e, expected in zip(explanations, model.decision_function(pd.DataFrame(rows)), strict=True):
        assert abs(_total(e) - expected) < 1e-6


def test_linear_regression_adds_up_to_raw_output():
    X, _ = _data()
    target = 3 * X.debt_ratio + X.age / 10
    model = LinearRegression().fit(X, target)
    version = _version(6, metadata={"reference": {"sample": X.head(30).to_dict("records")}})
    rows = _rows(X)
    explanations = explain.explanation_for(version, FittedPredictor(model), rows)
    for e, expected in zip(explanations, model.predict(pd.DataFrame(rows)), strict=True):
        assert e.units == "raw output"
        assert abs(_total(e) - expected) < 1e-6


def test_other_models_use_permutation_over_the_reference_summary_in_probability():
    X, y = _data(rows=200)
    model = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=7)).fit(X, y)
    reference = {
        "features": {
            name: {"quantiles": {str(q): float(X[name].quantile(q)) for q in (0.1, 0.5, 0.9)}}
            for name in FEATURES
        }
    }
    version = _version(7, metadata={"reference": reference})
    rows = _rows(X, 3)
    explanations = explain.explanation_for(version, FittedPredictor(model), rows)
    assert explain.explainer_for(version, FittedPredictor(model)).kind == "permutation"
    proba = model.predict_proba(pd.DataFrame(rows))[:, 1]
    for e, expected in zip(explanations, proba, strict=True):
        assert e.units == "probability"
        assert abs(_total(e) - expected) < 1e-6


def test_pipeline_that_mixes_columns_is_explained_as_a_whole_by_permutation():
    X, y = _data(rows=200)
    X = X.assign(delinquencies=X.delinquencies.clip(upper=2))
    model = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression()).fit(X, y)
    version = _version(8, metadata={"reference": {"sample": X.head(20).to_dict("records")}})
    rows = _rows(X, 2)
    explanations = explain.explanation_for(version, FittedPredictor(model), rows)
    assert explain.explainer_for(version, FittedPredictor(model)).kind == "permutation"
    proba = model.predict_proba(pd.DataFrame(rows))[:, 1]
    for e, expected in zip(explanations, proba, strict=True):
        assert abs(_total(e) - expected) < 1e-6


def test_external_versions_get_no_shap_values_and_say_so():
    predictor = SimpleNamespace(estimator=None, feature_names=FEATURES)
    [e] = explain.explanation_for(_version(9, flavor="external"), predictor, [{"income": 1}])
    assert e.values == {}
    assert e.base_value is None
    assert "no SHAP" in e.note


def test_model_without_any_background_is_not_explained_and_says_why():
    X, y = _data(rows=100)
    model = KNeighborsClassifier().fit(X, y)
    [e] = explain.explanation_for(_version(10), FittedPredictor(model), _rows(X, 1))
    assert e.is_empty
    assert "background" in e.note


def test_explainer_is_built_once_per_version_and_reused():
    X, y = _data()
    model = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, y)
    first = explain.explainer_for(_version(11), FittedPredictor(model))
    explain.explanation_for(_version(11), FittedPredictor(model), _rows(X))
    assert explain.explainer_for(_version(11), FittedPredictor(model)) is first


_X, _y = _data()
_GB = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(_X, _y)
_LR = make_pipeline(StandardScaler(), LogisticRegression()).fit(_X, _y)
_row = st.fixed_dictionaries(
    {
        "income": st.floats(0, 200_000),
        "debt_ratio": st.floats(0, 2),
        "age": st.floats(18, 100),
        "delinquencies": st.floats(0, 10),
    }
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_row, min_size=1, max_size=5))
def test_base_value_plus_values_equals_model_output_for_any_rows(rows):
    frame = pd.DataFrame(rows)[FEATURES]
    for pk, model, output in (
        (12, _GB, _GB.decision_function(frame)),
        (13, _LR, _LR.decision_function(frame)),
    ):
        explanations = explain.explanation_for(_version(pk), FittedPredictor(model), rows)
        for e, expected in zip(explanations, output, strict=True):
            assert abs(_total(e) - expected) < 1e-6


@pytest.mark.parametrize(
    "scaler",
    [
        StandardScaler(),
        StandardScaler(with_mean=False),
        MinMaxScaler(),
        MinMaxScaler(clip=True),
        MaxAbsScaler(),
        RobustScaler(),
        SimpleImputer(),
    ],
    ids=lambda s: repr(s),
)
def test_every_feature_wise_preprocessing_explains_exactly_in_input_space(scaler):
    X, y = _data()
    model = make_pipeline(scaler, LogisticRegression(max_iter=5000)).fit(X, y)
    version = _version(20, metadata={"reference": {"sample": X.head(30).to_dict("records")}})
    rows = _rows(X)
    explanations = explain.explanation_for(version, FittedPredictor(model), rows)
    assert explain.explainer_for(version, FittedPredictor(model)).kind == "linear"
    for e, expected in zip(explanations, model.decision_function(pd.DataFrame(rows)), strict=True):
        assert abs(_total(e) - expected) < 1e-6


@pytest.mark.parametrize(
    ("model", "units"),
    [
        (RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), "probability"),
        (make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), "log-odds"),
        # shap's TreeExplainer refuses multiclass gradient boosting: permutation takes over.
        (GradientBoostingClassifier(n_estimators=10, random_state=0), "probability"),
    ],
    ids=["forest", "logistic", "gradient-boosting"],
)
def test_multiclass_models_explain_the_predicted_class(model, units):
    X, _ = _data()
    y = np.where(X.debt_ratio > 0.66, "high", np.where(X.debt_ratio < 0.33, "low", "medium"))
    model.fit(X, y)
    version = _version(30, metadata={"reference": {"sample": X.head(30).to_dict("records")}})
    rows = _rows(X)
    labels = list(model.predict(pd.DataFrame(rows)))
    explanations = explain.explanation_for(version, FittedPredictor(model), rows, labels=labels)
    frame = pd.DataFrame(rows)
    outputs = (
        model.predict_proba(frame) if units == "probability" else model.decision_function(frame)
    )
    for e, label, output in zip(explanations, labels, outputs, strict=True):
        assert e.units == units
        assert abs(_total(e) - output[list(model.classes_).index(label)]) < 1e-6
