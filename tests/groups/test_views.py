"""The group pages: list, create, overview, promote with confirmation, traffic, rollback."""

import pytest
from django.urls import reverse

from groups.models import ModelGroup, RoleChangeAction
from groups.services import group_promote
from tests.groups.catalogue import assert_inference_table
from tests.groups.factories import ModelVersionFactory, group_with_members

pytestmark = pytest.mark.django_db


def create_data(name: str, champion, weight: int, challengers=()) -> dict:
    data = {
        "name": name,
        "description": "Scores applications",
        "routing_mode": "weighted",
        "deletion_policy": "drop",
        "champion": str(champion.pk),
        "champion_weight": str(weight),
        "challengers-TOTAL_FORMS": "3",
        "challengers-INITIAL_FORMS": "0",
        "challengers-MIN_NUM_FORMS": "0",
        "challengers-MAX_NUM_FORMS": "20",
    }
    for i in range(3):
        data[f"challengers-{i}-role"] = "challenger"
        data[f"challengers-{i}-weight"] = "0"
    for i, (version, role, w) in enumerate(challengers):
        data.update(
            {
                f"challengers-{i}-model_version": str(version.pk),
                f"challengers-{i}-role": role,
                f"challengers-{i}-weight": str(w),
            }
        )
    return data


def test_empty_group_list_says_what_to_do_next(user_client):
    response = user_client.get(reverse("groups:group_list"))
    assert response.status_code == 200
    assert "No groups yet" in response.content.decode()
    assert reverse("groups:group_create") in response.content.decode()


def test_group_list_shows_groups_and_paginates(user_client):
    group_with_members()
    response = user_client.get(reverse("groups:group_list"))
    page = response.content.decode()
    assert "Live Credit Scoring" in page
    assert "/api/v1/groups/live-credit-scoring/predict" in page
    assert response.context["page"].paginator.per_page == 20


def test_creating_a_group_on_the_page_creates_its_table(user_client, user):
    champion, challenger = ModelVersionFactory(), ModelVersionFactory()
    response = user_client.post(
        reverse("groups:group_create"),
        create_data("Page Scoring", champion, 90, [(challenger, "challenger", 10)]),
    )
    group = ModelGroup.objects.get(slug="page-scoring")
    assert response.status_code == 302
    assert response["Location"] == group.get_absolute_url()
    assert group.created_by == user
    assert group.deletion_policy == "drop"
    assert_inference_table("inference_log_page_scoring")


def test_create_page_shows_the_service_errors_and_creates_nothing(user_client):
    champion, narrow = ModelVersionFactory(), ModelVersionFactory(features=["income"])
    response = user_client.post(
        reverse("groups:group_create"),
        create_data("Broken", champion, 80, [(narrow, "challenger", 10)]),
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "sum to 100, not 90" in page
    assert "missing debt_ratio, age, open_accounts" in page
    assert not ModelGroup.objects.exists()


def test_overview_shows_members_split_curl_and_role_changes(user_client):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    response = user_client.get(group.get_absolute_url())
    page = response.content.decode()
    assert response.status_code == 200
    assert champion.version in page and challenger.version in page
    assert "90%" in page and "10%" in page
    assert "http://testserver/api/v1/groups/live-credit-scoring/predict" in page
    assert "Authorization: Bearer &lt;your key&gt;" in page
    assert "&quot;income&quot;" in page  # example inputs from the group's features
    assert "Group created" in page
    assert 'aria-current="page">Overview' in page
    assert reverse("inference:group_compare", args=[group.slug]) in page  # the analytics tabs


def test_promote_first_shows_what_will_change_then_confirms(user_client, user):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    ask = user_client.post(
        reverse("groups:group_promote", args=[group.slug]),
        {"model_version": challenger.pk, "next": "/inference/groups/live-credit-scoring/compare/"},
    )
    page = ask.content.decode()
    assert ask.status_code == 200
    assert "Confirm promotion" in page
    assert group.memberships.get(model_version=challenger).weight == 10  # nothing changed yet
    done = user_client.post(
        reverse("groups:group_promote", args=[group.slug]),
        {
            "model_version": challenger.pk,
            "confirm": "1",
            "reason": "wins on AUC",
            "next": "/inference/groups/live-credit-scoring/compare/",
        },
    )
    assert done.status_code == 302
    assert done["Location"] == "/inference/groups/live-credit-scoring/compare/"
    assert group.memberships.get(model_version=challenger).weight == 100
    change = group.role_changes.get(action=RoleChangeAction.PROMOTE)
    assert (change.actor, change.reason) == (user, "wins on AUC")


def test_promote_confirmation_is_a_fragment_for_htmx(user_client):
    group, (_, challenger) = group_with_members()
    response = user_client.post(
        reverse("groups:group_promote", args=[group.slug]),
        {"model_version": challenger.pk},
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert "Confirm promotion" in page
    assert "<html" not in page


def test_promote_never_redirects_to_another_site(user_client):
    group, (_, challenger) = group_with_members()
    response = user_client.post(
        reverse("groups:group_promote", args=[group.slug]),
        {"model_version": challenger.pk, "confirm": "1", "next": "https://evil.example/"},
    )
    assert response["Location"] == group.get_absolute_url()


def test_set_traffic_on_the_page(user_client):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    response = user_client.post(
        reverse("groups:group_traffic", args=[group.slug]),
        {f"weight_{champion.pk}": "75", f"weight_{challenger.pk}": "25", "reason": "canary"},
    )
    assert response.status_code == 302
    assert group.memberships.get(model_version=challenger).weight == 25


def test_set_traffic_errors_are_shown_on_the_page(user_client):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    response = user_client.post(
        reverse("groups:group_traffic", args=[group.slug]),
        {f"weight_{champion.pk}": "75", f"weight_{challenger.pk}": "75"},
    )
    assert response.status_code == 400
    assert "sum to 100, not 150" in response.content.decode()
    assert group.memberships.get(model_version=challenger).weight == 10


def test_rollback_on_the_page(user_client, user):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    group_promote(group=group, model_version=challenger, actor=user)
    assert "Roll back to" in user_client.get(group.get_absolute_url()).content.decode()
    response = user_client.post(reverse("groups:group_rollback", args=[group.slug]))
    assert response.status_code == 302
    assert group.memberships.get(model_version=champion).weight == 90


def test_pages_need_a_login(client):
    response = client.get(reverse("groups:group_list"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_group_list_pages_as_an_htmx_fragment(user_client):
    group_with_members()
    response = user_client.get(reverse("groups:group_list"), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "Live Credit Scoring" in page
    assert "<html" not in page


def test_curl_example_survives_quotes_in_example_values(user_client):
    group, (champion, _) = group_with_members()
    champion.metadata["features"][0]["categories"] = ["O'Brien"]
    champion.save(update_fields=["metadata"])
    response = user_client.get(group.get_absolute_url())
    assert "O&#x27;\\&#x27;&#x27;Brien" in response.content.decode()


def test_unknown_group_page_is_404(user_client):
    assert user_client.get(reverse("groups:group_detail", args=["nope"])).status_code == 404
