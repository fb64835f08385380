import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.artifacts import artifact_dump
from registry.demo import demo_models_seed
from registry.models import ModelVersion, RegisteredModel, VersionStatus
from tests.registry.factories import (
    ModelVersionFactory,
    RegisteredModelFactory,
    SklearnVersionFactory,
    fitted_artifact,
    fitted_estimator,
)

pytestmark = pytest.mark.django_db


def test_model_list_empty_state_points_to_import_and_upload(user_client):
    html = user_client.get("/models/").content.decode()
    assert "No models yet." in html
    assert 'href="/models/import/"' in html
    assert 'href="/models/upload/"' in html


def test_model_list_searches_and_filters_by_task_status_and_tag(user_client):
    RegisteredModelFactory(name="Churn Risk", task="binary_classification", tags=["retail"])
    fraud = RegisteredModelFactory(
        name="Fraud Score", task="binary_classification", tags=["payments"]
    )
    RegisteredModelFactory(name="Demand Forecast", task="regression", tags=["retail"])
    ModelVersionFactory(model=fraud, status=VersionStatus.PRODUCTION)

    def names(query: str) -> list[str]:
        return [m.name for m in user_client.get(f"/models/?{query}").context["page"].object_list]

    assert names("q=fraud") == ["Fraud Score"]
    assert names("task=regression") == ["Demand Forecast"]
    assert names("tag=retail") == ["Churn Risk", "Demand Forecast"]
    assert names("status=production") == ["Fraud Score"]
    html = user_client.get("/models/?q=nothing-like-this").content.decode()
    assert "No model matches these filters." in html


def test_model_list_paginates(user_client):
    for i in range(23):
        RegisteredModelFactory(name=f"Model {i:02d}")
    page2 = user_client.get("/models/?page=2")
    assert [m.name for m in page2.context["page"].object_list] == [
        "Model 20",
        "Model 21",
        "Model 22",
    ]
    assert "Page 2 of 2" in page2.content.decode()


def test_model_list_htmx_returns_only_the_results(user_client):
    RegisteredModelFactory(name="Churn Risk")
    html = user_client.get("/models/?q=churn", headers={"HX-Request": "true"}).content.decode()
    assert 'id="results"' in html and "Churn Risk" in html
    assert "<html" not in html


def test_model_page_lists_versions_with_their_metrics(user_client):
    version = SklearnVersionFactory(version="1.0")
    html = user_client.get(version.model.get_absolute_url()).content.decode()
    assert "1.0" in html and "Production" in html
    assert f"{version.metadata['metrics']['auc_roc']:.3f}" in html


@pytest.fixture
def demo(user):
    return demo_models_seed(owner=user)


def test_analytics_tab_shows_kpis_charts_details_and_live_placeholder(user_client, demo):
    v12 = demo["1.2"]
    response = user_client.get("/models/credit-scoring/?tab=analytics")
    html = response.content.decode()
    assert response.context["analytics"].version == v12  # production by default
    assert "AUC-ROC" in html and f"{v12.metadata['metrics']['auc_roc']:.4f}" in html
    for chart in (
        "chart-roc",
        "chart-pr",
        "chart-confusion",
        "chart-calibration",
        "chart-importance",
    ):
        assert f'data-chart="{chart}"' in html
        assert f'<script id="{chart}" type="application/json">' in html
    assert "<details>" in html and "All other metrics" in html
    assert f'hx-get="/inference/versions/{v12.id}/live/" hx-trigger="load"' in html
    assert "modal" not in html.lower()


def test_analytics_version_picker_compares_two_versions_side_by_side(user_client, demo):
    v12, v13 = demo["1.2"], demo["1.3"]
    html = user_client.get(
        "/models/credit-scoring/?tab=analytics&v=1.3&compare=1.2"
    ).content.decode()
    assert "v1.3 and v1.2 side by side" in html
    delta = v13.metadata["metrics"]["auc_roc"] - v12.metadata["metrics"]["auc_roc"]
    assert f"{delta:+.4f}" in html
    assert f"{v12.metadata['metrics']['brier']:.4f}" in html


