"""Who may do what on groups: roles, teams, API-key scopes and groups (issue 11)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core import roles
from groups.models import ModelGroup
from groups.selectors import group_for
from tests.factories import role_user
from tests.groups.factories import ModelVersionFactory, group_with_members, make_api_key

pytestmark = pytest.mark.django_db


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def keyed(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def promote_url(slug: str) -> str:
    return reverse("api-group-promote", kwargs={"slug": slug})


def create_body(name: str, **extra) -> dict:
    version = ModelVersionFactory()
    members = [{"model_version": version.pk, "role": "champion", "weight": 100}]
    return {"name": name, "members": members, **extra}


def test_a_viewer_reads_but_may_not_promote_create_or_delete(viewer):
    group, (_, challenger) = group_with_members()
    api = session(viewer)
    assert api.get(reverse("api-group-detail", kwargs={"slug": group.slug})).status_code == 200
    promote = api.post(promote_url(group.slug), {"model_version": challenger.pk}, format="json")
    assert promote.status_code == 403
    assert "role does not allow" in promote.json()["message"]
    traffic = reverse("api-group-traffic", kwargs={"slug": group.slug})
    assert (
        api.post(traffic, {"weights": {str(challenger.pk): 50}}, format="json").status_code == 403
    )
    assert api.post(reverse("api-group-list"), create_body("New"), format="json").status_code == 403
    assert api.delete(reverse("api-group-detail", kwargs={"slug": group.slug})).status_code == 403
    assert group.memberships.get(model_version=challenger).weight == 10


def test_a_viewer_sees_no_action_on_the_group_page_and_posts_are_403(client, viewer):
    group, (_, challenger) = group_with_members()
    client.force_login(viewer)
    page = client.get(group.get_absolute_url()).content.decode()
    assert "Promote to Champion" not in page
    assert "Set traffic" not in page
    assert "Create a group" not in client.get(reverse("groups:group_list")).content.decode()
    promote = client.post(
        reverse("groups:group_promote", args=[group.slug]),
        {"model_version": challenger.pk, "confirm": "1"},
    )
    assert promote.status_code == 403
    assert client.post(reverse("groups:group_rollback", args=[group.slug])).status_code == 403
    assert client.get(reverse("groups:group_create")).status_code == 403


def test_an_operator_sees_the_actions_of_their_own_teams_group(user_client):
    group, _ = group_with_members()
    page = user_client.get(group.get_absolute_url()).content.decode()
    assert "Promote to Champion" in page and "Set traffic" in page


def test_an_operator_promotes_in_their_team_and_gets_403_in_another(other_team, operator):
    ours, (_, our_challenger) = group_with_members()
    theirs, (_, their_challenger) = group_with_members(name="Their Group")
    ModelGroup.objects.filter(pk=theirs.pk).update(team=other_team)
    api = session(operator)
    ok = api.post(promote_url(ours.slug), {"model_version": our_challenger.pk}, format="json")
    assert ok.status_code == 200
    refused = api.post(
        promote_url(theirs.slug), {"model_version": their_challenger.pk}, format="json"
    )
    assert refused.status_code == 403
    assert "another team" in refused.json()["message"]


def test_deleting_a_group_needs_the_admin_role(operator, admin_user):
    group, _ = group_with_members(deletion_policy="drop")
    url = reverse("api-group-detail", kwargs={"slug": group.slug})
    assert session(operator).delete(url).status_code == 403
    assert session(admin_user).delete(url).status_code == 204


def test_a_person_in_one_team_creates_in_it_by_default(operator, team):
    response = session(operator).post(
        reverse("api-group-list"), create_body("Default Team Group"), format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["team"] == team.slug


def test_a_person_in_several_teams_must_name_one(operator, other_team):
    other_team.members.add(operator)
    api = session(operator)
    response = api.post(reverse("api-group-list"), create_body("Which Team"), format="json")
    assert response.status_code == 400
    assert "team" in response.json()["errors"]
    named = api.post(
        reverse("api-group-list"), create_body("Named Team", team=other_team.slug), format="json"
    )
    assert named.status_code == 201
    assert ModelGroup.objects.get(slug="named-team").team == other_team


def test_a_person_cannot_create_in_a_team_not_theirs(operator, other_team):
    response = session(operator).post(
        reverse("api-group-list"), create_body("Not Mine", team=other_team.slug), format="json"
    )
    assert response.status_code == 400
    assert "not one of your teams" in response.json()["errors"]["team"][0]


def test_a_manage_key_creates_a_group_and_promotes(team):
    _, plaintext = make_api_key(scopes=("manage", "read"), all_groups=True)
    api = keyed(plaintext)
    created = api.post(reverse("api-group-list"), create_body("Made By Ci"), format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["team"] == team.slug
    group, (_, challenger) = group_with_members()
    promoted = api.post(promote_url(group.slug), {"model_version": challenger.pk}, format="json")
    assert promoted.status_code == 200, promoted.json()
    change = group.role_changes.get(action="promote")
    assert change.api_key_id is not None and change.actor is None


def test_a_predict_only_key_gets_403_on_create_and_promote():
    group, (_, challenger) = group_with_members()
    _, plaintext = make_api_key(scopes=("predict",), all_groups=True)
    api = keyed(plaintext)
    assert (
        api.post(reverse("api-group-list"), create_body("Nope"), format="json").status_code == 403
    )
    promote = api.post(promote_url(group.slug), {"model_version": challenger.pk}, format="json")
    assert promote.status_code == 403
    assert "API key may not" in promote.json()["message"]


def test_a_key_never_exceeds_its_team(other_team):
    group, (_, challenger) = group_with_members()
    _, plaintext = make_api_key(team=other_team, scopes=("manage", "read"), all_groups=True)
    response = keyed(plaintext).post(
        promote_url(group.slug), {"model_version": challenger.pk}, format="json"
    )
    assert response.status_code == 403


@pytest.mark.parametrize("slug", ["other-group", "no-such-group"])
def test_a_key_scoped_to_one_group_gets_403_for_every_other_slug(slug):
    group, _ = group_with_members()
    group_with_members(name="Other Group")
    _, plaintext = make_api_key(scopes=("read", "manage"), groups=[group])
    api = keyed(plaintext)
    assert api.get(reverse("api-group-detail", kwargs={"slug": group.slug})).status_code == 200
    detail = api.get(reverse("api-group-detail", kwargs={"slug": slug}))
    assert detail.status_code == 403
    assert slug in detail.json()["message"]
    assert api.post(promote_url(slug), {"model_version": 1}, format="json").status_code == 403
    listing = api.get(reverse("api-group-list")).json()
    assert [g["slug"] for g in listing["results"]] == [group.slug]


def test_an_all_groups_key_gets_404_for_a_missing_group():
    _, plaintext = make_api_key(scopes=("read",), all_groups=True)
    assert (
        keyed(plaintext).get(reverse("api-group-detail", kwargs={"slug": "nope"})).status_code
        == 404
    )


def test_group_for_checks_scope_then_existence_then_permission(viewer):
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    from groups.auth import ApiKeyPrincipal
    from tests.groups.test_auth import authenticate

    group, _ = group_with_members()
    assert group_for(viewer, group.slug, "groups.view_modelgroup") == group
    with pytest.raises(Http404):
        group_for(viewer, "missing", "groups.view_modelgroup")
    with pytest.raises(PermissionDenied):
        group_for(viewer, group.slug, "groups.promote_modelgroup")
    _, plaintext = make_api_key(scopes=("predict",), groups=[group])
    principal, _ = authenticate(f"Bearer {plaintext}")
    assert isinstance(principal, ApiKeyPrincipal)
    assert group_for(principal, group.slug, "groups.predict_modelgroup") == group
    with pytest.raises(PermissionDenied):
        group_for(principal, "missing", "groups.predict_modelgroup")


def test_the_admin_changelist_shows_only_what_the_role_allows(client):
    group_with_members()
    staff_viewer = role_user(roles.VIEWER, is_staff=True)
    client.force_login(staff_viewer)
    changelist = client.get(reverse("admin:groups_modelgroup_changelist"))
    assert changelist.status_code == 200
    assert "promote_to_champion" not in changelist.content.decode()
    assert client.get(reverse("admin:groups_apikey_changelist")).status_code == 403


def test_only_an_admin_makes_keys_in_the_admin(client, admin_user):
    operator = role_user(roles.OPERATOR, is_staff=True)
    client.force_login(operator)
    assert client.get(reverse("admin:groups_apikey_add")).status_code == 403
    admin_user.is_staff = True
    admin_user.save(update_fields=["is_staff"])
    client.force_login(admin_user)
    assert client.get(reverse("admin:groups_apikey_add")).status_code == 200
