"""Every write of the recipes app: recipes, immutable versions (from a manifest or a JSON
Patch), clones, approval (four-eyes) and archiving.

Which parent version a child inherits from: the one pinned on the child's version when it
is made, by default the parent's latest APPROVED version (the latest version when none is
approved yet). So a version's effective manifest never changes once it exists, and a
parent's new version reaches a child only through a new child version.

Both bodies of a new version describe the EFFECTIVE manifest (what users and the assistant
see): `manifest` is the whole of it, `patch` is applied to the latest version's effective
manifest. The hub stores the smallest layer that produces it over the pinned parent.

For the assistant (issue 18): `recipe_version_check(...)` validates a manifest or patch
without writing (VersionCheck, or RecipeValidationError / StalePatch), and
`recipe_version_create(...)` makes the draft.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from core.errors import Conflict, Errors, Forbidden, ServiceError
from core.models import Team, default_team_id
from core.permissions import is_api_key, require
from recipes import manifest as mf
from recipes.models import LEVEL_DEPTH, Family, Level, Recipe, RecipeStatus, RecipeVersion
from registry.models import RegisteredModel

ADD_RECIPE = "recipes.add_recipe"
ADD_VERSION = "recipes.add_recipeversion"
CHANGE_VERSION = "recipes.change_recipeversion"
APPROVE_VERSION = "recipes.approve_recipeversion"


class RecipeValidationError(ServiceError):
    """Bad input for a recipe or version (400); errors name JSON Pointers into the manifest
    ("/evaluation/metrics/0/threshold") or fields ("name", "patch[1]")."""


class StalePatch(Conflict):
    """A patch or version made against content that is no longer the latest (409)."""


def principal(actor: Any) -> str:
    """Who wrote or approves: "user:<id>" or "key:<id>"."""
    if is_api_key(actor):
        return f"key:{actor.grant.id}"
    return f"user:{getattr(actor, 'pk', None)}" if actor is not None else ""


def _person(actor: Any) -> Any:
    return None if actor is None or is_api_key(actor) else actor


def problems_as_errors(problems: Iterable[mf.Problem]) -> Errors:
    errors: Errors = {}
    for problem in problems:
        errors.setdefault(problem.path, []).append(problem.message)
    return errors


# --- reading versions --------------------------------------------------------------------


def recipe_version_latest(recipe: Recipe) -> RecipeVersion | None:
    return recipe.versions.order_by("-id").first()


def recipe_version_latest_approved(recipe: Recipe) -> RecipeVersion | None:
    return recipe.versions.filter(status=RecipeStatus.APPROVED).order_by("-id").first()


def recipe_parent_version_default(recipe: Recipe) -> RecipeVersion | None:
    """The parent version a new version of `recipe` inherits from: the parent's latest
    approved version, or its latest version when none is approved yet."""
    if recipe.parent_id is None:
        return None
    parent = recipe.parent
    return recipe_version_latest_approved(parent) or recipe_version_latest(parent)


def recipe_layers(version: RecipeVersion) -> list[mf.Layer]:
    """The version's inheritance chain as layers, the root (baseline) first."""
    chain: list[mf.Layer] = []
    current: RecipeVersion | None = version
    while current is not None:
        chain.append(
            mf.Layer(
                recipe=current.recipe.slug,
                version=current.version,
                level=current.recipe.level,
                manifest=current.manifest,
            )
        )
        current = current.parent_version
    return list(reversed(chain))


def recipe_version_effective(version: RecipeVersion) -> mf.Effective:
    """The merged manifest with the provenance of every leaf."""
    return mf.effective(recipe_layers(version))


# --- checking a new version --------------------------------------------------------------


@dataclass(frozen=True)
class VersionCheck:
    """A valid new version, not saved yet."""

    recipe: Recipe
    version: str
    effective: dict
    layer: dict
    content_hash: str
    diff: list[dict]
    parent_version: RecipeVersion | None
    previous: RecipeVersion | None


