import pytest
from sklearn import metrics as skm
from sklearn.neighbors import KNeighborsClassifier

from registry.demo import CREDIT_FEATURES
from registry.evaluation import evaluate_classifier, feature_specs
from registry.schema import validate_metadata
from tests.registry.factories import fitted_estimator


def test_evaluate_classifier_gives_schema_valid_metadata_equal_to_scikit_learn():
    estimator, X_train, X_test, y_test = fitted_estimator()
    fragment = evaluate_classifier(
        estimator, X_train=X_train, X_test=X_test, y_test=y_test, feature_names=CREDIT_FEATURES
    )
    assert validate_metadata({"features": feature_specs(X_train), **fragment}) == []
    scores = estimator.predict_proba(X_test)[:, 1]
    assert fragment["metrics"]["auc_roc"] == pytest.approx(
        skm.roc_auc_score(y_test, scores), abs=1e-6
    )
    roc = fragment["charts"]["roc_curve"]
    assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1
    assert len(roc["fpr"]) == len(roc["tpr"]) == len(roc["thresholds"]) <= 200
    assert fragment["charts"]["feature_importance"]["method"] == "coefficient"


def test_a_model_without_its_own_importance_gets_permutation_importance():
    _, X_train, X_test, y_test = fitted_estimator()
    y_train = (X_train["debt_ratio"] > 0.3).astype(int)
    knn = KNeighborsClassifier(n_neighbors=15).fit(X_train, y_train)
    fragment = evaluate_classifier(
        knn, X_train=X_train, X_test=X_test, y_test=y_test, feature_names=CREDIT_FEATURES
    )
    importance = fragment["charts"]["feature_importance"]
    assert importance["method"] == "permutation"
    assert sorted(importance["features"]) == sorted(CREDIT_FEATURES)


def test_feature_specs_infer_types_and_ranges():
    _, X_train, _, _ = fitted_estimator()
    specs = {s["name"]: s for s in feature_specs(X_train)}
    assert specs["age"]["type"] == "integer"
    assert specs["income"]["type"] == "numeric"
    assert specs["income"]["minimum"] == X_train["income"].min()
