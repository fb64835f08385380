"""Deploy: the version a recipe's train run registered starts a gated rollout in the
recipe's target group.

Training knows the run and whether it may deploy (`run_deploy_target`); rollouts start and
drive the rollout (`rollout_start`). Both are on layer 6 and import neither each other, so
the one function that joins them lives here, above both (ARCHITECTURE.md).

The plan comes from the effective manifest's `deployment.rollout` where it says something
(steps, step times, metric, goal, margin, alpha, guardrails, shadow first, final approval);
the rest takes the rollouts' defaults (rollouts/plans.py), except the metric, which follows
the group's task: a regression group is measured with the recipe's first of mae / rmse in
`evaluation.metrics` (mae if neither), a classification group with accuracy.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core.errors import Conflict, ServiceError
from core.permissions import require
from registry.models import Task
from rollouts.models import ACTIVE_STATES, Rollout
from rollouts.plans import REGRESSION_METRICS, plan_errors, plan_for
from rollouts.selectors import START
from rollouts.services import rollout_start
from training.models import FineTuneJob
from training.services import run_deploy_target

ROLLOUT_PATH = "/deployment/rollout"


def rollout_plan(manifest: dict[str, Any], *, task: str | None) -> dict[str, Any]:
    """The rollout's plan from an effective recipe manifest (pure): what
    `deployment.rollout` sets, and a metric that suits the group's task."""
    plan = dict((manifest.get("deployment") or {}).get("rollout") or {})
    if "metric" not in plan:
        if task == Task.REGRESSION:
            named = [m.get("name") for m in (manifest.get("evaluation") or {}).get("metrics", [])]
            plan["metric"] = next((n for n in named if n in REGRESSION_METRICS), "mae")
        else:
            plan["metric"] = "accuracy"
    return plan


def _plan_problems(plan: dict[str, Any], *, task: str | None) -> dict[str, list[str]]:
    """What is wrong with the plan, each on its JSON path in the manifest."""
    return {
        f"{ROLLOUT_PATH}/{field}": problems
        for field, problems in plan_errors(plan_for(plan), task=task).items()
    }


@transaction.atomic
def run_deploy(*, job: FineTuneJob, actor: Any) -> Rollout:
    """Start a gated rollout of the version `job` registered in its recipe's target group
    (the actor needs the run's change permission and the group's rollout start)."""
    target = run_deploy_target(job=job, actor=actor)
    group = target.group
    require(actor, START, group)
    active = group.rollouts.filter(state__in=ACTIVE_STATES).select_related("challenger").first()
    if active is not None:
        raise Conflict(
            f"{group.name} already has an active rollout (#{active.pk} of "
            f"{active.challenger}, {active.get_state_display().lower()}): finish or abort it "
            "first, one rollout at a time per group.",
            {"group": [f"Active rollout #{active.pk}: {active.get_absolute_url()}"]},
        )
    plan = rollout_plan(target.recipe_version.effective, task=group.task)
    problems = _plan_problems(plan, task=group.task)
    if problems:
        raise ServiceError(
            f"{target.recipe_version}'s rollout settings do not suit {group.name}.", problems
        )
    return rollout_start(group=group, challenger=target.version, actor=actor, **plan)