def _base_effective(recipe: Recipe, previous: RecipeVersion | None, parent_version) -> dict:
    if previous is not None:
        return previous.effective
    return parent_version.effective if parent_version is not None else {}


def _new_effective(base: dict, manifest: Any, patch: Any) -> dict:
    if (manifest is None) == (patch is None):
        raise RecipeValidationError({"manifest": ['Send either "manifest" or "patch".']})
    if manifest is not None:
        if not isinstance(manifest, dict):
            raise RecipeValidationError({"manifest": ["A manifest is a JSON object."]})
        return manifest
    try:
        return mf.apply_patch(base, patch)
    except mf.PatchRefused as exc:
        if exc.stale:
            raise StalePatch(
                "The patch was made against older content: its test operation failed. "
                "Reload the latest version and make the change again.",
                {f"patch[{exc.index}]": [exc.message]},
            ) from exc
        raise RecipeValidationError({f"patch[{exc.index}]": [exc.message]}) from exc


def _check_base_version(previous: RecipeVersion | None, base_version: str) -> None:
    latest = previous.version if previous else ""
    if base_version and base_version != latest:
        raise StalePatch(
            f"The change was made against version {base_version}; the latest is "
            f"{latest or 'none'}. Reload it and make the change again.",
            {"base_version": [f"Not the latest version ({latest or 'none'})."]},
        )


def _family_problems(recipe: Recipe, effective: dict) -> list[mf.Problem]:
    family = effective.get("metadata", {}).get("family") if isinstance(effective, dict) else None
    if family and family != recipe.family:
        return [
            mf.Problem(
                "/metadata/family", f"This recipe is a {recipe.family} recipe, not {family}."
            )
        ]
    return []


def _pinned_parent(recipe: Recipe, parent_version: RecipeVersion | None) -> RecipeVersion | None:
    if parent_version is None:
        return recipe_parent_version_default(recipe)
    if parent_version.recipe_id != recipe.parent_id:
        raise RecipeValidationError(
            {"parent_version": [f"{parent_version} is not a version of this recipe's parent."]}
        )
    return parent_version


def recipe_version_check(
    *,
    recipe: Recipe,
    manifest: Any = None,
    patch: Any = None,
    base_version: str = "",
    parent_version: RecipeVersion | None = None,
) -> VersionCheck:
    """Validate a new version of `recipe` without writing anything.

    `manifest` (the whole effective manifest) or `patch` (RFC 6902, applied to the latest
    version's effective manifest; `test` operations honoured). Raises StalePatch (409) when
    a test operation fails or `base_version` is not the latest, RecipeValidationError (400)
    with JSON Pointer paths otherwise.
    """
    previous = recipe_version_latest(recipe)
    _check_base_version(previous, base_version)
    pinned = _pinned_parent(recipe, parent_version)
    if recipe.parent_id is not None and pinned is None:
        raise RecipeValidationError(
            {"parent_version": [f"{recipe.parent} has no version to inherit from yet."]}
        )
    new = _new_effective(_base_effective(recipe, previous, pinned), manifest, patch)
    problems = mf.validate(new) or _family_problems(recipe, new)
    if problems:
        raise RecipeValidationError(
            "The manifest does not match the recipe manifest schema.", problems_as_errors(problems)
        )
    parent_effective = pinned.effective if pinned is not None else {}
    layer = mf.layer_between(parent_effective, new)
    content = mf.content_hash(new)
    if previous is not None and previous.content_hash == content:
        raise RecipeValidationError(
            {"manifest": [f"Nothing changed: the content is version {previous.version}'s."]}
        )
    before = previous.effective if previous is not None else parent_effective
    major = previous is not None and mf.requirements_changed(previous.effective, new)
    return VersionCheck(
        recipe=recipe,
        version=mf.next_version(previous.version if previous else None, major=major),
        effective=new,
        layer=layer,
        content_hash=content,
        diff=mf.diff(before, new),
        parent_version=pinned,
        previous=previous,
    )


