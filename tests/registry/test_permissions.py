"""Who may do what in the registry (issue 11): pages, API and admin, by role and team."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from core import roles
from core.permissions import KeyGrant, key_allows
from registry.models import RegisteredModel, VersionStatus
from tests.factories import TeamFactory, role_user
from tests.registry.factories import RegisteredModelFactory, SklearnVersionFactory, fitted_artifact
from tests.registry.test_artifacts import _custom_version

pytestmark = pytest.mark.django_db


class KeyPrincipal:
    """What an API key's request.user is (core.permissions): has_perm through key_allows."""

    is_authenticated = True
    is_active = True
    is_superuser = False
    pk = None

    def __init__(self, grant: KeyGrant) -> None:
        self.grant = grant

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return key_allows(self.grant, perm, obj)


def key_client(team, *scopes: str) -> APIClient:
    grant = KeyGrant(
        id=1,
        name="ci",
        prefix="ci",
        team_id=team.pk,
        scopes=frozenset(scopes),
        all_groups=True,
        group_slugs=frozenset(),
    )
    client = APIClient()
    client.force_authenticate(user=KeyPrincipal(grant), token=grant)
    return client


def login(client, user):
    client.force_login(user)
    return client


# --- pages -------------------------------------------------------------------------------


def test_a_viewer_reads_every_page_but_sees_no_action(client, viewer):
    version = SklearnVersionFactory(status=VersionStatus.DRAFT)
    login(client, viewer)

    listing = client.get("/models/").content.decode()
    model_page = client.get(version.model.get_absolute_url()).content.decode()
    version_page = client.get(version.get_absolute_url()).content.decode()

    assert version.model.name in listing
    assert "/models/upload/" not in listing and "/models/import/" not in listing
    assert "/models/upload/" not in model_page
    assert "Move to staging" not in version_page


def test_a_viewer_gets_403_on_every_action(client, viewer):
    version = SklearnVersionFactory(status=VersionStatus.DRAFT)
    login(client, viewer)

    assert (
        client.post(version.get_absolute_url() + "status/", {"to_status": "staging"}).status_code
        == 403
    )
    assert client.get("/models/upload/").status_code == 403
    assert client.get("/models/import/").status_code == 403
    assert client.post("/models/import/confirm/", {"token": "x"}).status_code == 403
    version.refresh_from_db()
    assert version.status == VersionStatus.DRAFT


def test_an_operator_moves_own_team_versions_but_not_another_teams(client, operator, other_team):
    own = SklearnVersionFactory(status=VersionStatus.DRAFT)
    theirs = SklearnVersionFactory(
        status=VersionStatus.DRAFT, model=RegisteredModelFactory(team=other_team)
    )
    login(client, operator)

    assert "Move to staging" in client.get(own.get_absolute_url()).content.decode()
    assert "Move to staging" not in client.get(theirs.get_absolute_url()).content.decode()
    assert (
        client.post(own.get_absolute_url() + "status/", {"to_status": "staging"}).status_code == 302
    )
    assert (
        client.post(theirs.get_absolute_url() + "status/", {"to_status": "staging"}).status_code
        == 403
    )
    own.refresh_from_db()
    theirs.refresh_from_db()
    assert (own.status, theirs.status) == (VersionStatus.STAGING, VersionStatus.DRAFT)


def test_only_an_admin_is_offered_to_trust_artifact_types(client, operator, admin_user):
    version = _custom_version()
    trust_url = f"/admin/registry/modelversion/{version.pk}/trust/"

    assert trust_url not in login(client, operator).get(version.get_absolute_url()).content.decode()
    assert trust_url in login(client, admin_user).get(version.get_absolute_url()).content.decode()


def test_the_upload_page_offers_only_the_models_of_the_operators_teams(
    client, operator, other_team
):
    own = RegisteredModelFactory(name="Own Model")
    RegisteredModelFactory(name="Their Model", team=other_team)
    html = login(client, operator).get("/models/upload/").content.decode()

    assert own.name in html and "Their Model" not in html


