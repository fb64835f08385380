import copy

import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.errors import Forbidden
from registry.artifacts import ArtifactError, artifact_dump, artifact_load
from registry.demo import CREDIT_FEATURES
from registry.models import Flavor, VersionStatus
from registry.predictors import PredictorUnavailable, predictor_cache_clear, predictor_for
from registry.services import (
    RegistryValidationError,
    model_version_register,
    model_version_trust_types,
)
from tests.registry.custom_estimators import ClippedLogisticRegression
from tests.registry.factories import (
    RegisteredModelFactory,
    SklearnVersionFactory,
    fitted_artifact,
    fitted_estimator,
)

pytestmark = pytest.mark.django_db
CUSTOM_TYPE = "tests.registry.custom_estimators.ClippedLogisticRegression"


@pytest.fixture(autouse=True)
def _fresh_predictors():
    predictor_cache_clear()
    yield
    predictor_cache_clear()


def _custom_artifact() -> tuple[bytes, dict]:
    """A pipeline ending in a user-defined class, with the usual credit metadata."""
    _, X_train, _, _ = fitted_estimator()
    _, metadata = fitted_artifact("logistic", 400, 0)
    estimator = make_pipeline(StandardScaler(), ClippedLogisticRegression())
    estimator.fit(X_train, (X_train["debt_ratio"] > 0.3).astype(int))
    return artifact_dump(estimator), copy.deepcopy(metadata)


def _custom_version():
    artifact, metadata = _custom_artifact()
    return model_version_register(
        model=RegisteredModelFactory(),
        version="1.0",
        flavor=Flavor.SKLEARN,
        metadata=metadata,
        artifact=artifact,
    )


def test_artifact_is_stored_as_skops_with_its_checksum():
    version = SklearnVersionFactory()
    assert version.artifact.name.endswith(".skops")
    assert len(version.artifact_sha256) == 64
    with version.artifact.open("rb") as fh:
        assert fh.read(2) == b"PK"  # a skops file is a zip archive, not a pickle


def test_sklearn_tree_types_flagged_by_skops_are_allowed():
    version = SklearnVersionFactory(estimator="tree")
    estimator = artifact_load(version)
    assert type(estimator).__name__ == "GradientBoostingClassifier"


def test_a_type_outside_the_allow_list_is_refused_naming_the_type():
    version = _custom_version()
    with pytest.raises(ArtifactError) as exc:
        artifact_load(version)
    assert CUSTOM_TYPE in str(exc.value)
    with pytest.raises(PredictorUnavailable, match=CUSTOM_TYPE):
        predictor_for(version)


def test_after_a_staff_user_trusts_the_type_it_loads(staff_user):
    version = _custom_version()
    model_version_trust_types(version=version, types=[CUSTOM_TYPE], actor=staff_user)
    version.refresh_from_db()
    assert version.trusted_types == [CUSTOM_TYPE]
    assert version.trusted_by == staff_user
    assert version.trusted_at is not None
    assert isinstance(artifact_load(version).steps[-1][1], ClippedLogisticRegression)


def test_an_operator_cannot_trust_types(user):
    version = _custom_version()
    with pytest.raises(Forbidden):
        model_version_trust_types(version=version, types=[CUSTOM_TYPE], actor=user)
    version.refresh_from_db()
    assert version.trusted_types == []


def test_untrusted_artifact_cannot_be_registered_for_production():
    artifact, metadata = _custom_artifact()
    with pytest.raises(RegistryValidationError) as exc:
        model_version_register(
            model=RegisteredModelFactory(),
            version="1.0",
            flavor=Flavor.SKLEARN,
            metadata=metadata,
            artifact=artifact,
            status=VersionStatus.PRODUCTION,
        )
    assert CUSTOM_TYPE in " ".join(exc.value.errors["artifact"])


def test_features_declared_differently_from_the_estimator_are_refused():
    estimator, X_train, _, _ = fitted_estimator()
    metadata = {"features": [{"name": f} for f in reversed(CREDIT_FEATURES)], "metrics": {}}
    with pytest.raises(RegistryValidationError) as exc:
        model_version_register(
            model=RegisteredModelFactory(),
            version="1.0",
            flavor=Flavor.SKLEARN,
            metadata=metadata,
            artifact=artifact_dump(estimator),
        )
    assert "same names, same order" in exc.value.errors["artifact"][0]


def test_a_file_that_is_not_skops_is_refused():
    with pytest.raises(RegistryValidationError) as exc:
        model_version_register(
            model=RegisteredModelFactory(),
            version="1.0",
            flavor=Flavor.SKLEARN,
            metadata={"features": [{"name": "a"}], "metrics": {}},
            artifact=b"\x80\x04not a zip",
        )
    assert "not a skops artifact" in exc.value.errors["artifact"][0]