# --- writing -----------------------------------------------------------------------------


def _version_save(check: VersionCheck, *, change_note: str, actor: Any) -> RecipeVersion:
    return RecipeVersion.objects.create(
        recipe=check.recipe,
        version=check.version,
        manifest=check.layer,
        effective=check.effective,
        content_hash=check.content_hash,
        parent_version=check.parent_version,
        previous=check.previous,
        diff=check.diff,
        change_note=(change_note or "").strip()[:4000],
        created_by=_person(actor),
        author=principal(actor),
    )


@transaction.atomic
def recipe_version_create(
    *,
    recipe: Recipe,
    manifest: Any = None,
    patch: Any = None,
    change_note: str = "",
    actor: Any,
    base_version: str = "",
    parent_version: RecipeVersion | None = None,
) -> RecipeVersion:
    """A new draft version (see recipe_version_check); `actor` None only for trusted callers."""
    if actor is not None:
        require(actor, ADD_VERSION, RecipeVersion(recipe=recipe))
    # One version number at a time per recipe.
    recipe = Recipe.objects.select_for_update().get(pk=recipe.pk)
    check = recipe_version_check(
        recipe=recipe,
        manifest=manifest,
        patch=patch,
        base_version=base_version,
        parent_version=parent_version,
    )
    version = _version_save(check, change_note=change_note, actor=actor)
    Recipe.objects.filter(pk=recipe.pk).update(updated_at=timezone.now())
    return version


def _name_errors(name: str) -> Errors:
    slug = slugify(name)[:200]
    if not name:
        return {"name": ["A recipe needs a name."]}
    if not slug:
        return {"name": ["The name needs at least one letter or digit."]}
    if (
        Recipe.objects.filter(name__iexact=name).exists()
        or Recipe.objects.filter(slug=slug).exists()
    ):
        return {"name": [f"A recipe named '{name}' already exists."]}
    return {}


def _level_errors(level: str, parent: Recipe | None) -> Errors:
    if level not in Level.values:
        return {"level": [f"Level must be one of: {', '.join(Level.values)}."]}
    if parent is None and level != Level.BASELINE:
        return {
            "level": [f"A{'n' if level == Level.INDUSTRY else ''} {level} recipe needs a parent."]
        }
    if parent is not None and LEVEL_DEPTH[level] <= LEVEL_DEPTH[parent.level]:
        return {
            "level": [f"A child of a {parent.level} recipe is below it: {_below(parent.level)}."]
        }
    return {}


def _below(level: str) -> str:
    deeper = [lv for lv in Level.values if LEVEL_DEPTH[lv] > LEVEL_DEPTH[level]]
    return " or ".join(deeper) if deeper else "none (a client recipe has no children)"


def _recipe_new(
    *,
    name: str,
    family: str,
    level: str,
    parent: Recipe | None,
    team: Team,
    tags,
    description,
    actor,
) -> Recipe:
    name = (name or "").strip()
    errors = _name_errors(name) | _level_errors(level, parent)
    if family not in Family.values:
        errors["family"] = [f"Family must be one of: {', '.join(Family.values)}."]
    elif parent is not None and family != parent.family:
        errors["family"] = [f"A child of {parent.name} is a {parent.family} recipe too."]
    if errors:
        raise RecipeValidationError(errors)
    recipe = Recipe(
        name=name,
        slug=slugify(name)[:200],
        family=family,
        level=level,
        parent=parent,
        team=team,
        tags=sorted({str(t).strip().lower()[:50] for t in tags if str(t).strip()}),
        description=(description or "").strip(),
        created_by=_person(actor),
    )
    if actor is not None:
        require(actor, ADD_RECIPE, recipe)
    recipe.save()
    return recipe


