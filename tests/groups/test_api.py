"""The group API: create (with its table), read, change, delete, promote, traffic, rollback."""

import pytest
from rest_framework.test import APIClient

from groups.models import ModelGroup, RoleChangeAction
from inference.models import ArchivedInferenceTable
from tests.groups.catalogue import assert_inference_table, table_names
from tests.groups.factories import ModelVersionFactory, group_with_members

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_creating_a_group_through_the_api_creates_its_table(api, user):
    champion, challenger = ModelVersionFactory(), ModelVersionFactory()
    response = api.post(
        "/api/v1/groups/",
        {
            "name": "Live Credit Scoring",
            "description": "Scores loan applications",
            "routing": "sticky",
            "deletion_policy": "archive",
            "members": [
                {"model_version": champion.pk, "role": "champion", "weight": 90},
                {"model_version": challenger.pk, "role": "challenger", "weight": 10},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "live-credit-scoring"
    assert body["table_name"] == "inference_log_live_credit_scoring"
    assert body["routing"] == "sticky"
    assert body["endpoint"] == "http://testserver/api/v1/groups/live-credit-scoring/predict"
    assert [(m["model_version"], m["role"], m["weight"]) for m in body["members"]] == [
        (champion.pk, "champion", 90),
        (challenger.pk, "challenger", 10),
    ]
    assert ModelGroup.objects.get().created_by == user
    assert_inference_table("inference_log_live_credit_scoring")


def test_create_errors_name_the_field_and_create_nothing(api):
    champion = ModelVersionFactory()
    narrow = ModelVersionFactory(features=["income"])
    response = api.post(
        "/api/v1/groups/",
        {
            "name": "Broken",
            "members": [
                {"model_version": champion.pk, "role": "champion", "weight": 90},
                {"model_version": narrow.pk, "role": "challenger", "weight": 5},
            ],
        },
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "sum to 100, not 95" in errors["weight"][0]
    assert "missing debt_ratio, age, open_accounts" in errors["model_version"][0]
    assert response.json()["message"]
    assert not ModelGroup.objects.exists()


def test_malformed_members_are_named_by_their_path(api):
    response = api.post(
        "/api/v1/groups/",
        {"name": "Shape", "members": [{"model_version": 999999, "role": "boss", "weight": 101}]},
        format="json",
    )
    errors = response.json()["errors"]
    assert response.status_code == 400
    assert set(errors) == {"members[0].model_version", "members[0].role", "members[0].weight"}


def test_sql_looking_names_are_harmless_through_the_api(api):
    version = ModelVersionFactory()
    response = api.post(
        "/api/v1/groups/",
        {
            "name": 'x"; DROP TABLE users; --',
            "members": [{"model_version": version.pk, "role": "champion", "weight": 100}],
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["table_name"] == "inference_log_x_drop_table_users"
    assert {"auth_user", "inference_log_x_drop_table_users"} <= table_names()


def test_list_and_read_groups(api):
    group_with_members()
    listing = api.get("/api/v1/groups/").json()
    assert listing["count"] == 1
    assert listing["results"][0]["slug"] == "live-credit-scoring"
    detail = api.get("/api/v1/groups/live-credit-scoring/")
    assert detail.status_code == 200
    assert detail.json()["features"] == ["income", "debt_ratio", "age", "open_accounts"]
    assert api.get("/api/v1/groups/nope/").status_code == 404


def test_patch_renames_but_keeps_slug_and_table(api):
    group_with_members()
    response = api.patch(
        "/api/v1/groups/live-credit-scoring/",
        {"name": "Credit (EU)", "routing": "sticky"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["slug"], body["routing"]) == (
        "Credit (EU)",
        "live-credit-scoring",
        "sticky",
    )
    assert body["table_name"] == "inference_log_live_credit_scoring"


def test_patch_members_checks_the_invariants(api):
    _, (champion, challenger) = group_with_members(weights=(90, 10))
    response = api.patch(
        "/api/v1/groups/live-credit-scoring/",
        {"members": [{"model_version": champion.pk, "role": "challenger", "weight": 100}]},
        format="json",
    )
    assert response.status_code == 400
    assert "exactly one champion" in response.json()["errors"]["role"][0]


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    client = APIClient()
    client.force_login(admin_user)
    return client


def test_delete_drops_the_table_by_policy(admin_api):
    group_with_members(deletion_policy="drop")
    response = admin_api.delete("/api/v1/groups/live-credit-scoring/")
    assert response.status_code == 204
    assert "inference_log_live_credit_scoring" not in table_names()
    assert not ArchivedInferenceTable.objects.exists()


def test_delete_archives_the_table_by_policy(admin_api):
    group_with_members(deletion_policy="archive")
    admin_api.delete("/api/v1/groups/live-credit-scoring/")
    archived = ArchivedInferenceTable.objects.get()
    assert archived.table_name in table_names()


def test_promote_through_the_api(api, user):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    response = api.post(
        "/api/v1/groups/live-credit-scoring/promote",
        {"model_version": challenger.pk, "reason": "AUC"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["change"]["action"] == RoleChangeAction.PROMOTE
    assert body["change"]["actor"] == user.username
    assert {m["model_version"]: (m["role"], m["weight"]) for m in body["group"]["members"]} == {
        challenger.pk: ("champion", 100),
        champion.pk: ("challenger", 0),
    }


def test_promote_a_non_member_names_the_model_version(api):
    group_with_members()
    other = ModelVersionFactory()
    response = api.post(
        "/api/v1/groups/live-credit-scoring/promote", {"model_version": other.pk}, format="json"
    )
    assert response.status_code == 400
    assert "is not a member" in response.json()["errors"]["model_version"][0]


def test_traffic_and_rollback_through_the_api(api):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    traffic = api.post(
        "/api/v1/groups/live-credit-scoring/traffic",
        {"weights": {str(champion.pk): 60, str(challenger.pk): 40}},
        format="json",
    )
    assert traffic.status_code == 200
    api.post(
        "/api/v1/groups/live-credit-scoring/promote",
        {"model_version": challenger.pk},
        format="json",
    )
    rollback = api.post("/api/v1/groups/live-credit-scoring/rollback", {}, format="json")
    assert rollback.status_code == 200
    weights = {m["model_version"]: m["weight"] for m in rollback.json()["group"]["members"]}
    assert weights == {champion.pk: 60, challenger.pk: 40}


def test_the_api_needs_a_session(client):
    response = APIClient().get("/api/v1/groups/")
    assert response.status_code in (401, 403)
    assert "message" in response.json()