def test_analytics_tab_as_htmx_returns_the_panel_only(user_client, demo):
    html = user_client.get(
        "/models/credit-scoring/?tab=analytics&v=1.3",
        headers={"HX-Request": "true", "HX-Target": "tab-panel"},
    ).content.decode()
    assert html.lstrip().startswith('<div id="tab-panel">')
    assert 'href="/models/credit-scoring/?tab=analytics" aria-current="page"' in html
    assert "chart-roc" in html


def test_analytics_empty_state_when_a_version_has_no_charts(user_client):
    version = ModelVersionFactory(version="0.1")
    html = user_client.get(f"/models/{version.model.slug}/?tab=analytics").content.decode()
    assert "has no validation charts" in html
    assert "/api/v1/schema/model-metadata" in html


def test_version_page_moves_status_one_step(user_client):
    version = SklearnVersionFactory(status=VersionStatus.DRAFT)
    url = version.get_absolute_url()
    assert "Move to staging" in user_client.get(url).content.decode()
    response = user_client.post(url + "status/", {"to_status": "staging"}, follow=True)
    version.refresh_from_db()
    assert version.status == VersionStatus.STAGING
    assert "is now staging" in response.content.decode()


def test_version_page_refuses_an_illegal_transition_with_a_message(user_client):
    version = SklearnVersionFactory(status=VersionStatus.DRAFT)
    response = user_client.post(
        version.get_absolute_url() + "status/", {"to_status": "retired"}, follow=True
    )
    version.refresh_from_db()
    assert version.status == VersionStatus.DRAFT
    assert "Cannot move" in response.content.decode()


def _upload(client, **overrides):
    artifact, metadata = fitted_artifact("logistic", 400, 0)
    data = {
        "new_model_name": "Uploaded Credit",
        "task": "binary_classification",
        "version": "",
        "artifact": SimpleUploadedFile("model.skops", artifact),
        "metadata_text": json.dumps(metadata),
    }
    data.update(overrides)
    return client.post("/models/upload/", data)


def test_upload_creates_a_draft_version_of_a_new_model(user_client, user):
    response = _upload(user_client)
    version = ModelVersion.objects.get(model__name="Uploaded Credit")
    assert response.status_code == 302 and response["Location"] == version.get_absolute_url()
    assert (version.version, version.status, version.created_by) == (
        "1.0",
        VersionStatus.DRAFT,
        user,
    )


def test_upload_adds_the_next_version_to_an_existing_model(user_client):
    existing = SklearnVersionFactory(version="1.3")
    _upload(user_client, model=existing.model.pk, new_model_name="")
    assert existing.model.versions.filter(version="1.4").exists()


def test_upload_refuses_a_pickle_and_saves_nothing(user_client):
    import pickle

    estimator, *_ = fitted_estimator()
    response = _upload(
        user_client, artifact=SimpleUploadedFile("model.pkl", pickle.dumps(estimator))
    )
    assert response.status_code == 400
    assert "not a skops file" in response.content.decode()
    assert not RegisteredModel.objects.filter(name="Uploaded Credit").exists()


def test_upload_names_the_bad_metadata_field(user_client):
    _, metadata = fitted_artifact("logistic", 400, 0)
    bad = {**metadata, "metrics": {"auc_roc": "great"}}
    response = _upload(user_client, metadata_text=json.dumps(bad))
    assert response.status_code == 400
    assert "metrics.auc_roc" in response.content.decode()
    assert not ModelVersion.objects.exists()


def test_upload_of_a_type_outside_the_allow_list_is_saved_as_draft_and_says_so(user_client):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tests.registry.custom_estimators import ClippedLogisticRegression

    _, X_train, _, _ = fitted_estimator()
    estimator = make_pipeline(StandardScaler(), ClippedLogisticRegression()).fit(
        X_train, (X_train["age"] > 40).astype(int)
    )
    response = _upload(
        user_client, artifact=SimpleUploadedFile("m.skops", artifact_dump(estimator))
    )
    assert response.status_code == 302
    html = user_client.get(response["Location"]).content.decode()
    assert "tests.registry.custom_estimators.ClippedLogisticRegression" in html
    assert "Ask an Admin" in html