@transaction.atomic
def recipe_create(
    *,
    name: str,
    family: str,
    manifest: dict,
    actor: Any,
    level: str = Level.BASELINE,
    parent: Recipe | None = None,
    team: Team | None = None,
    tags: Iterable[str] = (),
    description: str = "",
    change_note: str = "First version.",
) -> Recipe:
    """A recipe and its first (draft) version from a whole effective manifest."""
    recipe = _recipe_new(
        name=name,
        family=family,
        level=level,
        parent=parent,
        team=team or (parent.team if parent else Team.objects.get(pk=default_team_id())),
        tags=tags,
        description=description,
        actor=actor,
    )
    recipe_version_create(recipe=recipe, manifest=manifest, change_note=change_note, actor=actor)
    return recipe


@transaction.atomic
def recipe_clone(
    *, recipe: Recipe, name: str, level: str, actor: Any, team: Team | None = None
) -> Recipe:
    """A child of `recipe` that inherits everything; its first version only renames it."""
    parent_version = recipe_parent_version_default_for_child(recipe)
    child = _recipe_new(
        name=name,
        family=recipe.family,
        level=level,
        parent=recipe,
        team=team or recipe.team,
        tags=recipe.tags,
        description=f"Inherits from {recipe.name}.",
        actor=actor,
    )
    effective = mf.merge(parent_version.effective, {"metadata": {"title": child.name}})
    recipe_version_create(
        recipe=child,
        manifest=effective,
        change_note=f"Cloned from {recipe.name} {parent_version.version}.",
        actor=actor,
        parent_version=parent_version,
    )
    return child


def recipe_parent_version_default_for_child(recipe: Recipe) -> RecipeVersion:
    version = recipe_version_latest_approved(recipe) or recipe_version_latest(recipe)
    if version is None:
        raise RecipeValidationError({"recipe": [f"{recipe.name} has no version to inherit from."]})
    return version


@transaction.atomic
def recipe_version_approve(*, version: RecipeVersion, actor: Any) -> RecipeVersion:
    """draft -> approved, by an Approver who did not write it (four-eyes)."""
    require(actor, APPROVE_VERSION, version)
    locked = RecipeVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status != RecipeStatus.DRAFT:
        raise Conflict(
            {
                "status": [
                    f"{version} is {locked.get_status_display().lower()}: only a draft can be approved."
                ]
            }
        )
    if locked.author and locked.author == principal(actor):
        raise Forbidden(
            "Four-eyes: you wrote this version, so another Approver must approve it.",
            {"approved_by": ["The author of a version cannot approve it."]},
        )
    parent = locked.parent_version
    if parent is not None and parent.status == RecipeStatus.DRAFT:
        raise Conflict(
            {"parent_version": [f"It inherits from {parent}, a draft: approve that one first."]}
        )
    locked.status = RecipeStatus.APPROVED
    locked.approved_by = _person(actor)
    locked.approved_at = timezone.now()
    locked.save(update_fields=["status", "approved_by", "approved_at"])
    return locked


@transaction.atomic
def recipe_version_archive(*, version: RecipeVersion, actor: Any) -> RecipeVersion:
    """draft or approved -> archived: it can no longer run; what it trained stays."""
    require(actor, CHANGE_VERSION, version)
    locked = RecipeVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status == RecipeStatus.ARCHIVED:
        raise Conflict({"status": [f"{version} is archived already."]})
    locked.status = RecipeStatus.ARCHIVED
    locked.archived_by = _person(actor)
    locked.archived_at = timezone.now()
    locked.save(update_fields=["status", "archived_by", "archived_at"])
    return locked


def recipe_model_link(*, recipe: Recipe, model: RegisteredModel) -> None:
    """The registered model the recipe's train runs register into (set by the first one)."""
    Recipe.objects.filter(pk=recipe.pk, model=None).update(model=model)
    recipe.model = model