def test_uploading_to_another_teams_model_is_refused(client, operator, other_team):
    theirs = RegisteredModelFactory(team=other_team)
    artifact, metadata = fitted_artifact("logistic", 400, 0)
    response = login(client, operator).post(
        "/models/upload/",
        {
            "model": theirs.pk,
            "task": "binary_classification",
            "version": "",
            "artifact": SimpleUploadedFile("m.skops", artifact),
            "metadata_text": json.dumps(metadata),
        },
    )

    assert response.status_code == 400  # not among the choices
    assert not theirs.versions.exists()


def test_an_operator_of_two_teams_names_the_team_of_a_new_model(client, other_team):
    operator = role_user(roles.OPERATOR)
    other_team.members.add(operator)
    artifact, metadata = fitted_artifact("logistic", 400, 0)
    data = {
        "new_model_name": "Two Teams",
        "task": "binary_classification",
        "version": "",
        "artifact": SimpleUploadedFile("m.skops", artifact),
        "metadata_text": json.dumps(metadata),
    }
    login(client, operator)

    refused = client.post("/models/upload/", data)
    assert refused.status_code == 400
    assert "team" in refused.context["form"].errors

    data["artifact"] = SimpleUploadedFile("m.skops", artifact)
    assert client.post("/models/upload/", {**data, "team": other_team.slug}).status_code == 302
    assert RegisteredModel.objects.get(name="Two Teams").team == other_team


# --- API ---------------------------------------------------------------------------------


def test_a_viewer_reads_the_api_but_cannot_register_or_move(client, viewer):
    version = SklearnVersionFactory(status=VersionStatus.DRAFT)
    login(client, viewer)

    assert client.get("/api/v1/models/").status_code == 200
    assert (
        client.get(f"/api/v1/models/{version.model.slug}/versions/{version.version}/").status_code
        == 200
    )
    created = client.post("/api/v1/models/", {"name": "X"}, content_type="application/json")
    moved = client.post(
        f"/api/v1/models/{version.model.slug}/versions/{version.version}/status",
        {"to_status": "staging"},
        content_type="application/json",
    )
    imported = client.post(
        "/api/v1/models/import", {"document": {}}, content_type="application/json"
    )

    assert (created.status_code, moved.status_code, imported.status_code) == (403, 403, 403)
    assert "permission" in moved.json()["errors"]


def test_an_operator_moves_a_version_through_the_api_in_own_team_only(client, operator, other_team):
    own = SklearnVersionFactory(status=VersionStatus.DRAFT)
    theirs = SklearnVersionFactory(
        status=VersionStatus.DRAFT, model=RegisteredModelFactory(team=other_team)
    )
    login(client, operator)

    def move(version):
        return client.post(
            f"/api/v1/models/{version.model.slug}/versions/{version.version}/status",
            {"to_status": "staging"},
            content_type="application/json",
        )

    assert move(own).status_code == 200
    assert move(own).json()["errors"]["status"]  # staging -> staging is refused, 400
    assert move(theirs).status_code == 403


def test_a_new_model_over_the_api_goes_to_the_users_only_team(client, operator, team):
    response = login(client, operator).post(
        "/api/v1/models/", {"name": "Churn"}, content_type="application/json"
    )
    assert response.status_code == 201
    assert response.json()["team"] == team.slug


def test_a_user_of_two_teams_must_name_the_team_over_the_api(client, other_team):
    operator = role_user(roles.OPERATOR)
    other_team.members.add(operator)
    login(client, operator)

    refused = client.post("/api/v1/models/", {"name": "Churn"}, content_type="application/json")
    named = client.post(
        "/api/v1/models/", {"name": "Churn", "team": "other-team"}, content_type="application/json"
    )
    stranger = client.post(
        "/api/v1/models/", {"name": "Other", "team": "nobodys"}, content_type="application/json"
    )

    assert refused.status_code == 400 and "team" in refused.json()["errors"]
    assert named.status_code == 201 and named.json()["team"] == "other-team"
    assert stranger.status_code == 400 and "team" in stranger.json()["errors"]


def test_a_manage_key_registers_into_its_own_team():
    team = TeamFactory(name="CI team", slug="ci-team")
    response = key_client(team, "manage").post(
        "/api/v1/models/", {"name": "From CI"}, format="json"
    )

    assert response.status_code == 201, response.json()
    model = RegisteredModel.objects.get(name="From CI")
    assert (model.team, model.owner) == (team, None)


