import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from registry.artifacts import artifact_dump, artifact_load
from registry.models import Flavor, VersionStatus
from registry.services import model_version_register
from tests.registry.custom_estimators import ClippedLogisticRegression
from tests.registry.factories import (
    RegisteredModelFactory,
    SklearnVersionFactory,
    fitted_artifact,
    fitted_estimator,
)

pytestmark = pytest.mark.django_db
CUSTOM_TYPE = "tests.registry.custom_estimators.ClippedLogisticRegression"


def _custom_version():
    _, X_train, _, _ = fitted_estimator()
    _, metadata = fitted_artifact("logistic", 400, 0)
    estimator = make_pipeline(StandardScaler(), ClippedLogisticRegression()).fit(
        X_train, (X_train["age"] > 40).astype(int)
    )
    return model_version_register(
        model=RegisteredModelFactory(),
        version="1.0",
        flavor=Flavor.SKLEARN,
        metadata=metadata,
        artifact=artifact_dump(estimator),
    )


def test_admin_lists_and_searches_versions(staff_client):
    version = SklearnVersionFactory()
    response = staff_client.get("/admin/registry/modelversion/?q=" + version.model.name)
    assert response.status_code == 200
    assert str(version) in response.content.decode()


def test_admin_status_action_refuses_an_illegal_move_with_a_message(staff_client):
    version = SklearnVersionFactory(status=VersionStatus.DRAFT)
    response = staff_client.post(
        "/admin/registry/modelversion/",
        {"action": "move_to_production", "_selected_action": [version.pk]},
        follow=True,
    )
    version.refresh_from_db()
    assert version.status == VersionStatus.DRAFT
    assert "Cannot move" in response.content.decode()


def test_staff_trusts_a_type_on_the_review_page_and_the_version_loads(staff_client, staff_user):
    version = _custom_version()
    page = staff_client.get(f"/admin/registry/modelversion/{version.pk}/trust/").content.decode()
    assert CUSTOM_TYPE in page
    response = staff_client.post(
        f"/admin/registry/modelversion/{version.pk}/trust/",
        {"types": [CUSTOM_TYPE], "confirm": "on"},
    )
    assert response.status_code == 302
    version.refresh_from_db()
    assert (version.trusted_types, version.trusted_by) == ([CUSTOM_TYPE], staff_user)
    assert artifact_load(version) is not None


def test_trust_page_needs_the_confirmation(staff_client):
    version = _custom_version()
    staff_client.post(f"/admin/registry/modelversion/{version.pk}/trust/", {"types": [CUSTOM_TYPE]})
    version.refresh_from_db()
    assert version.trusted_types == []


def test_admin_adds_a_model_through_the_service(staff_client, staff_user):
    from registry.models import RegisteredModel

    response = staff_client.post(
        "/admin/registry/registeredmodel/add/",
        {
            "name": "Churn Risk",
            "task": "binary_classification",
            "description": "",
            "tags": '["retail"]',
            "versions-TOTAL_FORMS": 0,
            "versions-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    model = RegisteredModel.objects.get(name="Churn Risk")
    assert (model.slug, model.owner) == ("churn-risk", staff_user)
