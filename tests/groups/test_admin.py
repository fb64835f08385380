"""The operations console: groups with members inline, promotion and rollback, API keys."""

import hashlib
import json

import pytest
from django.urls import reverse

from groups.models import ApiKey, ModelGroup, RoleChange, RoleChangeAction
from tests.factories import default_team
from tests.groups.catalogue import assert_inference_table
from tests.groups.factories import ModelVersionFactory, group_with_members, make_api_key

pytestmark = pytest.mark.django_db


def group_add_data(name: str, rows: list[tuple[int, str, int]], **fields) -> dict:
    data = {
        "name": name,
        "team": str(default_team().pk),
        "description": "",
        "task": "binary_classification",
        "routing_mode": "weighted",
        "deletion_policy": "archive",
        "is_active": "on",
        "features": "[]",
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, (version_id, role, weight) in enumerate(rows):
        data.update(
            {
                f"memberships-{i}-model_version": str(version_id),
                f"memberships-{i}-role": role,
                f"memberships-{i}-weight": str(weight),
            }
        )
    data.update(fields)
    return data


def test_creating_a_group_in_the_admin_creates_its_table(staff_client, staff_user):
    champion, challenger = ModelVersionFactory(), ModelVersionFactory()
    response = staff_client.post(
        reverse("admin:groups_modelgroup_add"),
        group_add_data(
            "Admin Scoring", [(champion.pk, "champion", 90), (challenger.pk, "challenger", 10)]
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    group = ModelGroup.objects.get(slug="admin-scoring")
    assert group.created_by == staff_user
    assert group.features == champion.feature_names
    assert group.memberships.count() == 2
    assert_inference_table("inference_log_admin_scoring")


def test_admin_shows_invariant_errors_inline_and_saves_nothing(staff_client):
    champion, challenger = ModelVersionFactory(), ModelVersionFactory()
    response = staff_client.post(
        reverse("admin:groups_modelgroup_add"),
        group_add_data(
            "Bad Split", [(champion.pk, "champion", 80), (challenger.pk, "challenger", 10)]
        ),
    )
    assert response.status_code == 200
    assert "Champion and challenger weights must sum to 100, not 90." in response.content.decode()
    assert not ModelGroup.objects.exists()


def test_admin_refuses_a_member_missing_features_naming_them(staff_client):
    champion, narrow = ModelVersionFactory(), ModelVersionFactory(features=["income"])
    response = staff_client.post(
        reverse("admin:groups_modelgroup_add"),
        group_add_data("Narrow", [(champion.pk, "champion", 100), (narrow.pk, "challenger", 0)]),
    )
    assert "missing debt_ratio, age, open_accounts" in response.content.decode()
    assert not ModelGroup.objects.exists()


def test_admin_change_page_edits_weights_through_the_service(staff_client):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    memberships = list(group.memberships.order_by("model_version_id"))
    data = group_add_data(group.name, [], features=json.dumps(group.features))
    data.update(
        {
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "2",
        }
    )
    for i, (m, weight) in enumerate(zip(memberships, (70, 30), strict=True)):
        data.update(
            {
                f"memberships-{i}-id": str(m.pk),
                f"memberships-{i}-group": str(group.pk),
                f"memberships-{i}-model_version": str(m.model_version_id),
                f"memberships-{i}-role": m.role,
                f"memberships-{i}-weight": str(weight),
            }
        )
    response = staff_client.post(reverse("admin:groups_modelgroup_change", args=[group.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert sorted(group.memberships.values_list("weight", flat=True)) == [30, 70]
    assert group.role_changes.filter(action=RoleChangeAction.MEMBERS_EDIT).exists()


def test_admin_promote_action_asks_then_promotes(staff_client):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    url = reverse("admin:groups_modelgroup_changelist")
    form = staff_client.post(url, {"action": "promote_to_champion", "_selected_action": [group.pk]})
    assert form.status_code == 200
    assert "Promote to champion" in form.content.decode()
    done = staff_client.post(
        url,
        {
            "action": "promote_to_champion",
            "_selected_action": [group.pk],
            "apply": "1",
            "model_version": challenger.pk,
            "former_champion_role": "challenger",
            "reason": "better AUC",
        },
    )
    assert done.status_code == 302
    assert group.memberships.get(model_version=challenger).weight == 100
    assert RoleChange.objects.get(action=RoleChangeAction.PROMOTE).reason == "better AUC"


def test_admin_rollback_action_restores_the_previous_champion(staff_client, staff_user):
    from groups.services import group_promote

    group, (champion, challenger) = group_with_members(weights=(90, 10))
    group_promote(group=group, model_version=challenger, actor=staff_user)
    response = staff_client.post(
        reverse("admin:groups_modelgroup_changelist"),
        {"action": "roll_back_to_previous_champion", "_selected_action": [group.pk]},
    )
    assert response.status_code == 302
    assert group.memberships.get(model_version=champion).role == "champion"
    assert group.memberships.get(model_version=champion).weight == 90


def test_deleting_a_group_in_the_admin_archives_its_table(staff_client):
    from inference.models import ArchivedInferenceTable

    group, _ = group_with_members()
    response = staff_client.post(
        reverse("admin:groups_modelgroup_delete", args=[group.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not ModelGroup.objects.exists()
    assert (
        ArchivedInferenceTable.objects.get().original_table_name
        == "inference_log_live_credit_scoring"
    )


def test_admin_shows_a_new_api_key_once_and_stores_its_hash(staff_client):
    group, _ = group_with_members()
    response = staff_client.post(
        reverse("admin:groups_apikey_add"),
        {
            "name": "scoring workflow",
            "team": group.team_id,
            "scopes": ["predict", "read"],
            "groups": [group.pk],
        },
    )
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    api_key = ApiKey.objects.get()
    plaintext = response.context["plaintext"]
    assert plaintext in response.content.decode()
    assert hashlib.sha256(plaintext.encode()).hexdigest() == api_key.key_hash
    assert list(api_key.groups.all()) == [group]
    assert (api_key.team, api_key.scopes) == (group.team, ["predict", "read"])
    change_page = staff_client.get(reverse("admin:groups_apikey_change", args=[api_key.pk]))
    assert plaintext not in change_page.content.decode()


def test_admin_api_key_needs_a_scope(staff_client):
    response = staff_client.post(
        reverse("admin:groups_apikey_add"),
        {"name": "nowhere", "team": default_team().pk, "scopes": ["predict"]},
    )
    assert response.status_code == 200
    assert "Choose the groups this key may call" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_admin_revoke_action_revokes_keys(staff_client):
    api_key, _ = make_api_key(name="old", all_groups=True)
    staff_client.post(
        reverse("admin:groups_apikey_changelist"),
        {"action": "revoke", "_selected_action": [api_key.pk]},
    )
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_role_changes_are_listed_read_only(staff_client):
    group_with_members()
    response = staff_client.get(reverse("admin:groups_rolechange_changelist"))
    assert response.status_code == 200
    assert "Group created" in response.content.decode()
    assert staff_client.get(reverse("admin:groups_rolechange_add")).status_code == 403


def test_admin_refuses_features_a_member_does_not_accept(staff_client):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    data = group_add_data(group.name, [], features='["income", "zip_code"]')
    data.update({"memberships-TOTAL_FORMS": "2", "memberships-INITIAL_FORMS": "2"})
    for i, m in enumerate(group.memberships.order_by("model_version_id")):
        data.update(
            {
                f"memberships-{i}-id": str(m.pk),
                f"memberships-{i}-group": str(group.pk),
                f"memberships-{i}-model_version": str(m.model_version_id),
                f"memberships-{i}-role": m.role,
                f"memberships-{i}-weight": str(m.weight),
            }
        )
    response = staff_client.post(reverse("admin:groups_modelgroup_change", args=[group.pk]), data)
    assert response.status_code == 200
    assert "missing zip_code" in response.content.decode()
    group.refresh_from_db()
    assert "zip_code" not in group.features
