"""A rollout's plan: the issue's defaults, and what is wrong with a given plan (by field)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from registry.models import Task
from rollouts.decide import Guardrails
from rollouts.models import Goal, Metric

Errors = dict[str, list[str]]

DEFAULTS: dict[str, Any] = {
    "steps": [5, 25, 50, 100],
    "step_min_minutes": 60,
    "step_max_minutes": 1440,
    "min_labelled_per_step": 200,
    "metric": Metric.ACCURACY.value,
    "goal": Goal.NON_INFERIOR.value,
    "margin": 0.01,
    "alpha": 0.05,
    "guardrails": {},
    "shadow_first": False,
    "final_approval": False,
}
GUARDRAIL_DEFAULTS = asdict(Guardrails())

CLASSIFICATION_METRICS = {"accuracy", "log_loss", "brier", "auc_roc"}
BINARY_ONLY = {"log_loss", "brier", "auc_roc"}
REGRESSION_METRICS = {"mae", "rmse"}


def plan_for(given: dict[str, Any]) -> dict[str, Any]:
    """The plan's values: what was given (None meaning 'the default') over the defaults,
    guardrails merged key by key."""
    values = {**DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    values["guardrails"] = {**GUARDRAIL_DEFAULTS, **(values.get("guardrails") or {})}
    return values


def _steps_errors(steps: object) -> list[str]:
    if not isinstance(steps, list | tuple) or not steps:
        return ["Give at least one step, a list of percentages such as [5, 25, 50, 100]."]
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 < s <= 100 for s in steps):
        return ["Each step is a whole percentage from 1 to 100."]
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        return ["Steps must climb: each one larger than the one before."]
    return []


def _metric_errors(metric: str, task: str | None) -> list[str]:
    if metric not in Metric.values:
        return [f"Use one of {', '.join(Metric.values)}."]
    if task == Task.REGRESSION and metric not in REGRESSION_METRICS:
        return [f"A regression group is measured with {' or '.join(sorted(REGRESSION_METRICS))}."]
    if task not in (None, Task.REGRESSION) and metric in REGRESSION_METRICS:
        return [
            f"A classification group is measured with {', '.join(sorted(CLASSIFICATION_METRICS))}."
        ]
    if task not in (None, Task.BINARY) and metric in BINARY_ONLY:
        return [f"{metric} needs a binary group's scores; use accuracy."]
    return []


def _guardrail_errors(guardrails: dict[str, Any]) -> list[str]:
    unknown = sorted(set(guardrails) - set(GUARDRAIL_DEFAULTS))
    if unknown:
        return [f"Unknown guardrail {', '.join(unknown)}: use {', '.join(GUARDRAIL_DEFAULTS)}."]
    bad = [
        k
        for k, v in guardrails.items()
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0
    ]
    return [f"{k} must be a non-negative number." for k in bad]


def _number_errors(values: dict[str, Any]) -> Errors:
    errors: Errors = {}
    if not 0 < values["alpha"] < 0.5:
        errors["alpha"] = ["alpha is between 0 and 0.5 (0.05 is usual)."]
    if values["margin"] < 0:
        errors["margin"] = ["The margin is zero or more, in the metric's units."]
    if values["step_min_minutes"] < 0:
        errors["step_min_minutes"] = ["At least 0 minutes."]
    if values["step_max_minutes"] < values["step_min_minutes"]:
        errors["step_max_minutes"] = ["A step's maximum time cannot be shorter than its minimum."]
    if values["min_labelled_per_step"] < 0:
        errors["min_labelled_per_step"] = ["At least 0 rows."]
    return errors


def plan_errors(values: dict[str, Any], *, task: str | None = None) -> Errors:
    """Everything wrong with a plan, by field (empty when it can run)."""
    unknown = sorted(set(values) - set(DEFAULTS))
    errors: Errors = {k: ["Not a rollout setting."] for k in unknown}
    checks = {
        "steps": _steps_errors(values["steps"]),
        "metric": _metric_errors(values["metric"], task),
        "guardrails": _guardrail_errors(values["guardrails"]),
        "goal": [] if values["goal"] in Goal.values else [f"Use one of {', '.join(Goal.values)}."],
    }
    errors.update({k: v for k, v in checks.items() if v})
    errors.update(_number_errors(values))
    return errors
