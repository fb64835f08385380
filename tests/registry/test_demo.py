import numpy as np
import pytest
from sklearn import metrics as skm

from registry.artifacts import artifact_load
from registry.demo import CREDIT_FEATURES, LABEL, credit_dataset, credit_split, demo_models_seed
from registry.models import ModelVersion, VersionStatus
from registry.schema import validate_metadata

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_versions(user):
    return demo_models_seed(owner=user)


def test_credit_dataset_is_seeded_and_has_the_documented_columns():
    a, b = credit_dataset(rows=500, seed=7), credit_dataset(rows=500, seed=7)
    assert list(a.columns) == [*CREDIT_FEATURES, LABEL]
    assert a.equals(b)
    assert 0.1 < a[LABEL].mean() < 0.35


def test_demo_seed_registers_two_versions_with_their_statuses(demo_versions):
    assert demo_versions["1.2"].status == VersionStatus.PRODUCTION
    assert demo_versions["1.3"].status == VersionStatus.STAGING
    assert demo_versions["1.3"].parent == demo_versions["1.2"]
    for version in demo_versions.values():
        assert validate_metadata(version.metadata) == []
        assert set(version.metadata["charts"]) == {
            "roc_curve",
            "pr_curve",
            "confusion_matrix",
            "calibration",
            "feature_importance",
        }
        assert set(version.metadata["reference"]["features"]) == set(CREDIT_FEATURES)


def test_demo_seed_is_idempotent(demo_versions, user):
    again = demo_models_seed(owner=user)
    assert {k: v.pk for k, v in again.items()} == {k: v.pk for k, v in demo_versions.items()}
    assert ModelVersion.objects.count() == 2


def test_demo_metrics_equal_scikit_learn_on_the_hold_out(demo_versions):
    _, X_test, _, y_test = credit_split()
    for version in demo_versions.values():
        estimator = artifact_load(version)
        scores = estimator.predict_proba(X_test)[:, 1]
        predicted = (scores >= 0.5).astype(int)
        metrics = version.metadata["metrics"]
        assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y_test, predicted), abs=1e-6)
        assert metrics["auc_roc"] == pytest.approx(skm.roc_auc_score(y_test, scores), abs=1e-6)
        assert metrics["precision"] == pytest.approx(
            skm.precision_score(y_test, predicted), abs=1e-6
        )
        assert metrics["recall"] == pytest.approx(skm.recall_score(y_test, predicted), abs=1e-6)
        assert metrics["f1"] == pytest.approx(skm.f1_score(y_test, predicted), abs=1e-6)
        assert metrics["log_loss"] == pytest.approx(skm.log_loss(y_test, scores), abs=1e-6)
        assert metrics["brier"] == pytest.approx(skm.brier_score_loss(y_test, scores), abs=1e-6)
        matrix = version.metadata["charts"]["confusion_matrix"]["matrix"]
        assert matrix == skm.confusion_matrix(y_test, predicted).tolist()


def test_demo_reference_summarises_the_training_split(demo_versions):
    X_train, _, _, _ = credit_split()
    income = demo_versions["1.2"].metadata["reference"]["features"]["income"]
    assert income["mean"] == pytest.approx(X_train["income"].mean(), rel=1e-6)
    assert income["quantiles"]["p50"] == pytest.approx(np.median(X_train["income"]), rel=1e-6)
    assert sum(income["histogram"]["counts"]) == len(X_train)
