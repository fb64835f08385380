"""Runs shown on other apps' pages (a recipe version's runs, a registered version's
evaluation gate) without those apps importing training: their templates load these."""

from typing import Any

from django import template

from training import selectors

register = template.Library()
RECENT_RUNS = 10


@register.simple_tag(takes_context=True)
def recipe_runs(context: dict, recipe_version: Any) -> list:
    user = context["request"].user
    return list(
        selectors.jobs(user=user)
        .filter(recipe_version=recipe_version)
        .order_by("-id")[:RECENT_RUNS]
    )


@register.simple_tag(takes_context=True)
def version_evaluations(context: dict, version: Any) -> list:
    return selectors.version_evaluations(version=version, user=context["request"].user)
