"""Four-eyes: on a group that requires approval, promotions, rollbacks and traffic changes
wait for another person, who approves (applied atomically, both people audited) or rejects."""

import threading

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from core import roles
from core.errors import Conflict, Forbidden
from groups.models import ModelGroup, PendingChange, PendingStatus, RoleChangeAction
from groups.services import (
    group_delete,
    group_promote,
    group_rollback,
    group_set_traffic,
    group_update,
    pending_change_approve,
    pending_change_reject,
)
from tests.factories import role_user
from tests.groups.factories import group_with_members

pytestmark = pytest.mark.django_db


def guarded_group(**kwargs):
    group, versions = group_with_members(**kwargs)
    ModelGroup.objects.filter(pk=group.pk).update(requires_approval=True)
    group.refresh_from_db()
    return group, versions


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def weights(group) -> dict[int, tuple[str, int]]:
    return {m.model_version_id: (m.role, m.weight) for m in group.memberships.all()}


def test_a_promotion_through_the_api_waits_with_202(operator):
    group, (champion, challenger) = guarded_group()
    before = weights(group)
    response = session(operator).post(
        reverse("api-group-promote", kwargs={"slug": group.slug}),
        {"model_version": challenger.pk, "reason": "better AUC"},
        format="json",
    )
    assert response.status_code == 202, response.json()
    body = response.json()["pending_change"]
    assert (body["action"], body["status"], body["author"]) == (
        "promote",
        "pending",
        operator.username,
    )
    assert weights(group) == before
    assert not group.role_changes.filter(action=RoleChangeAction.PROMOTE).exists()


def test_the_author_cannot_approve_their_own_change(operator):
    operator.groups.add(Group.objects.get(name=roles.APPROVER))  # may approve, not their own
    group, (_, challenger) = guarded_group()
    pending = group_promote(group=group, model_version=challenger, actor=operator)
    with pytest.raises(Forbidden, match="another person"):
        pending_change_approve(pending=pending, approver=operator)
    url = reverse("api-group-pending-approve", kwargs={"slug": group.slug, "id": pending.pk})
    response = session(operator).post(url)
    assert response.status_code == 403
    assert "another person must approve" in response.json()["message"]
    pending.refresh_from_db()
    assert pending.status == PendingStatus.PENDING


def test_another_person_approves_and_both_are_audited(operator, approver):
    group, (champion, challenger) = guarded_group()
    pending = group_promote(group=group, model_version=challenger, actor=operator, reason="AUC")
    response = session(approver).post(
        reverse("api-group-pending-approve", kwargs={"slug": group.slug, "id": pending.pk})
    )
    assert response.status_code == 200, response.json()
    assert weights(group) == {champion.pk: ("challenger", 0), challenger.pk: ("champion", 100)}
    change = group.role_changes.get(action=RoleChangeAction.PROMOTE)
    assert (change.actor, change.approved_by, change.reason) == (operator, approver, "AUC")
    assert response.json()["change"]["approved_by"] == approver.username
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by, pending.role_change) == (
        PendingStatus.APPLIED,
        approver,
        change,
    )


def test_a_second_approval_of_the_same_change_is_a_conflict(operator, approver):
    group, (_, challenger) = guarded_group()
    pending = group_promote(group=group, model_version=challenger, actor=operator)
    pending_change_approve(pending=pending, approver=approver)
    with pytest.raises(Conflict, match="already"):
        pending_change_approve(pending=pending, approver=approver)
    assert group.role_changes.filter(action=RoleChangeAction.PROMOTE).count() == 1


