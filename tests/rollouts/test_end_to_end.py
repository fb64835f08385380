"""End to end: traffic and feedback through the predict and feedback APIs (with an API
key), the rollout started through its API, `manage.py rollouts_tick` alone moving it, and
the group's memberships and audit trail afterwards."""

from datetime import timedelta

from django.apps import apps
from django.utils import timezone

from groups.models import RoleChange, RoleChangeAction
from rollouts.models import Rollout
from tests.rollouts.factories import (
    challenger_right,
    champion_right,
    post_json,
    rollout_group,
    tick,
    traffic,
)

PLAN = {
    "steps": [5, 25, 50, 100],
    "step_min_minutes": 0,
    "step_max_minutes": 30,
    "min_labelled_per_step": 5,
    "metric": "accuracy",
    "goal": "superior",
    "margin": 0.05,
    "alpha": 0.05,
    # The tree explains slower than the logistic regression: latency is not under test here.
    "guardrails": {"p99_latency_ratio_max": 100},
}


# Each test commits (transactional_db), as production does: the routing caches follow a
# traffic change on commit, and the predict path must see the new split.


def split(group) -> dict[int, tuple[str, int]]:
    return {m.model_version_id: (m.role, m.weight) for m in group.memberships.all()}


def climb(client, setup, rollout_id: int) -> tuple[Rollout, list[int]]:
    """Traffic with feedback, then one tick, until the rollout stops running; the
    challenger's weights on the way."""
    weights_seen = [5]
    for seed in range(12):
        traffic(client, setup, 300, seed=seed, truth=challenger_right)
        tick()
        rollout = Rollout.objects.get(pk=rollout_id)
        if rollout.state != "running":
            break
        if rollout.current_weight != weights_seen[-1]:
            weights_seen.append(rollout.current_weight)
    return rollout, weights_seen


def run_until_decided(client, setup, rollout_id: int, *, truth) -> None:
    """Traffic, feedback and a tick; again (three rounds at most) while it still holds:
    routing is random, and a first round may give 5% very few rows."""
    for seed in range(3):
        traffic(client, setup, 300, seed=seed, truth=truth)
        tick()
        if Rollout.objects.get(pk=rollout_id).state != "running":
            return


def assert_good_evidence(decision: dict) -> None:
    quality = decision["evidence"]["quality"]
    assert quality["challenger"]["labelled"] > 0
    assert quality["champion"]["labelled"] > 0
    assert quality["interval"][0] > 0, decision["reason"]
    assert decision["evidence"]["guardrails"]["srm"]["observed"]["challenger"] > 0
    assert "Good enough (superior)" in decision["reason"]


def assert_alert_opened(group, rollout_id: int) -> None:
    if apps.is_installed("monitoring"):
        from monitoring.models import Alert

        alert = Alert.objects.get(group=group, source=f"rollout:{rollout_id}")
        assert "inconclusive" in alert.title


def assert_audit_trail(setup, rollout_id: int) -> None:
    """Each step a traffic change, then the promotion: all by the rollout, in the group's trail."""
    trail = list(RoleChange.objects.filter(group=setup.group).order_by("created_at", "id"))
    assert [c.action for c in trail[-5:]] == [RoleChangeAction.SET_TRAFFIC] * 4 + [
        RoleChangeAction.PROMOTE
    ]
    assert all(f"Rollout #{rollout_id}" in c.reason for c in trail[-5:])
    assert trail[-1].to_version_id == setup.challenger.pk


def start(client, setup, **changes):
    response = post_json(client, setup.api, {"challenger": setup.challenger.pk, **PLAN, **changes})
    assert response.status_code == 201, response.content
    return response.json()


