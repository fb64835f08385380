"""The rollout API: who may do what, the plan's checks, one active rollout per group,
pause / resume / abort, final approval by another person, and decisions as records."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Forbidden
from core.roles import OPERATOR
from groups.models import PendingChange, PendingStatus
from groups.services import pending_change_approve
from rollouts.models import Rollout, RolloutDecision
from rollouts.services import rollout_tick
from tests.factories import TeamFactory, role_user
from tests.rollouts.factories import (
    challenger_right,
    champion_right,
    post_json,
    rollout_group,
    tick,
    traffic,
)

pytestmark = pytest.mark.django_db

QUICK = {
    "step_min_minutes": 0,
    "min_labelled_per_step": 5,
    "margin": 0.05,
    "goal": "superior",
    "guardrails": {"p99_latency_ratio_max": 100},
}


def _start(client, setup, **changes):
    return post_json(client, setup.api, {"challenger": setup.challenger.pk, **QUICK, **changes})


def test_start_takes_the_issues_defaults(client, operator):
    setup = rollout_group()
    client.force_login(operator)
    response = post_json(client, setup.api, {"challenger": setup.challenger.pk})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["steps"] == [5, 25, 50, 100]
    assert (body["step_min_minutes"], body["step_max_minutes"], body["min_labelled_per_step"]) == (
        60,
        1440,
        200,
    )
    assert (body["metric"], body["goal"], body["margin"], body["alpha"]) == (
        "accuracy",
        "non_inferior",
        0.01,
        0.05,
    )
    assert body["guardrails"]["error_rate_max"] == 0.01 and body["guardrails"]["srm_p_min"] == 0.001
    assert body["decisions"][0]["action"] == "start"
    assert set(body["decisions"][0]) == {"at", "action", "step", "weight", "reason", "evidence"}


def test_a_viewer_reads_but_cannot_start_or_pause(client, operator, viewer):
    setup = rollout_group()
    client.force_login(operator)
    rollout_id = _start(client, setup).json()["id"]
    client.force_login(viewer)
    assert client.get(setup.api).status_code == 200
    assert client.get(f"{setup.api}{rollout_id}/").status_code == 200
    assert _start(client, setup).status_code == 403
    assert post_json(client, f"{setup.api}{rollout_id}/pause/", {}).status_code == 403
    assert post_json(client, f"{setup.api}{rollout_id}/abort/", {}).status_code == 403


def test_an_operator_of_another_team_gets_403(client):
    setup = rollout_group()
    outsider = role_user(OPERATOR, team=TeamFactory(name="Elsewhere", slug="elsewhere"))
    client.force_login(outsider)
    assert _start(client, setup).status_code == 403


def test_decisions_cannot_be_changed_or_deleted(client, operator):
    setup = rollout_group()
    client.force_login(operator)
    rollout_id = _start(client, setup).json()["id"]
    url = f"{setup.api}{rollout_id}/"
    assert client.delete(url).status_code in (403, 405)
    assert client.put(url, data="{}", content_type="application/json").status_code in (403, 405)
    decision = RolloutDecision.objects.get(rollout_id=rollout_id)
    decision.reason = "rewritten"
    with pytest.raises(ValidationError):
        decision.save()
    with pytest.raises(ValidationError):
        decision.delete()


def test_a_bad_plan_is_a_400_naming_each_field(client, operator):
    setup = rollout_group()
    client.force_login(operator)
    response = _start(
        client, setup, steps=[50, 25], step_min_minutes=90, step_max_minutes=10, metric="mae"
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) >= {"steps", "step_max_minutes", "metric"}
    assert Rollout.objects.count() == 0


def test_one_active_rollout_per_group(client, operator):
    setup = rollout_group()
    client.force_login(operator)
    assert _start(client, setup).status_code == 201
    second = _start(client, setup)
    assert second.status_code == 409 and "already has an active rollout" in second.json()["message"]
    first = Rollout.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Rollout.objects.create(
            group=setup.group,
            challenger=setup.challenger,
            champion=setup.champion,
            step_started_at=timezone.now(),
            started_at=timezone.now(),
            steps=[5, 100],
        )
    assert first.state == "running"


def test_pause_resume_and_abort(client, operator):
    setup = rollout_group()
    client.force_login(operator)
    rollout_id = _start(client, setup).json()["id"]
    base = f"{setup.api}{rollout_id}/"
    assert post_json(client, f"{base}pause/", {"reason": "holiday"}).json()["state"] == "paused"
    rollout = Rollout.objects.get(pk=rollout_id)
    assert rollout_tick(rollout=rollout) is None  # a paused rollout decides nothing
    assert post_json(client, f"{base}pause/", {}).status_code == 409
    assert post_json(client, f"{base}resume/", {}).json()["state"] == "running"
    body = post_json(client, f"{base}abort/", {"reason": "enough"}).json()
    assert body["state"] == "aborted"
    assert [d["action"] for d in body["decisions"]] == ["start", "pause", "resume", "abort"]
    assert (
        "Paused by" in body["decisions"][1]["reason"]
        and "holiday" in body["decisions"][1]["reason"]
    )
    weights = dict(setup.group.memberships.values_list("model_version_id", "weight"))
    assert weights == {setup.champion.pk: 100, setup.challenger.pk: 0}


def test_final_approval_waits_for_an_approver_who_is_not_the_author(client, operator, approver):
    setup = rollout_group()
    client.force_login(operator)
    rollout_id = _start(client, setup, steps=[50], final_approval=True).json()["id"]
    traffic(client, setup, 60, seed=3, truth=challenger_right)
    tick()

    rollout = Rollout.objects.get(pk=rollout_id)
    assert rollout.state == "awaiting_approval"
    pending = PendingChange.objects.get(pk=rollout.pending_change_id)
    assert pending.status == PendingStatus.PENDING and pending.author == operator
    assert (
        dict(setup.group.memberships.values_list("model_version_id", "role"))[setup.challenger.pk]
        == "challenger"
    )
    with pytest.raises(Forbidden):
        pending_change_approve(pending=pending, approver=operator)

    pending_change_approve(pending=pending, approver=approver)
    tick()
    rollout.refresh_from_db()
    assert rollout.state == "promoted"
    assert [d.action for d in rollout.decisions.all()][-2:] == ["await_approval", "promote"]
    assert (
        dict(setup.group.memberships.values_list("model_version_id", "role"))[setup.challenger.pk]
        == "champion"
    )


def test_on_a_four_eyes_group_the_plans_steps_apply_and_only_the_last_waits(client, operator):
    setup = rollout_group(requires_approval=True)
    client.force_login(operator)
    rollout_id = _start(client, setup, steps=[5, 100]).json()["id"]
    weights = dict(setup.group.memberships.values_list("model_version_id", "weight"))
    assert weights[setup.challenger.pk] == 5

    for seed in range(4):  # 5% of the traffic: a few rounds until the step has its rows
        traffic(client, setup, 150, seed=20 + seed, truth=challenger_right)
        tick()
        if Rollout.objects.get(pk=rollout_id).state != "running":
            break

    rollout = Rollout.objects.get(pk=rollout_id)
    assert rollout.state == "awaiting_approval"
    pending = PendingChange.objects.get(pk=rollout.pending_change_id)
    assert pending.status == PendingStatus.PENDING and pending.author == operator
    weights = dict(setup.group.memberships.values_list("model_version_id", "weight"))
    assert weights[setup.challenger.pk] == 5


def test_on_a_four_eyes_group_a_rollback_never_waits_for_a_person(client, operator):
    setup = rollout_group(requires_approval=True)
    client.force_login(operator)
    rollout_id = _start(client, setup, steps=[25, 100]).json()["id"]

    for seed in range(3):
        traffic(client, setup, 80, seed=10 + seed, truth=champion_right)
        tick()
        if Rollout.objects.get(pk=rollout_id).state == "rolled_back":
            break

    assert Rollout.objects.get(pk=rollout_id).state == "rolled_back"
    assert not PendingChange.objects.filter(
        group=setup.group, status=PendingStatus.PENDING
    ).exists()
    weights = dict(setup.group.memberships.values_list("model_version_id", "weight"))
    assert weights[setup.challenger.pk] == 0
