import pytest

from registry.models import Flavor, ModelVersion, VersionStatus
from registry.services import (
    RegistryValidationError,
    model_version_next_label,
    model_version_register,
    model_version_transition,
    registered_model_create,
)
from tests.registry.factories import (
    ModelVersionFactory,
    RegisteredModelFactory,
    SklearnVersionFactory,
    minimal_metadata,
)

pytestmark = pytest.mark.django_db


def test_registered_model_create_makes_a_slug_and_clean_tags(user):
    model = registered_model_create(
        name="Churn Risk",
        task="binary_classification",
        owner=user,
        tags=["Retail", "retail", " churn "],
    )
    assert model.slug == "churn-risk"
    assert model.tags == ["retail", "churn"]


def test_registered_model_create_refuses_a_duplicate_name():
    RegisteredModelFactory(name="Churn Risk")
    with pytest.raises(RegistryValidationError) as exc:
        registered_model_create(name="churn risk", task="binary_classification")
    assert "name" in exc.value.errors


def test_register_refuses_invalid_metadata_naming_the_field_and_saves_nothing():
    model = RegisteredModelFactory()
    doc = minimal_metadata()
    doc["metrics"]["auc_roc"] = "high"
    with pytest.raises(RegistryValidationError) as exc:
        model_version_register(model=model, version="1.0", flavor=Flavor.SKLEARN, metadata=doc)
    assert "metadata.metrics.auc_roc" in exc.value.errors
    assert not ModelVersion.objects.exists()


def test_register_refuses_a_duplicate_version_label():
    version = ModelVersionFactory(version="1.0")
    with pytest.raises(RegistryValidationError) as exc:
        model_version_register(
            model=version.model, version="1.0", flavor=Flavor.SKLEARN, metadata=minimal_metadata()
        )
    assert exc.value.errors["version"] == [f"{version.model.name} already has a version 1.0."]


def test_register_refuses_a_serving_status_without_an_artifact():
    model = RegisteredModelFactory()
    with pytest.raises(RegistryValidationError) as exc:
        model_version_register(
            model=model,
            version="1.0",
            flavor=Flavor.SKLEARN,
            metadata=minimal_metadata(),
            status=VersionStatus.PRODUCTION,
        )
    assert "status" in exc.value.errors


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([], "1.0"),
        (["1.2", "1.3"], "1.4"),
        (["1.9", "1.10"], "1.11"),
        (["2"], "3"),
        (["beta"], "1.0"),
    ],
)
def test_next_label_increments_the_highest_numeric_version(labels, expected):
    model = RegisteredModelFactory()
    for label in labels:
        ModelVersionFactory(model=model, version=label)
    assert model_version_next_label(model=model) == expected


def test_allowed_transitions_walk_draft_to_retired(user):
    version = SklearnVersionFactory(status=VersionStatus.DRAFT)
    for status in (VersionStatus.STAGING, VersionStatus.PRODUCTION, VersionStatus.RETIRED):
        model_version_transition(version=version, to_status=status, actor=user)
        version.refresh_from_db()
        assert version.status == status


def test_a_version_without_an_artifact_cannot_reach_staging(user):
    version = ModelVersionFactory(status=VersionStatus.DRAFT)
    with pytest.raises(RegistryValidationError) as exc:
        model_version_transition(version=version, to_status=VersionStatus.STAGING, actor=user)
    assert "needs a skops artifact" in exc.value.errors["status"][0]


def test_illegal_transition_is_refused_with_a_message(user):
    version = ModelVersionFactory(version="1.0", status=VersionStatus.DRAFT)
    with pytest.raises(RegistryValidationError) as exc:
        model_version_transition(version=version, to_status=VersionStatus.PRODUCTION, actor=user)
    assert exc.value.errors["status"] == [
        f"Cannot move {version} from draft to production: the only next status is staging."
    ]
    version.refresh_from_db()
    assert version.status == VersionStatus.DRAFT


def test_a_retired_version_stays_retired(user):
    version = ModelVersionFactory(status=VersionStatus.RETIRED)
    with pytest.raises(RegistryValidationError) as exc:
        model_version_transition(version=version, to_status=VersionStatus.PRODUCTION, actor=user)
    assert "stays retired" in exc.value.errors["status"][0]


@pytest.mark.parametrize(
    ("labels", "taken", "expected"),
    [
        ([], [], "1.0"),
        (["1.3", "1.10", "beta"], [], "1.11"),
        (["2"], [], "3"),
        (["1.0"], ["1.1"], "1.2"),
        ([], ["1.0", "1.1"], "1.2"),
    ],
)
def test_the_next_version_label_is_one_function_for_uploads_and_imports(labels, taken, expected):
    from registry.services import version_label_next

    assert version_label_next(labels, taken=taken) == expected