def test_a_manage_key_uploads_a_version_and_moves_it(team):
    model = RegisteredModelFactory()
    client = key_client(team, "manage", "read")
    artifact, metadata = fitted_artifact("logistic", 400, 0)

    uploaded = client.post(
        f"/api/v1/models/{model.slug}/versions/",
        {
            "artifact": SimpleUploadedFile("m.skops", artifact),
            "metadata": SimpleUploadedFile("metadata.json", json.dumps(metadata).encode()),
        },
        format="multipart",
    )
    assert uploaded.status_code == 201, uploaded.json()
    label = uploaded.json()["version"]
    moved = client.post(
        f"/api/v1/models/{model.slug}/versions/{label}/status",
        {"to_status": "staging"},
        format="json",
    )

    assert moved.status_code == 200 and moved.json()["status"] == "staging"


def test_a_manage_key_imports_and_confirms(team):
    client = key_client(team, "manage")
    document = {
        "name": "Imported By CI",
        "task": "binary_classification",
        "features": [{"name": "a"}],
        "metrics": {"accuracy": 0.9},
    }
    token = client.post("/api/v1/models/import", {"document": document}, format="json").json()[
        "token"
    ]

    confirmed = client.post("/api/v1/models/import/confirm", {"token": token}, format="json")

    assert confirmed.status_code == 201
    assert RegisteredModel.objects.get(name="Imported By CI").team == team


def test_a_read_or_predict_key_cannot_register(team):
    for scope in ("read", "predict"):
        response = key_client(team, scope).post(
            "/api/v1/models/", {"name": f"By {scope}"}, format="json"
        )
        assert response.status_code == 403
    assert key_client(team, "read").get("/api/v1/models/").status_code == 200
    assert key_client(team, "predict").get("/api/v1/models/").status_code == 403


def test_a_manage_key_cannot_move_another_teams_version(other_team, team):
    theirs = SklearnVersionFactory(
        status=VersionStatus.DRAFT, model=RegisteredModelFactory(team=other_team)
    )
    response = key_client(team, "manage").post(
        f"/api/v1/models/{theirs.model.slug}/versions/{theirs.version}/status",
        {"to_status": "staging"},
        format="json",
    )
    assert response.status_code == 403


def test_the_public_metadata_schema_needs_no_login(client):
    assert client.get("/api/v1/schema/model-metadata").status_code == 200


# --- admin -------------------------------------------------------------------------------


def test_an_operator_in_the_admin_sees_no_trust_action_and_cannot_open_the_trust_page(client):
    operator = role_user(roles.OPERATOR, is_staff=True)
    version = _custom_version()
    login(client, operator)

    changelist = client.get("/admin/registry/modelversion/")
    assert changelist.status_code == 200
    assert "review_trusted_types" not in changelist.content.decode()
    assert client.get(f"/admin/registry/modelversion/{version.pk}/trust/").status_code == 403


def test_an_admin_trusts_types_in_the_admin(client):
    from tests.registry.test_artifacts import CUSTOM_TYPE

    admin = role_user(roles.ADMIN, is_staff=True)
    version = _custom_version()
    login(client, admin)
    response = client.post(
        f"/admin/registry/modelversion/{version.pk}/trust/",
        {"types": [CUSTOM_TYPE], "confirm": "on"},
    )

    assert response.status_code == 302
    version.refresh_from_db()
    assert version.trusted_types == [CUSTOM_TYPE] and version.trusted_by == admin


def test_an_operator_cannot_move_another_teams_version_from_the_admin(client, other_team):
    operator = role_user(roles.OPERATOR, is_staff=True)
    theirs = SklearnVersionFactory(
        status=VersionStatus.DRAFT, model=RegisteredModelFactory(team=other_team)
    )
    login(client, operator)
    response = client.post(
        "/admin/registry/modelversion/",
        {
            "action": "move_to_staging",
            "_selected_action": [theirs.pk],
        },
    )

    assert response.status_code == 403
    theirs.refresh_from_db()
    assert theirs.status == VersionStatus.DRAFT
