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


def test_external_predictor_renders_the_prompt_and_parses_the_answer(fake_provider_server, make_provider):
    provider = make_provider()
    version = ModelVersionFactory(
        flavor=Flavor.EXTERNAL, status=VersionStatus.DRAFT, provider=provider, provider_model="gpt-4o-mini",
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


@pytest.mark.parametrize(("answer", "parser", "expected"), [
    ('{"label": "yes", "score": 0.9}', {}, ("yes", 0.9)),
    ("Probability: 0.31", {"type": "number"}, (0, 0.31)),
    ("Yes, they will.", {"type": "label", "labels": {"yes": 1, "no": 0}}, (1, None)),
    ("risk=0.8", {"type": "regex", "pattern": r"risk=(?P<score>[0-9.]+)"}, (1, 0.8)),
    ("positive", {}, ("positive", None)),
])
def test_response_parse(answer, parser, expected):
    assert response_parse(answer, parser) == expected
