import pytest

from registry.models import RegisteredModel
from tests.registry.factories import RegisteredModelFactory, SklearnVersionFactory

pytestmark = pytest.mark.django_db


def test_models_api_needs_a_login(client):
    response = client.get("/api/v1/models/")
    assert response.status_code == 401
    assert "message" in response.json()


def test_models_api_lists_and_filters(user_client):
    RegisteredModelFactory(name="Churn Risk", tags=["retail"])
    RegisteredModelFactory(name="Demand", task="regression")
    body = user_client.get("/api/v1/models/?task=regression").json()
    assert body["count"] == 1
    assert body["results"][0]["name"] == "Demand"
    assert (
        user_client.get("/api/v1/models/?tag=retail").json()["results"][0]["slug"] == "churn-risk"
    )


def test_models_api_refuses_an_unknown_filter_value(user_client):
    body = user_client.get("/api/v1/models/?status=shipped").json()
    assert "status" in body["errors"]


def test_models_api_creates_a_model(user_client, user):
    response = user_client.post(
        "/api/v1/models/",
        {"name": "Churn Risk", "task": "binary_classification", "tags": ["Retail"]},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["slug"] == "churn-risk"
    assert RegisteredModel.objects.get(slug="churn-risk").owner == user


def test_models_api_refuses_a_duplicate_name_naming_the_field(user_client):
    RegisteredModelFactory(name="Churn Risk")
    response = user_client.post(
        "/api/v1/models/", {"name": "Churn Risk"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "name" in response.json()["errors"]


def test_model_and_version_detail(user_client):
    version = SklearnVersionFactory(version="1.3")
    model_body = user_client.get(f"/api/v1/models/{version.model.slug}/").json()
    assert [v["version"] for v in model_body["versions"]] == ["1.3"]
    body = user_client.get(f"/api/v1/models/{version.model.slug}/versions/1.3/").json()
    assert body["status"] == "production"
    assert body["metadata"]["metrics"] == version.metadata["metrics"]
    assert body["has_artifact"] is True
    assert user_client.get(f"/api/v1/models/{version.model.slug}/versions/9.9/").status_code == 404


def test_models_api_pages_answer_with_the_filters_in_the_schema(staff_client):
    schema = staff_client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/models/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"q", "task", "status", "tag", "page"} <= names
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert "Paginated" in ok


def test_the_schema_refuses_what_the_server_refuses(staff_client):
    schema = staff_client.get("/api/schema/", {"format": "json"}).json()
    create = schema["components"]["schemas"]["RegisteredModelCreateInput"]["properties"]
    assert create["name"]["minLength"] == 1
    imports = schema["paths"]["/api/v1/models/import"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(imports)


def test_models_api_search_finds_a_version_label(user_client):
    version = SklearnVersionFactory(version="7.7")
    RegisteredModelFactory(name="Other")
    body = user_client.get("/api/v1/models/?q=7.7").json()
    assert [m["slug"] for m in body["results"]] == [version.model.slug]


def test_models_api_lists_with_read_isolation_only_the_users_teams(
    user_client, settings, other_team
):
    settings.HUB_TEAM_READ_ISOLATION = True
    RegisteredModelFactory(name="Ours")
    RegisteredModelFactory(name="Theirs", team=other_team)
    body = user_client.get("/api/v1/models/").json()
    assert [m["name"] for m in body["results"]] == ["Ours"]
    assert user_client.get("/api/v1/models/theirs/").status_code == 404
