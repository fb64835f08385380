"""Issue 12 for groups: one role ordering, the sticky rule, one audit path, the group
filter for the page and the API, service errors that are core ServiceErrors."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.errors import ServiceError
from groups.models import ModelGroup, RoleChangeAction
from groups.routing import RouteMember, by_role, routing_key_errors
from groups.services import GroupValidationError, group_update
from tests.groups.factories import group_with_members


def test_by_role_orders_champion_challengers_shadows_then_weight():
    members = [
        RouteMember(5, "shadow", 0),
        RouteMember(4, "challenger", 5),
        RouteMember(3, "champion", 80),
        RouteMember(2, "challenger", 15),
        RouteMember(1, "shadow", 0),
    ]
    assert [m.version_id for m in by_role(members)] == [3, 2, 4, 1, 5]


def test_a_sticky_group_refuses_a_request_without_a_routing_key():
    errors = routing_key_errors(routing_mode="sticky", routing_key="")
    assert "routing_key" in errors
    assert routing_key_errors(routing_mode="sticky", routing_key=None) == errors
    assert routing_key_errors(routing_mode="sticky", routing_key="applicant-1") == {}
    assert routing_key_errors(routing_mode="weighted", routing_key=None) == {}


def test_group_validation_error_is_a_service_error():
    error = GroupValidationError({"name": ["A group needs a name."]})
    assert isinstance(error, ServiceError)
    assert (error.status, error.errors) == (400, {"name": ["A group needs a name."]})


@pytest.mark.django_db
def test_editing_members_is_audited_by_the_one_audit_function_and_bumps_the_generation():
    from groups.services import MemberSpec

    group, (champion, challenger) = group_with_members(weights=(90, 10))
    before = ModelGroup.objects.get(pk=group.pk).routing_generation
    group_update(
        group=group,
        actor=None,
        members=[MemberSpec(champion, "champion", 70), MemberSpec(challenger, "challenger", 30)],
        reason="rebalance",
    )
    change = group.role_changes.get(action=RoleChangeAction.MEMBERS_EDIT)
    assert change.reason == "rebalance"
    assert {r["weight"] for r in change.weights_after} == {70, 30}
    assert ModelGroup.objects.get(pk=group.pk).routing_generation > before


@pytest.mark.django_db
def test_an_unchanged_update_writes_no_audit_entry():
    group, _ = group_with_members()
    group_update(group=group, actor=None, name=group.name)
    assert list(group.role_changes.values_list("action", flat=True)) == ["create"]


@pytest.fixture
def two_groups(db, other_team):
    first, _ = group_with_members(name="Credit Scoring")
    second, _ = group_with_members(name="Fraud Alerts")
    ModelGroup.objects.filter(pk=second.pk).update(
        team=other_team, is_active=False, description="card payments"
    )
    return first, second


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"q": "CARD"}, ["fraud-alerts"]),
        ({"q": "credit"}, ["credit-scoring"]),
        ({"team": "other-team"}, ["fraud-alerts"]),
        ({"is_active": "true"}, ["credit-scoring"]),
        ({"task": "regression"}, []),
        ({}, ["credit-scoring", "fraud-alerts"]),
    ],
)
def test_the_group_api_filters(two_groups, user, params, expected):
    api = APIClient()
    api.force_login(user)
    response = api.get(reverse("api-group-list"), params)
    assert response.status_code == 200
    assert [g["slug"] for g in response.json()["results"]] == expected


def test_a_bad_filter_value_is_a_400_naming_it(two_groups, user):
    api = APIClient()
    api.force_login(user)
    response = api.get(reverse("api-group-list"), {"task": "astrology"})
    assert response.status_code == 400
    assert "task" in response.json()["errors"]


def test_the_group_page_uses_the_same_filter(two_groups, user_client):
    page = user_client.get(reverse("groups:group_list"), {"q": "card"}).content.decode()
    assert "Fraud Alerts" in page and "Credit Scoring" not in page


@pytest.mark.django_db
def test_the_filters_are_in_the_openapi_schema(staff_client):
    schema = staff_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    names = {p["name"] for p in schema["paths"]["/api/v1/groups/"]["get"]["parameters"]}
    assert {"q", "task", "is_active", "team", "page"} <= names
