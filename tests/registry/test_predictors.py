import pytest

from registry.demo import CREDIT_FEATURES
from registry.models import Flavor, VersionStatus
from registry.predictors import (
    Prediction,
    PredictionInputError,
    PredictorUnavailable,
    predictor_cache_clear,
    predictor_for,
)
from registry.prompting import prompt_render, response_parse
from tests.registry.factories import ModelVersionFactory, SklearnVersionFactory, fitted_estimator

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_predictors():
    predictor_cache_clear()
    yield
    predictor_cache_clear()


def test_sklearn_predictor_scores_the_probability_of_class_1():
    version = SklearnVersionFactory()
    estimator, _, X_test, _ = fitted_estimator()
    rows = X_test.head(5).to_dict(orient="records")
    predictions = predictor_for(version).predict(rows)
    expected = estimator.predict_proba(X_test.head(5))[:, 1]
    assert [p.score for p in predictions] == pytest.approx(list(expected))
    assert all(p.label in (0, 1) and isinstance(p.label, int) for p in predictions)


def test_rows_are_read_in_the_declared_feature_order_whatever_the_key_order():
    version = SklearnVersionFactory()
    _, _, X_test, _ = fitted_estimator()
    row = X_test.iloc[0].to_dict()
    shuffled = dict(reversed(list(row.items())))
    predictor = predictor_for(version)
    assert predictor.predict([shuffled]) == predictor.predict([row])
    assert predictor.feature_names == CREDIT_FEATURES


def test_predictor_is_cached_per_version():
    version = SklearnVersionFactory()
    assert predictor_for(version) is predictor_for(version)
    assert predictor_for(version).estimator is not None


def test_a_missing_feature_is_named():
    version = SklearnVersionFactory()
    with pytest.raises(PredictionInputError, match="'income' is missing"):
        predictor_for(version).predict([{"age": 30}])


def test_a_version_without_artifact_is_unavailable_with_a_human_message():
    version = ModelVersionFactory()
    with pytest.raises(PredictorUnavailable, match="has no artifact"):
        predictor_for(version)


def test_external_predictor_renders_the_prompt_and_parses_the_answer(
    fake_provider_server, make_provider
):
    provider = make_provider()
    version = ModelVersionFactory(
        flavor=Flavor.EXTERNAL,
        status=VersionStatus.DRAFT,
        provider=provider,
        provider_model="gpt-4o-mini",
        prompt_template="Applicant earns {income}. Answer with JSON.",
        response_parser={"type": "json", "label": "label", "score": "score"},
        metadata={"features": [{"name": "income"}], "metrics": {}},
    )
    fake_provider_server.structured_answers.append({"label": 1, "score": 0.73})
    predictions = predictor_for(version).predict([{"income": 52000}])
    assert predictions == [Prediction(label=1, score=0.73)]
    sent = [r for r in fake_provider_server.requests if r["method"] == "POST"][-1]
    assert "Applicant earns 52000." in str(sent["json"])
    assert predictor_for(version).estimator is None


def test_prompt_render_substitutes_inputs_only():
    assert prompt_render("a={a} {{literal}} all={inputs}", {"a": 1}) == 'a=1 {literal} all={"a": 1}'


@pytest.mark.parametrize(
    ("answer", "parser", "expected"),
    [
        ('{"label": "yes", "score": 0.9}', {}, ("yes", 0.9)),
        ("Probability: 0.31", {"type": "number"}, (0, 0.31)),
        ("Yes, they will.", {"type": "label", "labels": {"yes": 1, "no": 0}}, (1, None)),
        ("risk=0.8", {"type": "regex", "pattern": r"risk=(?P<score>[0-9.]+)"}, (1, 0.8)),
        ("positive", {}, ("positive", None)),
    ],
)
def test_response_parse(answer, parser, expected):
    assert response_parse(answer, parser) == expected


def test_external_predictor_turns_a_provider_error_into_a_human_message(
    fake_provider_server, make_provider, settings
):
    settings.PROVIDER_MAX_RETRIES = 0
    version = ModelVersionFactory(
        flavor=Flavor.EXTERNAL,
        provider=make_provider(),
        provider_model="gpt-4o-mini",
        prompt_template="Score {income}",
        metadata={"features": [{"name": "income"}], "metrics": {}},
    )
    fake_provider_server.fail_next("/chat/completions", status=500)
    with pytest.raises(PredictorUnavailable) as exc:
        predictor_for(version).predict([{"income": 1}])
    assert "failed" in str(exc.value)
    assert "sk-" not in str(exc.value)


def test_regression_predictor_returns_the_value_as_label_and_score():
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from registry.artifacts import artifact_dump
    from registry.services import model_version_register
    from tests.registry.factories import RegisteredModelFactory

    X = pd.DataFrame({"x1": np.arange(10.0), "x2": np.arange(10.0) ** 2})
    estimator = LinearRegression().fit(X, 3 * X["x1"] + 1)
    version = model_version_register(
        model=RegisteredModelFactory(task="regression"),
        version="1.0",
        flavor=Flavor.SKLEARN,
        metadata={"features": [{"name": "x1"}, {"name": "x2"}], "metrics": {"rmse": 0.0}},
        artifact=artifact_dump(estimator),
    )
    (prediction,) = predictor_for(version).predict([{"x1": 2, "x2": 4}])
    assert prediction.label == pytest.approx(7.0)
    assert prediction.score == pytest.approx(7.0)


@pytest.mark.parametrize("kind", ["logistic", "tree"])
def test_numeric_models_serve_float_arrays_with_the_dataframe_answers_and_no_warning(kind):
    import warnings

    version = SklearnVersionFactory(estimator=kind)
    estimator, _, X_test, _ = fitted_estimator(kind)
    predictor = predictor_for(version)
    rows = X_test.head(50).to_dict(orient="records")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "X does not have valid feature names"
        predictions = predictor.predict(rows)
    assert predictor.serves_arrays
    # What the fitted estimator answers on a DataFrame, to the last bits (a DataFrame's
    # column-major memory may sum a dot product in another order).
    expected = estimator.predict_proba(X_test.head(50))[:, 1]
    assert [p.score for p in predictions] == pytest.approx(list(expected), rel=1e-12, abs=1e-15)
    assert [p.label for p in predictions] == list(estimator.predict(X_test.head(50)))


def test_a_pipeline_that_selects_columns_by_name_is_served_a_dataframe():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from registry.artifacts import artifact_dump
    from registry.services import model_version_register
    from tests.registry.factories import RegisteredModelFactory

    _, X_train, X_test, _ = fitted_estimator()
    y_train = (X_train["debt_ratio"] > X_train["debt_ratio"].median()).astype(int)
    estimator = Pipeline(
        [
            ("columns", ColumnTransformer([("scale", StandardScaler(), ["debt_ratio", "income"])])),
            ("model", LogisticRegression()),
        ]
    ).fit(X_train, y_train)
    version = model_version_register(
        model=RegisteredModelFactory(),
        version="1.0",
        flavor=Flavor.SKLEARN,
        metadata={
            "features": [{"name": n, "type": "numeric"} for n in CREDIT_FEATURES],
            "metrics": {"auc": 0.5},
        },
        artifact=artifact_dump(estimator),
    )
    predictor = predictor_for(version)
    predictions = predictor.predict(X_test.head(20).to_dict(orient="records"))
    assert (
        not predictor.serves_arrays
    )  # without names the ColumnTransformer cannot pick its columns
    assert [p.score for p in predictions] == list(estimator.predict_proba(X_test.head(20))[:, 1])