def test_a_rejected_change_is_never_applied(operator, approver):
    group, (champion, challenger) = guarded_group()
    before = weights(group)
    pending = group_set_traffic(
        group=group, weights={champion.pk: 50, challenger.pk: 50}, actor=operator
    )
    response = session(approver).post(
        reverse("api-group-pending-reject", kwargs={"slug": group.slug, "id": pending.pk})
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert weights(group) == before
    approve = session(approver).post(
        reverse("api-group-pending-approve", kwargs={"slug": group.slug, "id": pending.pk})
    )
    assert approve.status_code == 409


def test_a_change_that_no_longer_applies_is_refused_with_409(operator, approver):
    group, (champion, challenger) = guarded_group(weights=(100, 0))
    pending = group_promote(group=group, model_version=challenger, actor=operator)
    # The challenger (no traffic) leaves the group before anyone approves.
    from groups.services import MemberSpec

    group_update(group=group, actor=operator, members=[MemberSpec(champion, "champion", 100)])
    response = session(approver).post(
        reverse("api-group-pending-approve", kwargs={"slug": group.slug, "id": pending.pk})
    )
    assert response.status_code == 409
    assert "no longer applies" in response.json()["message"]
    assert "is not a member" in response.json()["errors"]["model_version"][0]
    assert weights(group) == {champion.pk: ("champion", 100)}


def test_a_change_that_could_not_apply_is_refused_at_once_not_queued(operator):
    group, (champion, challenger) = guarded_group()
    response = session(operator).post(
        reverse("api-group-traffic", kwargs={"slug": group.slug}),
        {"weights": {str(champion.pk): 70, str(challenger.pk): 70}},
        format="json",
    )
    assert response.status_code == 400
    assert "sum to 100, not 140" in response.json()["errors"]["weight"][0]
    assert not PendingChange.objects.exists()


def test_a_rollback_waits_and_applies_on_approval(operator, approver):
    group, (champion, challenger) = group_with_members()
    group_promote(group=group, model_version=challenger, actor=operator)
    group_update(group=group, actor=operator, requires_approval=True)
    pending = group_rollback(group=group, actor=operator)
    assert isinstance(pending, PendingChange)
    assert group.memberships.get(model_version=challenger).role == "champion"
    change = pending_change_approve(pending=pending, approver=approver)
    assert change.action == RoleChangeAction.ROLLBACK
    assert group.memberships.get(model_version=champion).role == "champion"


def test_turning_approval_on_is_itself_audited(operator):
    group, _ = group_with_members()
    group_update(group=group, actor=operator, requires_approval=True)
    change = group.role_changes.get(action=RoleChangeAction.EDIT)
    assert change.actor == operator
    assert "requires_approval" in change.reason


def test_editing_members_cannot_move_traffic_around_the_approval(operator):
    group, (champion, challenger) = guarded_group()
    response = session(operator).patch(
        reverse("api-group-detail", kwargs={"slug": group.slug}),
        {
            "members": [
                {"model_version": champion.pk, "role": "champion", "weight": 50},
                {"model_version": challenger.pk, "role": "challenger", "weight": 50},
            ]
        },
        format="json",
    )
    assert response.status_code == 409
    assert group.memberships.get(model_version=challenger).weight == 10


def test_the_pending_changes_are_listed_in_the_api(operator, viewer):
    group, (_, challenger) = guarded_group()
    group_promote(group=group, model_version=challenger, actor=operator)
    url = reverse("api-group-pending-changes", kwargs={"slug": group.slug})
    listing = session(viewer).get(url, {"status": "pending"})
    assert listing.status_code == 200
    assert [c["action"] for c in listing.json()["results"]] == ["promote"]
    assert session(viewer).get(url, {"status": "maybe"}).status_code == 400


def test_the_group_page_shows_pending_changes_with_buttons_for_another_approver(
    client, operator, approver
):
    group, (_, challenger) = guarded_group()
    pending = group_promote(group=group, model_version=challenger, actor=operator)
    approve_url = reverse("groups:pending_approve", args=[group.slug, pending.pk])
    client.force_login(operator)
    page = client.get(group.get_absolute_url()).content.decode()
    assert "Pending changes" in page and approve_url not in page
    assert client.post(approve_url).status_code == 403
    client.force_login(approver)
    page = client.get(group.get_absolute_url()).content.decode()
    assert approve_url in page
    assert client.post(approve_url).status_code == 302
    assert group.memberships.get(model_version=challenger).role == "champion"


def test_promoting_on_the_page_says_it_waits(user_client, user):
    group, (_, challenger) = guarded_group()
    response = user_client.post(
        reverse("groups:group_promote", args=[group.slug]),
        {"model_version": challenger.pk, "confirm": "1"},
        follow=True,
    )
    assert "waits until another person approves it" in response.content.decode()
    assert PendingChange.objects.get().author == user


def test_the_admin_action_approves(client, operator):
    group, (_, challenger) = guarded_group()
    pending = group_promote(group=group, model_version=challenger, actor=operator)
    admin = role_user(roles.ADMIN, is_staff=True)
    client.force_login(admin)
    response = client.post(
        reverse("admin:groups_pendingchange_changelist"),
        {"action": "approve", "_selected_action": [pending.pk]},
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by) == (PendingStatus.APPLIED, admin)


def test_rejecting_needs_another_person_too(operator):
    group, (_, challenger) = guarded_group()
    pending = group_promote(group=group, model_version=challenger, actor=operator)
    with pytest.raises(Forbidden):
        pending_change_reject(pending=pending, approver=operator)


@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_apply_the_change_exactly_once():
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    roles.roles_sync(Group, Permission)  # a flush before this test may have emptied the roles
    author = role_user(roles.OPERATOR)
    approvers = [role_user(roles.APPROVER) for _ in range(2)]
    group, (_, challenger) = guarded_group(name="Concurrent Approval", deletion_policy="drop")
    pending = group_promote(group=group, model_version=challenger, actor=author)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(person) -> None:
        try:
            barrier.wait(timeout=10)
            pending_change_approve(
                pending=PendingChange.objects.get(pk=pending.pk), approver=person
            )
            outcomes.append("applied")
        except Conflict:
            outcomes.append("conflict")
        except BaseException as exc:  # reported below
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(p,)) for p in approvers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["applied", "conflict"]
        assert group.role_changes.filter(action=RoleChangeAction.PROMOTE).count() == 1
        assert group.memberships.get(model_version=challenger).weight == 100
    finally:
        group_delete(group=group, actor=None)
