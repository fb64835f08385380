"""The predictor's compiled path (registry/compiled.py): sklearn's arithmetic without its
per-call checks, used only where it answers exactly as sklearn does."""

import numpy as np
import pytest
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from registry.compiled import compiled, probe_rows, verified
from registry.demo import CREDIT_FEATURES, LABEL, credit_dataset
from registry.predictors import predictor_cache_clear, predictor_for
from tests.registry.factories import SklearnVersionFactory, fitted_estimator

# Unscaled credit rows: lbfgs may stop at its iteration limit, which is not under test.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(rows: int = 600, seed: int = 3):
    frame = credit_dataset(rows=rows, seed=seed)
    return frame[CREDIT_FEATURES].to_numpy(dtype=float), frame[LABEL].to_numpy()


CLASSIFIERS = {
    "scaled logistic": lambda: Pipeline(
        [("scale", StandardScaler()), ("model", LogisticRegression(max_iter=1000))]
    ),
    "logistic, passthrough step": lambda: Pipeline(
        [("nothing", "passthrough"), ("model", LogisticRegression(max_iter=1000))]
    ),
    "scaler without centring": lambda: Pipeline(
        [("scale", StandardScaler(with_mean=False)), ("model", LogisticRegression(max_iter=1000))]
    ),
    "gradient boosting": lambda: GradientBoostingClassifier(n_estimators=30, random_state=0),
}


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_a_compiled_classifier_answers_exactly_as_predict_proba(name):
    X, y = _data()
    estimator = CLASSIFIERS[name]().fit(X, y)
    function = compiled(estimator)

    assert function is not None
    # Every row, alone and all together: the same bits as sklearn's own call.
    assert np.array_equal(function(X), estimator.predict_proba(X))
    for i in range(0, 600, 97):
        assert np.array_equal(function(X[i : i + 1]), estimator.predict_proba(X[i : i + 1]))


def test_compiled_multiclass_boosting_and_regression_answer_exactly_as_sklearn():
    X, y = _data()
    classes = np.digitize(X[:, 1], np.quantile(X[:, 1], [0.33, 0.66]))  # three classes
    multiclass = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, classes)
    regressor = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(X, X[:, 0] * 2)

    assert np.array_equal(compiled(multiclass)(X), multiclass.predict_proba(X))
    assert np.array_equal(compiled(regressor)(X), regressor.predict(X))


def test_estimators_it_does_not_know_are_left_to_sklearn():
    X, y = _data(200)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    other_scaler = Pipeline([("scale", MinMaxScaler()), ("model", LogisticRegression())]).fit(X, y)
    multiclass_logistic = LogisticRegression(max_iter=500).fit(X, y + (X[:, 0] > 60000))

    assert compiled(forest) is None
    assert compiled(other_scaler) is None
    assert compiled(multiclass_logistic) is None


def test_a_compiled_function_that_differs_from_sklearn_is_not_used():
    X, y = _data(200)
    estimator = CLASSIFIERS["scaled logistic"]().fit(X, y)
    function = compiled(estimator)

    def off_by_a_bit(rows):
        return np.nextafter(function(rows), 2.0)

    assert verified(function, estimator.predict_proba, X.shape[1]) is function
    assert verified(off_by_a_bit, estimator.predict_proba, X.shape[1]) is None
    assert probe_rows(X.shape[1]).shape == (32, X.shape[1])


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["logistic", "tree"])
def test_the_demo_models_predictor_serves_the_compiled_path_with_sklearns_scores(kind):
    predictor_cache_clear()
    version = SklearnVersionFactory(estimator=kind)
    estimator, _, X_test, _ = fitted_estimator(kind)
    predictor = predictor_for(version)
    rows = X_test.head(40).to_dict(orient="records")

    predictions = predictor.predict(rows)

    assert predictor.compiled is not None
    expected = estimator.predict_proba(X_test.head(40))[:, 1]
    assert [p.score for p in predictions] == pytest.approx(list(expected), rel=1e-12, abs=1e-15)
    assert [p.label for p in predictions] == list(estimator.predict(X_test.head(40)))
    predictor_cache_clear()