def test_a_challenger_right_where_the_champion_is_wrong_climbs_every_step_by_ticks_alone(
    transactional_db, client, operator
):
    setup = rollout_group()
    client.force_login(operator)
    body = start(client, setup)
    assert (body["state"], body["weight"]) == ("running", 5)
    assert split(setup.group)[setup.challenger.pk] == ("challenger", 5)

    rollout, weights_seen = climb(client, setup, body["id"])
    assert rollout.state == "promoted", [d.reason for d in rollout.decisions.all()]
    assert weights_seen == [5, 25, 50, 100]
    assert split(setup.group) == {
        setup.challenger.pk: ("champion", 100),
        setup.champion.pk: ("challenger", 0),
    }

    detail = client.get(f"{setup.api}{body['id']}/").json()
    actions = [d["action"] for d in detail["decisions"] if d["action"] != "hold"]
    assert actions == ["start", "advance", "advance", "advance", "promote"]
    for decision in detail["decisions"][1:]:
        assert_good_evidence(decision)

    assert_audit_trail(setup, body["id"])


def test_a_challenger_wrong_where_the_champion_is_right_is_rolled_back_at_the_first_step(
    transactional_db, client, operator
):
    setup = rollout_group()
    client.force_login(operator)
    body = start(client, setup)
    run_until_decided(client, setup, body["id"], truth=champion_right)

    detail = client.get(f"{setup.api}{body['id']}/").json()
    assert (detail["state"], detail["step"]) == ("rolled_back", 0), detail["decisions"][-1]
    assert {d["action"] for d in detail["decisions"]} <= {"start", "hold", "rollback"}
    last = detail["decisions"][-1]
    assert last["action"] == "rollback"
    assert "Worse by more than the margin (0.05) at step 1 of 4 (5%)" in last["reason"]
    assert last["evidence"]["quality"]["interval"][1] < -0.05
    assert last["evidence"]["quality"]["challenger"]["value"] == 0.0
    assert split(setup.group) == {
        setup.champion.pk: ("champion", 100),
        setup.challenger.pk: ("challenger", 0),
    }
    rollback = RoleChange.objects.filter(group=setup.group).order_by("-created_at", "-id").first()
    assert rollback.action == RoleChangeAction.SET_TRAFFIC and "rollback to 0%" in rollback.reason


def test_a_rollout_without_feedback_stays_on_its_first_step_and_ends_inconclusive(
    transactional_db, client, operator
):
    setup = rollout_group()
    client.force_login(operator)
    body = start(client, setup)
    for seed in range(3):
        traffic(client, setup, 200, seed=seed, truth=None)
        tick()
    assert Rollout.objects.get(pk=body["id"]).state == "running"

    later = (timezone.now() + timedelta(minutes=31)).isoformat()
    tick("--at", later)

    detail = client.get(f"{setup.api}{body['id']}/").json()
    assert (detail["state"], detail["step"], detail["weight"]) == ("inconclusive", 0, 5)
    actions = [d["action"] for d in detail["decisions"]]
    assert actions == ["start", "hold", "inconclusive"] and "promote" not in actions
    assert "no data is never a pass" in detail["decisions"][-1]["reason"]
    assert split(setup.group)[setup.challenger.pk] == ("challenger", 5)  # the split is kept
    assert_alert_opened(setup.group, body["id"])
    # Inconclusive stops stepping: later ticks leave it where it is.
    tick("--at", later)
    assert Rollout.objects.get(pk=body["id"]).decisions.count() == 3


def test_shadow_first_scores_the_challenger_on_the_same_requests_then_gives_it_traffic(
    transactional_db, client, operator
):
    setup = rollout_group()
    client.force_login(operator)
    body = start(client, setup, shadow_first=True, steps=[50, 100], goal="non_inferior", margin=0.5)
    assert (body["step"], body["weight"]) == (-1, 0)
    assert split(setup.group)[setup.challenger.pk] == ("shadow", 0)

    answers = traffic(client, setup, 200, seed=5, truth=champion_right)
    assert {a["role"] for a in answers} == {"champion"}  # a shadow never answers
    tick()

    detail = client.get(f"{setup.api}{body['id']}/").json()
    advance = detail["decisions"][-1]
    assert advance["action"] == "advance", advance["reason"]
    assert advance["evidence"]["quality"]["paired"] is True
    assert advance["evidence"]["quality"]["challenger"]["labelled"] == 200
    assert (detail["step"], detail["weight"]) == (0, 50)
    assert split(setup.group)[setup.challenger.pk] == ("challenger", 50)
