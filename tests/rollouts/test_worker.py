"""The beat task on a real Celery worker: traffic and feedback through the API, the
`rollouts.tick` task run by the worker, and the group's split and audit trail afterwards."""

import pytest

from groups.models import RoleChange, RoleChangeAction
from rollouts.models import Rollout
from rollouts.tasks import rollouts_tick_task
from tests.celery_worker import wait_for
from tests.rollouts.factories import champion_right, rollout_group, traffic
from tests.rollouts.test_end_to_end import PLAN, split, start


def _ticks_done(worker) -> int:
    return sum(
        "rollouts.tick" in line and "succeeded" in line for line in worker.log().splitlines()
    )


@pytest.mark.worker
def test_the_worker_rolls_a_wrong_challenger_back_on_a_tick(celery_worker, client, operator):
    setup = rollout_group()
    client.force_login(operator)
    rollout_id = start(client, setup, **{**PLAN, "steps": [25, 100]})["id"]

    for seed in range(3):
        traffic(client, setup, 300, seed=seed, truth=champion_right)
        done = _ticks_done(celery_worker)
        rollouts_tick_task.delay()
        wait_for(
            lambda done=done: _ticks_done(celery_worker) > done,
            timeout=90,
            message="the worker never ran the tick:\n" + celery_worker.log(),
        )
        if Rollout.objects.get(pk=rollout_id).state != "running":
            break

    rollout = Rollout.objects.get(pk=rollout_id)
    assert rollout.state == "rolled_back", [d.reason for d in rollout.decisions.all()]
    assert split(setup.group)[setup.challenger.pk] == ("challenger", 0)
    last = RoleChange.objects.filter(group=setup.group).order_by("-created_at", "-id").first()
    assert last.action == RoleChangeAction.SET_TRAFFIC
    assert f"Rollout #{rollout_id}" in last.reason
