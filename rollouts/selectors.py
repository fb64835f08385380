"""Reads of rollouts: through the permission helpers, and the timeline's chart data."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from core.permissions import require, visible
from groups.models import ModelGroup
from groups.selectors import group_for
from rollouts.models import Rollout, RolloutDecision

VIEW = "rollouts.view_rollout"
# After these the challenger has 0% (a rollback or an abort sets it so).
OFF_ACTIONS = {"rollback", "abort"}
START = "rollouts.add_rollout"
OPERATE = "rollouts.change_rollout"


def group_rollouts(user, group: ModelGroup) -> QuerySet[Rollout]:
    rollouts = Rollout.objects.filter(group=group).select_related(
        "group", "champion__model", "challenger__model", "created_by", "created_by_key"
    )
    return visible(user, rollouts, team_field="group__team", group_field="group__slug")


def rollout_for(user, slug: str, pk: int, perm: str) -> Rollout:
    """The rollout `pk` of group `slug`, or 404; then `perm` on it, or 403."""
    group = group_for(user, slug, VIEW)
    rollout = group_rollouts(user, group).filter(pk=pk).first()
    if rollout is None:
        raise Http404(f"No rollout {pk} in '{slug}'.")
    require(user, perm, rollout)
    return rollout


def _minutes(rollout: Rollout, decision: RolloutDecision) -> float:
    return round((decision.at - rollout.started_at).total_seconds() / 60, 2)


def staircase_chart(rollout: Rollout, decisions: list[RolloutDecision]) -> dict[str, Any]:
    """The challenger's share over time: one point per decision (the staircase)."""
    points = [
        {"x": _minutes(rollout, d), "y": 0 if d.action in OFF_ACTIONS else d.weight}
        for d in decisions
    ]
    return {
        "kind": "timeseries",
        "title": "Challenger's traffic",
        "x_title": "minutes since start",
        "y_title": "challenger %",
        "datasets": [{"label": "challenger weight", "data": points, "role": "challenger"}],
    }


def bound_chart(rollout: Rollout, decisions: list[RolloutDecision]) -> dict[str, Any]:
    """The always-valid interval of the improvement closing in, against -margin and the goal."""
    lower, upper, estimate = [], [], []
    for decision in decisions:
        quality = decision.evidence.get("quality") or {}
        if not quality.get("interval"):
            continue
        x = _minutes(rollout, decision)
        lower.append({"x": x, "y": quality["interval"][0]})
        upper.append({"x": x, "y": quality["interval"][1]})
        estimate.append({"x": x, "y": quality["improvement"]})
    ends = [lower[0]["x"], lower[-1]["x"]] if lower else []
    margin = [{"x": x, "y": -rollout.margin} for x in ends]
    threshold = 0.0 if rollout.goal == "superior" else -rollout.margin
    goal = [{"x": x, "y": threshold} for x in ends]
    return {
        "kind": "timeseries",
        "title": f"Improvement in {rollout.get_metric_display().lower()} (always-valid interval)",
        "x_title": "minutes since start",
        "y_title": "challenger - champion (positive is better)",
        "datasets": [
            {"label": "upper bound", "data": upper, "role": "challenger"},
            {"label": "estimate", "data": estimate, "role": "challenger"},
            {"label": "lower bound", "data": lower, "role": "challenger"},
            {"label": "-margin (rollback below)", "data": margin, "role": "negative"},
            {"label": "goal (advance above)", "data": goal, "role": "reference"},
        ],
    }
