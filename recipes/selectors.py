"""Reads for the recipe pages and API: what a person or key may see, versions, the
effective manifest with provenance as rows, diffs side by side, the synthetic example."""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from core.permissions import require, visible
from recipes import manifest as mf
from recipes.models import Recipe, RecipeVersion
from recipes.services import recipe_version_effective
from recipes.synthetic import GENERATORS, generate

RECIPES_PER_PAGE = 20
EXAMPLE_ROWS = 8


def recipes(*, user: Any) -> QuerySet[Recipe]:
    return visible(user, Recipe.objects.select_related("parent", "team", "model"))


def recipe_list_page(*, queryset: QuerySet[Recipe], page_number: Any = None) -> Page:
    return Paginator(queryset, RECIPES_PER_PAGE).get_page(page_number)


def recipe_get(*, slug: str, user: Any) -> Recipe:
    recipe = get_object_or_404(recipes(user=user), slug=slug)
    require(user, "recipes.view_recipe", recipe)
    return recipe


def versions(*, recipe: Recipe) -> QuerySet[RecipeVersion]:
    return recipe.versions.select_related(
        "recipe", "parent_version__recipe", "created_by", "approved_by", "previous"
    ).order_by("-id")


def version_get(*, recipe: Recipe, version: str, user: Any) -> RecipeVersion:
    found = get_object_or_404(versions(recipe=recipe), version=version)
    require(user, "recipes.view_recipeversion", found)
    return found


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def provenance_rows(version: RecipeVersion) -> list[dict]:
    """One row per leaf of the effective manifest: pointer, value and where it comes from."""
    result = recipe_version_effective(version)
    rows = []
    for path, value in mf.leaves(result.manifest).items():
        origin = result.provenance.get(path, {})
        previous = origin.get("previous")
        rows.append(
            {
                "path": path,
                "value": _shown(value),
                "recipe": origin.get("recipe", ""),
                "version": origin.get("version", ""),
                "level": origin.get("level", ""),
                "overrides": origin.get("overrides", False),
                "own": origin.get("recipe") == version.recipe.slug,
                "previous": (
                    f"{_shown(previous['value'])} from {previous['recipe']} {previous['version']}"
                    if previous
                    else ""
                ),
            }
        )
    return rows


def diff_rows(version: RecipeVersion) -> list[dict]:
    """The stored JSON Patch from the previous version, as before / after rows."""
    if version.previous is not None:
        before = version.previous.effective
    elif version.parent_version is not None:
        before = version.parent_version.effective
    else:
        before = {}
    rows = mf.side_by_side(before, version.effective, version.diff)
    for row in rows:
        row["before_text"] = _shown(row["before"]) if row["had_before"] else "—"
        row["after_text"] = _shown(row["after"]) if row["has_after"] else "—"
    return rows


def synthetic_example(version: RecipeVersion) -> dict | None:
    """The recipe's example: the generator's columns and its first rows (deterministic)."""
    example = version.effective.get("example")
    if not example or example.get("generator") not in GENERATORS:
        return None
    generator = GENERATORS[example["generator"]]
    frame = generate(generator.name, rows=100, seed=example.get("seed", 7)).head(EXAMPLE_ROWS)
    return {
        "generator": generator,
        "rows": example.get("rows"),
        "seed": example.get("seed"),
        "columns": list(frame.columns),
        "sample": frame.astype(str).values.tolist(),
    }
